"""The test brokers are real: messages go through them, and survive their restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator

import aiomqtt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.brokers import (
    HANG_GUARD_S,
    Kafka,
    Mosquitto,
)

pytestmark = pytest.mark.integration


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --- MQTT ----------------------------------------------------------------------------


def mqtt_client(broker: Mosquitto, identifier: str | None = None,
                *, persistent: bool = False) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, identifier=identifier,
                          clean_session=not persistent, timeout=10.0)


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(HANG_GUARD_S):
        return await anext(aiter(client.messages))


async def publish(broker: Mosquitto, topic: str, payload: bytes, *, retain: bool = False) -> None:
    async with mqtt_client(broker) as client:
        await client.publish(topic, payload, qos=1, retain=retain)


async def test_mqtt_round_trip_at_qos1(mosquitto: Mosquitto) -> None:
    topic = unique("telemetry/rt")
    async with mqtt_client(mosquitto) as subscriber:
        await subscriber.subscribe(topic, qos=1)
        await publish(mosquitto, topic, b"\x81\xa4type\xa5delta")
        message = await next_message(subscriber)
    assert (message.topic.value, message.payload, message.qos) == (
        topic, b"\x81\xa4type\xa5delta", 1)


async def test_mqtt_queued_and_retained_messages_survive_a_restart(mosquitto: Mosquitto) -> None:
    queued_topic, retained_topic, client_id = unique("q"), unique("r"), unique("shadowd")
    async with mqtt_client(mosquitto, client_id, persistent=True) as client:
        await client.subscribe(queued_topic, qos=1)
    await publish(mosquitto, queued_topic, b"queued while away")
    await publish(mosquitto, retained_topic, b"last known state", retain=True)

    await mosquitto.arestart()

    async with mqtt_client(mosquitto, client_id, persistent=True) as client:
        # No new subscription: the session, and what was queued for it, came back.
        queued = await next_message(client)
        await client.subscribe(retained_topic, qos=1)
        retained = await next_message(client)
    assert (queued.topic.value, queued.payload) == (queued_topic, b"queued while away")
    assert (retained.payload, retained.retain) == (b"last known state", True)


# --- Kafka ---------------------------------------------------------------------------


async def create_topic(broker: Kafka) -> str:
    topic = unique("shadowd-test")
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return topic


async def produce(broker: Kafka, topic: str, key: bytes, value: bytes) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    return int(sent.offset)


async def consume_from_start(
    broker: Kafka, topic: str
) -> AsyncGenerator[tuple[bytes, bytes], None]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        while True:
            async with asyncio.timeout(HANG_GUARD_S):
                record = await consumer.getone()
            yield record.key or b"", record.value or b""
    finally:
        await consumer.stop()


async def first_record(broker: Kafka, topic: str) -> tuple[bytes, bytes]:
    records = consume_from_start(broker, topic)
    try:
        return await anext(records)
    finally:
        await records.aclose()


async def test_kafka_round_trip(kafka: Kafka) -> None:
    topic = await create_topic(kafka)
    offset = await produce(kafka, topic, b"geant", b"\x81\xa4type\xa5delta")
    assert offset == 0
    assert await first_record(kafka, topic) == (b"geant", b"\x81\xa4type\xa5delta")


async def test_kafka_keeps_a_produced_message_across_a_restart(kafka: Kafka) -> None:
    topic = await create_topic(kafka)
    await produce(kafka, topic, b"geant", b"before the restart")

    await kafka.arestart()

    assert await first_record(kafka, topic) == (b"geant", b"before the restart")
