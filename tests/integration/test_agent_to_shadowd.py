"""End to end: shadowd agent -> real broker -> shadowd, over 100k deltas; the shadow's
view digest ends equal to the agent's, with nothing lost, duplicated or resynced."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowd.agent.core import AgentCore, AgentSettings
from shadowd.agent.kafka import KafkaTransport
from shadowd.agent.mqtt import MqttTransport
from shadowd.agent.run import Agent
from shadowd.agent.transport import Transport
from shadowd.cli.agent import trace_reader
from shadowd.control.client import call_sync
from shadowd.control.errors import DaemonUnavailable
from shadowd.control.protocol import StatusRequest
from tests.brokers import (
    HANG_GUARD_S,
    Kafka,
    Mosquitto,
)
from tests.integration import test_ingest_kafka, test_ingest_mqtt
from tests.integration.harness import Daemon, poll

pytestmark = pytest.mark.integration

POLLS = 205  # ~500 deltas per 5-minute interval of the GEANT trace: > 100k deltas


def _agent(source: str, transport: Transport) -> Agent:
    core = AgentCore(AgentSettings(source=source, digest_every_events=5_000))
    return Agent(core, trace_reader("builtin:geant", days=1, seed=5), transport,
                 poll_interval_s=0.0)


async def _in_sync(d: Daemon, agent: Agent, source: str) -> None:
    def probe() -> bool | None:
        try:
            status = call_sync(StatusRequest(), path=d.socket)
        except DaemonUnavailable:
            return None
        src = status.sources.get(source)
        at = src is not None and src.seq == agent.core.position
        return True if at and status.view_digest == agent.core.view_digest() else None

    await asyncio.to_thread(poll, f"the shadow to reach agent {source}'s view", probe)


async def _run(d: Daemon, agent: Agent, source: str) -> None:
    async with asyncio.timeout(HANG_GUARD_S * 3):
        await agent.run(polls=POLLS)
        await _in_sync(d, agent, source)
    assert agent.core.position > 100_000
    src = (await asyncio.to_thread(d.status)).sources[source]
    assert (src.duplicates, src.gaps, src.rejected) == (0, 0, 0)
    assert src.digests_ok >= 1
    assert src.digest_mismatches == 0


async def test_agent_to_kafka_to_shadowd(
    kafka: Kafka, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    topics = test_ingest_kafka.Topics()
    await topics.create(kafka)
    d = await test_ingest_kafka.start(daemons, topics.config(tmp_path, kafka))
    source = f"pop-{uuid.uuid4().hex[:6]}"
    transport = KafkaTransport(kafka.bootstrap, source, telemetry_topic=topics.telemetry,
                               control_topic=topics.control)
    await _run(d, _agent(source, transport), source)
    assert d.stop() == 0


async def test_agent_to_mqtt_to_shadowd(
    mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    d = await test_ingest_mqtt.start(daemons(test_ingest_mqtt.config(tmp_path, mosquitto,
                                                                      prefix)))
    source = f"pop-{uuid.uuid4().hex[:6]}"
    transport = MqttTransport(mosquitto.host, mosquitto.port, source,
                              telemetry_prefix=f"{prefix}/telemetry",
                              control_prefix=f"{prefix}/control")
    await _run(d, _agent(source, transport), source)
    assert d.stop() == 0
