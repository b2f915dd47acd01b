"""The Kafka feed: a consumer group on the telemetry topics, exactly-once into the log.

Records are handled one by one, synchronously (``Differential.handle``), so the state holds
exactly the records up to each partition's *handled* offset, which is what a daemon
snapshot records (``offsets()``). Offsets are committed (manually; auto-commit is off) only
after the log has made durable everything those records carried, by a coalescing commit
task, so a crash never commits what the log lost; what the log has but the broker was not
told is consumed again and dropped as duplicates by seq.

On assignment each partition seeks to the furthest of: its committed offset, the offset
the newest daemon snapshot recorded, and what this process already handled. While the
log is behind (``Ingest.congested``) the assigned partitions are paused, never dropped.
Resync requests go to the control topic, dead letters to the dead-letter topic, both
keyed by the source. Connection failures restart the client with jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from shadowd import logs
from shadowd.config import KafkaSourceConfig
from shadowd.core.wire import encode_message
from shadowd.ingest.credentials import kafka_options
from shadowd.ingest.differential import Differential, Outcome
from shadowd.ingest.source import Backoff, Connection, FeedStats

log = logs.get_logger()

POLL_TIMEOUT_MS = 200


def offset_key(tp: TopicPartition) -> str:
    return f"{tp.topic}:{tp.partition}"


class KafkaFeed:
    def __init__(self, config: KafkaSourceConfig, sink: Differential,
                 start_offsets: dict[str, int] | None = None) -> None:
        self.name = config.name
        self.config = config
        self.stats = FeedStats(kind="kafka")
        self.ready = asyncio.Event()
        self._sink = sink
        self._start = dict(start_offsets or {})
        self._handled: dict[TopicPartition, int] = {}  # next offset after what the state has
        self._connection = Connection(config.name, self.stats)
        self._pending: tuple[int, dict[TopicPartition, int]] | None = None
        self._commit_wanted = asyncio.Event()
        self._options = kafka_options(config)  # read now: a missing file fails the start

    def offsets(self) -> dict[str, int]:
        return {offset_key(tp): offset for tp, offset in self._handled.items()}

    async def run(self) -> None:
        backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)
        while True:
            try:
                await self._session(backoff)
            except* (KafkaError, OSError) as group:
                self._connection.down(group.exceptions[0])
            await asyncio.sleep(backoff.next())

    # --- one connected session -----------------------------------------------------------

    async def _session(self, backoff: Backoff) -> None:
        c = self.config
        consumer = AIOKafkaConsumer(
            bootstrap_servers=c.bootstrap, group_id=c.group_id, client_id=f"shadowd-{c.name}",
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=c.max_poll_records, **self._options)
        producer = AIOKafkaProducer(bootstrap_servers=c.bootstrap, acks="all",
                                    client_id=f"shadowd-{c.name}", **self._options)
        try:
            await producer.start()
            consumer.subscribe(topics=list(c.topics), listener=_Seeker(self, consumer))
            await consumer.start()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._committer(consumer), name=f"source.{c.name}.commit")
                await self._consume(consumer, producer, backoff)
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await consumer.stop()
            with contextlib.suppress(KafkaError, OSError):
                await producer.stop()

    async def _consume(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer,
                       backoff: Backoff) -> None:
        ingest = self._sink.ingest
        while True:
            batches: dict[TopicPartition, list[Any]] = await consumer.getmany(
                timeout_ms=POLL_TIMEOUT_MS)
            self._connected(backoff)
            lsn = None
            for tp, records in batches.items():
                for record in records:
                    outcome = self._handle(tp, record)
                    lsn = outcome.lsn
                    await self._reply(producer, outcome)
            if lsn is not None:
                self._pending = (lsn, dict(self._handled))
                self._commit_wanted.set()
            if ingest.congested():
                await self._pause(consumer)

    def _connected(self, backoff: Backoff) -> None:
        if not self.stats.connected:
            self._connection.up()
            backoff.reset()
        self.ready.set()

    def _handle(self, tp: TopicPartition, record: Any) -> Outcome:
        self.stats.messages += 1
        key = record.key.decode("utf-8", "replace") if record.key else ""
        outcome = self._sink.handle(record.value, feed=self.name, source=key,
                                    origin=f"{tp.topic}:{tp.partition}@{record.offset}",
                                    allowed=self.config.sources)
        self._handled[tp] = record.offset + 1
        return outcome

    async def _reply(self, producer: AIOKafkaProducer, outcome: Outcome) -> None:
        for request in outcome.resyncs:
            await producer.send_and_wait(self.config.control_topic,
                                         encode_message(request, outcome.fmt),
                                         key=request.source.encode())
            self.stats.resync_requests += 1
        for letter in outcome.dead:
            self.stats.dead_letters += 1
            if self.config.deadletter_topic:
                await producer.send_and_wait(self.config.deadletter_topic, letter.encode(),
                                             key=letter.source.encode() or None)

    async def _pause(self, consumer: AIOKafkaConsumer) -> None:
        partitions = list(consumer.assignment())
        consumer.pause(*partitions)
        self.stats.paused += 1
        try:
            await self._sink.ingest.backpressure()
        finally:
            consumer.resume(*partitions)

    async def _committer(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the newest handled offsets once the log holds what they carried."""
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            if self._pending is None:
                continue
            lsn, offsets = self._pending
            await self._sink.ingest.durable(lsn)
            await consumer.commit(offsets)

    async def seek_assigned(self, consumer: AIOKafkaConsumer,
                            assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            committed = await consumer.committed(tp)
            candidates = [committed or 0, self._start.get(offset_key(tp), 0),
                          self._handled.get(tp, 0)]
            target = max(candidates)
            if target > (committed or 0):
                consumer.seek(tp, target)
            log.info("partition assigned", feed=self.name, partition=offset_key(tp),
                     committed=committed, offset=target)


class _Seeker(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, feed: KafkaFeed, consumer: AIOKafkaConsumer) -> None:
        self._feed = feed
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("partitions revoked", feed=self._feed.name,
                 partitions=[offset_key(tp) for tp in revoked])

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._feed.seek_assigned(self._consumer, list(assigned))
