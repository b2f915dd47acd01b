"""Telemetry through a real Kafka into a real daemon: the shadow reaches the producer's view,
through SIGKILL, a broker restart and a producer that drops, duplicates and reorders."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from shadowd.control.replies import StatusReply
from shadowd.core.wire import ResyncRequest, decode_message
from tests.brokers import (
    Kafka,
)
from tests.integration.harness import Daemon, poll
from tests.integration.test_ingest_producer import (
    SOURCE,
    Misbehaviour,
    TestProducer,
    assert_applied_once,
    daemon_config,
    logged_seqs,
    run_with_answers,
    trace_events,
    wait_feed_connected,
    wait_in_sync,
)

pytestmark = pytest.mark.integration


def digest_seen(d: Daemon) -> Callable[[], StatusReply | None]:
    """The daemon's status once the source's digests have been looked at."""
    def probe() -> StatusReply | None:
        status = d.status()
        src = status.sources[SOURCE]
        return status if src.digests_ok + src.digest_mismatches + src.digests_passed else None
    return probe

SOURCE_TOML = """
[[sources]]
kind = "kafka"
name = "kafka"
bootstrap = "{bootstrap}"
group_id = "{group}"
topics = ["{telemetry}"]
control_topic = "{control}"
deadletter_topic = "{dead}"
resync_retry_s = 2.0
reconnect_initial_s = 0.1
reconnect_max_s = 2.0
"""


class Topics:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.telemetry = f"shadowd.telemetry.{tag}"
        self.control = f"shadowd.control.{tag}"
        self.dead = f"shadowd.deadletter.{tag}"
        self.group = f"shadowd-{tag}"

    async def create(self, kafka: Kafka) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, 1, 1) for t in
                                       (self.telemetry, self.control, self.dead)])
        finally:
            await admin.close()

    def config(self, directory: Path, kafka: Kafka, **kw: int) -> Path:
        return daemon_config(directory, SOURCE_TOML.format(
            bootstrap=kafka.bootstrap, group=self.group, telemetry=self.telemetry,
            control=self.control, dead=self.dead), **kw)


class KafkaTransport:
    """Publishes keyed by the source; retries a whole chunk until the broker took it."""

    def __init__(self, kafka: Kafka, topics: Topics) -> None:
        self._kafka, self._topics = kafka, topics
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                                          linger_ms=5, max_request_size=4 << 20)

    async def __aenter__(self) -> KafkaTransport:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, payloads: list[bytes]) -> None:
        while True:
            try:
                futures = [await self._producer.send(self._topics.telemetry, p,
                                                     key=SOURCE.encode()) for p in payloads]
                await asyncio.gather(*futures)
                return
            except KafkaError:
                await asyncio.sleep(0.2)  # the broker is restarting: retry (dupes are fine)

    async def requests(self) -> AsyncIterator[ResyncRequest]:
        consumer = AIOKafkaConsumer(self._topics.control, bootstrap_servers=self._kafka.bootstrap,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            async for record in consumer:
                message = decode_message(record.value)
                assert isinstance(message, ResyncRequest)
                yield message
        finally:
            await consumer.stop()


async def start(daemons: Callable[..., Daemon], config: Path) -> Daemon:
    d = daemons(config)
    d.start()
    await asyncio.to_thread(d.wait_ready)
    await wait_feed_connected(d, "kafka")
    return d


async def test_100k_deltas_reach_the_producers_view(
        kafka: Kafka, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    topics = Topics()
    await topics.create(kafka)
    d = await start(daemons, topics.config(tmp_path, kafka))
    events = list(trace_events(100_000))
    async with KafkaTransport(kafka, topics) as transport:
        producer = TestProducer(transport)
        t0 = time.monotonic()

        async def body() -> None:
            await producer.publish(events)
            await producer.finish()
            await wait_in_sync(d, producer)

        await run_with_answers(producer, body)
        elapsed = time.monotonic() - t0
    # the producer's last digest may be handled after the deltas that put us in sync
    status = await asyncio.to_thread(poll, "the producer's digest to be checked", digest_seen(d))
    src = status.sources[SOURCE]
    print(f"kafka end to end: {len(events) / elapsed:,.0f} deltas/s ({elapsed:.1f} s)")
    assert (src.accepted, src.duplicates, src.gaps, src.resyncs) == (100_000, 0, 0, 0)
    assert src.digests_ok == 1
    assert status.feeds["kafka"].offsets  # handled offsets, for snapshots
    d.stop()
    seqs = logged_seqs(d.state_dir)
    assert seqs == list(range(1, 100_001))


async def test_sigkill_mid_stream_resumes_without_loss_or_double_apply(
        kafka: Kafka, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    topics = Topics()
    await topics.create(kafka)
    d = await start(daemons, topics.config(tmp_path, kafka, snapshot_every=15_000))
    events = list(trace_events(80_000))
    async with KafkaTransport(kafka, topics) as transport:
        producer = TestProducer(transport)

        async def body() -> None:
            await producer.publish(events[:50_000])
            await asyncio.to_thread(d.wait_seq, 30_000)
            d.kill()  # mid-stream: part of what was published is not consumed yet
            await producer.publish(events[50_000:])
            d.start()
            await asyncio.to_thread(d.wait_ready)
            await producer.finish()
            await wait_in_sync(d, producer)

        await run_with_answers(producer, body)
    d.stop()
    assert_applied_once(logged_seqs(d.state_dir), producer.snapshot_seqs)
    assert producer.resyncs == 0  # resumed from its offsets: nothing to ask for
    resumed = [r for r in d.log_records() if r.get("event") == "partition assigned"]
    assert resumed[-1]["offset"] > 0  # from the snapshot's or the committed offsets


async def test_broker_restart_mid_stream_loses_nothing(
        kafka: Kafka, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    topics = Topics()
    await topics.create(kafka)
    d = await start(daemons, topics.config(tmp_path, kafka))
    events = list(trace_events(60_000))
    async with KafkaTransport(kafka, topics) as transport:
        producer = TestProducer(transport)

        async def body() -> None:
            await producer.publish(events[:20_000])
            await asyncio.to_thread(d.wait_seq, 10_000)
            restart = asyncio.create_task(kafka.arestart())
            await producer.publish(events[20_000:])
            await restart
            await producer.finish()
            await wait_in_sync(d, producer)

        await run_with_answers(producer, body)
    d.stop()
    assert_applied_once(logged_seqs(d.state_dir), producer.snapshot_seqs)


async def test_dropped_duplicated_and_reordered_batches_converge(
        kafka: Kafka, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    topics = Topics()
    await topics.create(kafka)
    d = await start(daemons, topics.config(tmp_path, kafka))
    events = list(trace_events(30_000))
    misbehave = Misbehaviour(drop_every=97, duplicate_every=13, swap_every=7)
    async with KafkaTransport(kafka, topics) as transport:
        producer = TestProducer(transport, batch_events=100, misbehave=misbehave)

        async def body() -> None:
            await producer.publish(events)
            await producer.finish()
            await wait_in_sync(d, producer)

        await run_with_answers(producer, body)
    src = (await asyncio.to_thread(d.status)).sources[SOURCE]
    assert producer.resyncs >= 1
    assert src.snapshots >= 1
    assert src.duplicates > 0
    assert src.held > 0  # reordered batches waited for the ones before them
    d.stop()
    assert_applied_once(logged_seqs(d.state_dir), producer.snapshot_seqs)
