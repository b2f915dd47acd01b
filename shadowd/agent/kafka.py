"""The Kafka transport: aiokafka producer (acks=all, idempotent) and a control consumer.

Telemetry goes to ``telemetry_topic`` keyed by the source name (one partition per
source, so order holds); control requests are read from ``control_topic`` from its end,
and only those keyed with this source are handed on (a request missed while the agent
was down does not matter: a starting agent sends a snapshot anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shadowd import logs
from shadowd.agent.backoff import Backoff
from shadowd.agent.transport import CONTROL_TOPIC, TELEMETRY_TOPIC, OnControl


class KafkaTransport:
    def __init__(self, bootstrap: str, source: str, *, telemetry_topic: str = TELEMETRY_TOPIC,
                 control_topic: str = CONTROL_TOPIC, max_request_bytes: int = 1024 * 1024,
                 backoff: Backoff | None = None) -> None:
        self.bootstrap = bootstrap
        self.source = source
        self.key = source.encode()
        self.telemetry_topic = telemetry_topic
        self.control_topic = control_topic
        self.max_request_bytes = max_request_bytes
        self.ready = asyncio.Event()
        self._producer: Any = None
        self._backoff = backoff or Backoff()
        self._log = logs.get_logger(component="agent.kafka", source=source)

    async def run(self, on_control: OnControl) -> None:
        while True:
            try:
                await self._connect_and_listen(on_control)
            except (KafkaError, OSError) as err:
                self.ready.clear()
                delay = self._backoff.next_delay()
                self._log.warning("kafka unavailable", error=repr(err), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)

    async def _connect_and_listen(self, on_control: OnControl) -> None:
        await self._ensure_topics()
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                    enable_idempotence=True,
                                    max_request_size=self.max_request_bytes)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="latest", enable_auto_commit=False)
        try:
            await producer.start()
            await consumer.start()
            await self._positioned(consumer)
            self._producer = producer
            self._backoff.reset()
            self.ready.set()
            self._log.info("kafka connected", bootstrap=self.bootstrap)
            async for record in consumer:
                if record.key == self.key and record.value:
                    on_control(record.value)
        finally:
            self.ready.clear()
            self._producer = None
            await consumer.stop()
            await producer.stop()

    async def _positioned(self, consumer: Any) -> None:
        """Take every control partition from its current end, fixed before ``ready``, so a
        request sent after ``ready`` is never skipped."""
        await consumer.topics()  # fresh metadata
        partitions = consumer.partitions_for_topic(self.control_topic) or {0}
        assigned = [TopicPartition(self.control_topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for partition in assigned:
            await consumer.position(partition)

    async def _ensure_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [t for t in (self.telemetry_topic, self.control_topic) if t not in existing]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([NewTopic(t, 1, 1) for t in wanted])
        finally:
            await admin.close()

    async def send(self, payload: bytes) -> None:
        while True:
            await self.ready.wait()
            try:
                await self._producer.send_and_wait(self.telemetry_topic, payload, key=self.key)
                return
            except KafkaError as err:
                delay = self._backoff.next_delay()
                self._log.warning("kafka send failed", error=repr(err),
                                  retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
