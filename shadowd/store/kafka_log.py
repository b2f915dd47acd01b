"""The event log in a Kafka topic, for deployments that outgrow one machine.

One partition (its order is the log's order) and one writer. Each Kafka record's value
is exactly a segment record: ``[length][crc][Record(first_lsn, events)]`` from
``frames.record_frame``, so the bytes are checked the same way wherever they live.
An event is durable once the broker acknowledged its record (``acks=all``, idempotent
producer). Any number of readers (other shadowd instances, ``shadowd log replay
--kafka-bootstrap``) fold the topic and reach the same state, digest for digest.

``KafkaCommitter`` has the interface the ingest pipeline needs (``enqueue``,
``wait_durable``, ``durable_lsn``, ``run``), so the daemon can swap it for the local
group committer. A writer must start from the topic's end: ``read_kafka_log`` first.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Sequence
from typing import Final

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shadowd.core.errors import LogCorrupt
from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.store.frames import Damage, Record, read_frame, record_frame
from shadowd.store.recovery import Follower, fold_following

MAX_RECORD_BYTES: Final = 900_000  # under the broker's default message.max.bytes (1 MiB)
_RECORD: Final = msgspec.msgpack.Decoder(Record)
_KEY: Final = b"log"


def records(first_lsn: int, events: Sequence[AnyEvent], max_bytes: int) -> list[bytes]:
    """Frame ``events`` as records of at most ``max_bytes``, halving until they fit."""
    frame = bytes(record_frame(first_lsn, list(events)))
    if len(frame) <= max_bytes or len(events) == 1:
        return [frame]
    half = len(events) // 2
    return [*records(first_lsn, events[:half], max_bytes),
            *records(first_lsn + half, events[half:], max_bytes)]


class KafkaCommitter:
    def __init__(
        self, bootstrap: str, topic: str, *, last_lsn: int, window_s: float = 0.002,
        max_batch_events: int = 20_000, max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self._window = window_s
        self._max_batch = max_batch_events
        self._max_record = max_record_bytes
        self._queue: list[AnyEvent] = []
        self._arrived = asyncio.Event()
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap on lsn
        self._next_lsn = last_lsn + 1  # of the first queued event
        self._in_flight: asyncio.Future[None] | None = None  # the chunk being sent, if any
        self.durable_lsn = last_lsn
        self.records = 0

    def enqueue(self, events: Sequence[AnyEvent]) -> None:
        self._queue.extend(events)
        self._arrived.set()

    async def wait_durable(self, lsn: int) -> None:
        if lsn <= self.durable_lsn:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (lsn, id(waiter), waiter))
        await waiter

    async def run(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, enable_idempotence=True, acks="all",
            max_request_size=self._max_record + 4096, linger_ms=0,
        )
        await producer.start()
        try:
            await self._loop(producer)
        finally:  # on cancellation: let the chunk in flight land, then send the rest
            with contextlib.suppress(Exception):
                if self._in_flight is not None:
                    await self._in_flight
                await self._flush(producer)
            await producer.stop()

    async def _loop(self, producer: AIOKafkaProducer) -> None:
        while True:
            await self._arrived.wait()
            if len(self._queue) < self._max_batch:
                await asyncio.sleep(self._window)  # let concurrent appends join the batch
            await self._flush(producer)

    async def _flush(self, producer: AIOKafkaProducer) -> None:
        """Send the queue in chunks, one at a time. A chunk is numbered when it leaves the
        queue and sent under a shield, so a cancellation can never split or renumber it."""
        while self._queue:
            events, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            first, self._next_lsn = self._next_lsn, self._next_lsn + len(events)
            self._in_flight = asyncio.ensure_future(self._send(producer, first, events))
            await asyncio.shield(self._in_flight)
            self._in_flight = None
        self._arrived.clear()

    async def _send(self, producer: AIOKafkaProducer, first: int,
                    events: list[AnyEvent]) -> None:
        sent = [await producer.send(self._topic, frame, key=_KEY, partition=0)
                for frame in records(first, events, self._max_record)]
        await asyncio.gather(*sent)
        self.records += len(sent)
        self._durable(first + len(events) - 1)

    def _durable(self, lsn: int) -> None:
        self.durable_lsn = lsn
        while self._waiters and self._waiters[0][0] <= lsn:
            waiter = heapq.heappop(self._waiters)[2]
            if not waiter.done():
                waiter.set_result(None)


async def read_kafka_log(
    bootstrap: str, topic: str, *, from_lsn: int = 1, until: int | None = None,
) -> AsyncIterator[list[AnyEvent]]:
    """Yield the logged events with ``from_lsn <= lsn <= until``, in batches, in order.

    Stops at the topic's end as it was when reading began. A record that repeats lsns
    already read (a producer retry) is skipped; one that skips ahead is ``LogCorrupt``.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        expected = 1
        while await consumer.position(partition) < end:
            for message in (await consumer.getmany(partition, timeout_ms=1000)).get(partition, []):
                record = _decode(topic, message.offset, message.value or b"")
                events = record.events[max(0, expected - record.first_lsn):]
                if record.first_lsn > expected:
                    raise LogCorrupt(f"kafka topic {topic} offset {message.offset}: lsn "
                                     f"{record.first_lsn} follows {expected - 1}",
                                     segment=topic, offset=message.offset)
                first = expected
                expected += len(events)
                chosen = _window(events, first, from_lsn, until)
                if chosen:
                    yield chosen
                if until is not None and expected > until:
                    return
    finally:
        await consumer.stop()


def _decode(topic: str, offset: int, value: bytes) -> Record:
    found = read_frame(memoryview(value), 0)
    if isinstance(found, Damage) or found.end != len(value):
        reason = found.reason if isinstance(found, Damage) else "trailing bytes"
        raise LogCorrupt(f"kafka topic {topic} offset {offset}: {reason}", segment=topic,
                         offset=offset)
    return _RECORD.decode(found.payload)


def _window(events: list[AnyEvent], first: int, lo: int, hi: int | None) -> list[AnyEvent]:
    start = max(0, lo - first)
    stop = len(events) if hi is None else max(0, min(len(events), hi - first + 1))
    return events[start:stop]


async def recover_from_kafka(bootstrap: str, topic: str, until: int | None = None, *,
                             follower: Follower | None = None) -> State:
    """The state folded from the whole topic (up to ``until``), ``follower`` told it all."""
    state = State()
    if follower is not None:
        follower.start(state)
    async for events in read_kafka_log(bootstrap, topic, until=until):
        fold_following(events, state, follower)
    return state
