"""The agent against real brokers: a plain client decodes and folds every message it
publishes and ends with the agent's view digest; a resync request gets a snapshot."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shadowd.agent.core import AgentCore, AgentSettings
from shadowd.agent.kafka import KafkaTransport
from shadowd.agent.mqtt import MqttTransport
from shadowd.agent.run import Agent
from shadowd.agent.transport import Transport
from shadowd.agent.view import view_digest
from shadowd.cli.agent import trace_reader
from shadowd.core.wire import ResyncRequest, Snapshot, encode_message
from tests.brokers import (
    HANG_GUARD_S,
    Kafka,
    Mosquitto,
)
from tests.fakes.agent import StreamFolder

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_agent(source: str, transport: Transport, interval_s: float) -> Agent:
    core = AgentCore(AgentSettings(source=source, digest_every_events=300))
    return Agent(core, trace_reader("builtin:geant", days=1, seed=5), transport,
                 poll_interval_s=interval_s)


async def fold_until(messages: AsyncIterator[bytes], folder: StreamFolder,
                     done: Callable[[StreamFolder, Any], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        async for payload in messages:
            if done(folder, folder.feed_bytes(payload)):
                return


async def kafka_values(consumer: AIOKafkaConsumer, key: bytes) -> AsyncIterator[bytes]:
    async for record in consumer:
        if record.key == key:
            yield record.value


async def test_kafka_consumer_folds_the_agents_stream_to_its_digest(kafka: Kafka) -> None:
    source, topic = unique("pop"), unique("telemetry")
    transport = KafkaTransport(kafka.bootstrap, source, telemetry_topic=topic,
                               control_topic=unique("control"))
    agent = make_agent(source, transport, interval_s=0.0)
    async with asyncio.timeout(HANG_GUARD_S):
        await agent.run(polls=6)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap,
                                auto_offset_reset="earliest")
    await consumer.start()
    folder = StreamFolder()
    try:
        await fold_until(kafka_values(consumer, source.encode()), folder,
                         lambda f, _: f.position == agent.core.position)
    finally:
        await consumer.stop()
    assert folder.gaps == []
    assert folder.digest_mismatches == []
    assert folder.digests_checked >= 2
    assert view_digest(folder.state) == agent.core.view_digest()


async def test_kafka_resync_request_gets_a_snapshot_then_deltas_after_it(kafka: Kafka) -> None:
    source, topic, control = unique("pop"), unique("telemetry"), unique("control")
    agent = make_agent(source, KafkaTransport(kafka.bootstrap, source, telemetry_topic=topic,
                                              control_topic=control), interval_s=0.05)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap,
                                auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await consumer.start()
    await producer.start()
    task = asyncio.create_task(agent.run())
    folder = StreamFolder()
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            await agent.until(lambda stats: stats.messages >= 3)
        request = ResyncRequest(source=source, from_seq=2, reason="gap")
        await producer.send_and_wait(control, encode_message(request), key=source.encode())
        values = kafka_values(consumer, source.encode())
        await fold_until(values, folder, lambda f, _: len(f.snapshots) == 2)
        resync_seq = folder.snapshots[1]
        await fold_until(values, folder, lambda f, _: f.position > resync_seq + 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await producer.stop()
        await consumer.stop()
    assert folder.gaps == []
    assert folder.digest_mismatches == []


async def mqtt_payloads(client: aiomqtt.Client) -> AsyncIterator[bytes]:
    async for message in client.messages:
        assert isinstance(message.payload, bytes)
        yield message.payload


async def test_mqtt_subscriber_folds_the_stream_and_gets_a_snapshot_on_resync(
        mosquitto: Mosquitto) -> None:
    source, prefix = unique("pop"), unique("t")
    transport = MqttTransport(mosquitto.host, mosquitto.port, source,
                              telemetry_prefix=f"{prefix}/telemetry",
                              control_prefix=f"{prefix}/control")
    agent = make_agent(source, transport, interval_s=0.05)
    folder = StreamFolder()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10.0) as client:
        await client.subscribe(f"{prefix}/telemetry/{source}", qos=1)
        task = asyncio.create_task(agent.run())
        try:
            values = mqtt_payloads(client)
            await fold_until(values, folder, lambda f, m: isinstance(m, Snapshot))
            await fold_until(values, folder, lambda f, _: f.digests_checked >= 1)
            request = ResyncRequest(source=source, from_seq=1, reason="digest_mismatch")
            await client.publish(f"{prefix}/control/{source}", encode_message(request), qos=1)
            await fold_until(values, folder, lambda f, _: len(f.snapshots) == 2)
            await fold_until(values, folder, lambda f, _: f.position > f.snapshots[1] + 1)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert folder.gaps == []
    assert folder.digest_mismatches == []
