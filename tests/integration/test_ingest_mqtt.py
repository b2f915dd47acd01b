"""Telemetry through a real mosquitto into a real daemon, at QoS 1 on a persistent session:
the shadow reaches the producer's view, through a broker restart and a daemon SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import msgspec
import pytest

from shadowd.core.wire import DeltaBatch, ResyncRequest, decode_message, encode_message
from tests.alerts import assert_alert
from tests.brokers import (
    Mosquitto,
)
from tests.integration.harness import Daemon, poll, shadowctl_json
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

SOURCE_TOML = """
[[sources]]
kind = "mqtt"
name = "mqtt"
host = "{host}"
port = {port}
client_id = "{client_id}"
topics = ["{prefix}/telemetry/+"]
control_prefix = "{prefix}/control/"
resync_retry_s = 2.0
reconnect_initial_s = 0.1
reconnect_max_s = 1.0
"""


class MqttTransport:
    """Publishes at QoS 1; on a lost connection, connects again and re-sends the chunk."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self._broker, self._prefix = broker, prefix
        self._client: aiomqtt.Client | None = None

    async def __aenter__(self) -> MqttTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._drop()

    async def _drop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)
            self._client = None

    async def send(self, payloads: list[bytes]) -> None:
        topic = f"{self._prefix}/telemetry/{SOURCE}"
        while True:
            try:
                if self._client is None:
                    client = aiomqtt.Client(self._broker.host, self._broker.port, timeout=10.0)
                    await client.__aenter__()
                    self._client = client
                for payload in payloads:
                    await self._client.publish(topic, payload, qos=1)
                return
            except aiomqtt.MqttError:
                self._client = None  # the broker went away: connect again, re-send
                await asyncio.sleep(0.2)

    async def requests(self) -> AsyncIterator[ResyncRequest]:
        while True:
            try:
                async with aiomqtt.Client(self._broker.host, self._broker.port,
                                          timeout=10.0) as client:
                    await client.subscribe(f"{self._prefix}/control/#", qos=1)
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        request = decode_message(message.payload)
                        assert isinstance(request, ResyncRequest)
                        yield request
            except aiomqtt.MqttError:
                await asyncio.sleep(0.2)


def config(directory: Path, broker: Mosquitto, prefix: str) -> Path:
    return daemon_config(directory, SOURCE_TOML.format(
        host=broker.host, port=broker.port, client_id=f"shadowd-{prefix}", prefix=prefix))


async def start(d: Daemon) -> Daemon:
    d.start()
    await asyncio.to_thread(d.wait_ready)
    await wait_feed_connected(d, "mqtt")
    return d


async def test_a_json_producer_is_asked_to_resync_in_json(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    await start(daemons(config(tmp_path, mosquitto, prefix)))
    ahead = next(iter(trace_events(1)))
    batch = DeltaBatch(source=SOURCE,
                       events=[msgspec.structs.replace(ahead, source=SOURCE, seq=5)])
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10.0) as client:
        await client.subscribe(f"{prefix}/control/#", qos=1)
        await client.publish(f"{prefix}/telemetry/{SOURCE}", encode_message(batch, "json"),
                             qos=1)
        async with asyncio.timeout(60):  # a hang guard only
            message = await anext(aiter(client.messages))
    assert isinstance(message.payload, bytes)
    assert message.payload.startswith(b"{")  # JSON text, as the producer wrote
    request = decode_message(message.payload, fmt="json")
    assert isinstance(request, ResyncRequest)
    assert (request.from_seq, request.reason) == (1, "startup")


async def test_100k_deltas_reach_the_producers_view(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    d = await start(daemons(config(tmp_path, mosquitto, prefix)))
    events = list(trace_events(100_000))
    async with MqttTransport(mosquitto, prefix) as transport:
        producer = TestProducer(transport, batch_events=500)

        async def body() -> None:
            await producer.publish(events)
            await producer.finish()
            await wait_in_sync(d, producer)

        await run_with_answers(producer, body)
    src = (await asyncio.to_thread(d.status)).sources[SOURCE]
    assert (src.accepted, src.gaps, src.resyncs) == (100_000, 0, 0)
    d.stop()
    assert logged_seqs(d.state_dir) == list(range(1, 100_001))


async def test_broker_restart_and_daemon_sigkill_lose_nothing(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    d = await start(daemons(config(tmp_path, mosquitto, prefix)))
    events = list(trace_events(40_000))
    async with MqttTransport(mosquitto, prefix) as transport:
        producer = TestProducer(transport, batch_events=250,
                                misbehave=Misbehaviour(duplicate_every=11, swap_every=9))

        async def body() -> None:
            await producer.publish(events[:10_000])
            await asyncio.to_thread(d.wait_seq, 5_000)
            await mosquitto.arestart()
            await producer.publish(events[10_000:25_000])
            d.kill()  # queued for its persistent session meanwhile; unacked ones resent
            await producer.publish(events[25_000:])
            await start(d)
            await producer.finish()
            await wait_in_sync(d, producer)

        await run_with_answers(producer, body)
    status = await asyncio.to_thread(d.status)
    feed = status.feeds["mqtt"]
    assert feed.connected
    d.stop()
    assert_applied_once(logged_seqs(d.state_dir), producer.snapshot_seqs)
    assert_alert(d.log_records(), "source_lost", feed="mqtt")
    assert_alert(d.log_records(), "source_restored", feed="mqtt", feed_kind="mqtt")


def _readme_command(program: str) -> list[str]:
    """The README's ``program`` example (its MQTT section), as argv."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = text.index(f"\n{program} ") + 1
    end = text.index("'\n", text.index(" -m '", start)) + 1
    return shlex.split(text[start:end])


async def test_the_readme_s_mosquitto_pub_example_reaches_the_shadow(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    d = await start(daemons(config(tmp_path, mosquitto, prefix)))
    argv = _readme_command("mosquitto_pub")
    argv = [a.replace("shadowd/", f"{prefix}/") for a in argv]
    argv[argv.index("-h") + 1 : argv.index("-h") + 2] = [mosquitto.host, "-p",
                                                          str(mosquitto.port)]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   check=False)
    assert done.returncode == 0, done.stderr

    def routers() -> list[str] | None:
        names = [r["name"] for r in shadowctl_json(d, "topology")["routers"]]
        return names if names else None

    assert await asyncio.to_thread(poll, "the router in the shadow", routers) == ["edge1-r1"]
