"""Who may speak for a source, over real brokers: spoofed sources and forged daemon records
are refused and change nothing; a broker locked down as the README says (TLS, passwords,
the README's own ACL) carries the collector's telemetry and nobody else's."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import aiomqtt
import msgspec
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from shadowd.core.events import DAEMON_SOURCE, PolicyProposed, RouterAdded
from shadowd.core.wire import DeltaBatch, Snapshot, encode_message
from tests.brokers import LockedMosquitto, Mosquitto, SaslKafka, kafka_jars, running
from tests.integration.harness import Daemon, poll, shadowctl_json
from tests.integration.test_ingest_mqtt import config, start
from tests.integration.test_ingest_producer import daemon_config, wait_feed_connected

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"


def router(source: str, seq: int, name: str) -> RouterAdded:
    return RouterAdded(source=source, seq=seq, ts=1.0, router=name)


def routers_of(d: Daemon) -> list[str] | None:
    names = sorted(r["name"] for r in shadowctl_json(d, "topology")["routers"])
    return names or None


def dead_reasons(d: Daemon) -> list[str]:
    lines = (d.state_dir / "deadletter.jsonl").read_text().splitlines()
    return [msgspec.json.decode(line)["reason"] for line in lines]


@pytest.mark.adversarial
async def test_spoofed_sources_and_forged_records_are_refused_and_change_nothing(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    d = await start(daemons(config(tmp_path, mosquitto, prefix)))
    telemetry = f"{prefix}/telemetry"
    forged = PolicyProposed(source=DAEMON_SOURCE, seq=2**63 - 1, ts=1.0, policy_id="p1",
                            kind="igp_metric", reason="forged", changes=(), target_util=0.8,
                            wc_before=1.2, wc_after=0.7)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10.0) as client:
        await client.publish(f"{telemetry}/edge1", encode_message(DeltaBatch(
            source="edge1", events=[router("edge1", 1, "r1"), router("edge1", 2, "r2")])), qos=1)
        assert await asyncio.to_thread(poll, "edge1's routers", lambda: routers_of(d)) == [
            "r1", "r2"]
        before = shadowctl_json(d, "status")["digest"]
        attacks: list[tuple[str, DeltaBatch | Snapshot]] = [
            (f"{telemetry}/mallory", Snapshot(source="edge1", seq=1000, events=[])),
            (f"{telemetry}/mallory", Snapshot(source="adv1", seq=1000, events=[])),
            (f"{telemetry}/{DAEMON_SOURCE}", DeltaBatch(source=DAEMON_SOURCE, events=[forged])),
            (f"{telemetry}/edge1", DeltaBatch(source="edge1", events=[
                msgspec.structs.replace(forged, source="edge1", seq=3)])),
        ]
        for topic, message in attacks:
            await client.publish(topic, encode_message(message), qos=1)
        # The collector's own next delta: the forged seq 3 used up nothing.
        await client.publish(f"{telemetry}/edge1", encode_message(DeltaBatch(
            source="edge1", events=[router("edge1", 3, "r3")])), qos=1)
    assert await asyncio.to_thread(
        poll, "the next real delta", lambda: r if (r := routers_of(d)) and "r3" in r else None
    ) == ["r1", "r2", "r3"]
    reasons = await asyncio.to_thread(
        poll, "four refusals", lambda: r if len(r := dead_reasons(d)) >= 4 else None)
    assert [r.split(":")[0] for r in reasons] == ["refused"] * 4
    assert "'edge1' but came as 'mallory'" in reasons[0]
    assert "shadowd's own" in reasons[2]
    assert "policy_proposed is a record shadowd writes itself" in reasons[3]
    assert shadowctl_json(d, "policies", "list")["policies"] == []
    status = shadowctl_json(d, "status")
    assert status["digest"] != before  # r3 came; and nothing of the attacks did:
    assert set(status["sources"]) == {"edge1"}


def _readme_block(first_line: str) -> str:
    text = README.read_text()
    start = text.index(first_line)
    return text[start : text.index("```", start)]


@pytest.fixture
def locked() -> Iterator[LockedMosquitto]:
    acl = _readme_block("# shadowd.acl")
    broker = LockedMosquitto(Path(tempfile.mkdtemp(prefix="shadowd-locked-")),
                             {"shadowd": "s3cret-d", "edge1": "s3cret-1"}, acl)
    with running(broker):
        yield broker


LOCKED_SOURCE = """
[[sources]]
kind = "mqtt"
name = "mqtt"
host = "{host}"
port = {port}
client_id = "shadowd-locked"
username = "shadowd"
password_file = "{password_file}"
tls = true
ca_file = "{ca}"
sources = ["edge1"]
reconnect_initial_s = 0.1
reconnect_max_s = 1.0
"""


@pytest.mark.adversarial
async def test_a_broker_locked_down_as_the_readme_says_carries_the_collector_alone(
        locked: LockedMosquitto, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.password"
    secret.write_text("s3cret-d\n")
    secret.chmod(0o600)
    d = await start(daemons(daemon_config(tmp_path, LOCKED_SOURCE.format(
        host=locked.host, port=locked.port, password_file=secret, ca=locked.ca))))
    async with locked.client("edge1") as edge1:
        await edge1.publish("shadowd/telemetry/edge1", encode_message(DeltaBatch(
            source="edge1", events=[router("edge1", 1, "r1")])), qos=1)
    assert await asyncio.to_thread(poll, "edge1's router", lambda: routers_of(d)) == ["r1"]
    with pytest.raises(aiomqtt.MqttError):  # no anonymous clients
        async with locked.client():
            pass
    with pytest.raises(aiomqtt.MqttError):  # nor plain TCP
        async with aiomqtt.Client(locked.host, locked.port, username="edge1",
                                  password="s3cret-1", timeout=5.0):
            pass


def test_a_feed_whose_password_file_is_missing_does_not_start(
        daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    cfg = daemon_config(tmp_path, LOCKED_SOURCE.format(
        host="127.0.0.1", port=1, password_file=tmp_path / "nope", ca=tmp_path / "ca.pem"))
    d = daemons(cfg).start()
    assert d.wait() != 0
    assert f"cannot read password_file {tmp_path / 'nope'}" in d.log_text()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.adversarial
async def test_dead_letters_on_a_full_disk_cost_letters_never_the_daemon(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path,
        small_disk: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    cfg = config(tmp_path, mosquitto, prefix)
    d = daemons(cfg)
    d.state_dir = small_disk / "state"
    await start(d)
    telemetry = f"{prefix}/telemetry/edge1"
    filler = small_disk / "filler"
    free = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize - 40_000))  # ~40 kB left
    junk = bytes(range(256)) * 8192  # 2 MiB a message, as the adversary sent
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10.0) as client:
        for _ in range(16):
            await client.publish(telemetry, b"\xc1" + junk, qos=1)
        await asyncio.to_thread(poll, "the disk_full alert", lambda: True if any(
            r.get("kind") == "disk_full" for r in d.log_records()) else None)
        assert d.status().uptime_s > 0  # alive and answering
        filler.unlink()  # space returns
        await client.publish(telemetry, b"\xc1" + junk, qos=1)
        await asyncio.to_thread(poll, "letters written again", lambda: True if any(
            r.get("event") == "dead letters written again" for r in d.log_records()) else None)
        await client.publish(telemetry, encode_message(DeltaBatch(
            source="edge1", events=[router("edge1", 1, "r1")])), qos=1)
        assert await asyncio.to_thread(poll, "the router", lambda: routers_of(d)) == ["r1"]
    assert d.stop() == 0
    dead = small_disk / "state" / "deadletter.jsonl"
    assert dead.stat().st_size < 200_000  # heads of messages, not 34 MiB of them
    from_zero = d.cli("log", "replay", "--state-dir", str(d.state_dir), "--from-zero",
                      "--json")
    assert json.loads(from_zero.stdout)["digest"] == d.replay_json()["digest"]


@pytest.mark.adversarial
async def test_a_full_disk_holds_the_log_and_loses_nothing_when_space_returns(
        mosquitto: Mosquitto, daemons: Callable[..., Daemon], tmp_path: Path,
        small_disk: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    d = daemons(config(tmp_path, mosquitto, prefix))
    d.state_dir = small_disk / "state"
    await start(d)
    filler = small_disk / "filler"
    free = os.statvfs(small_disk)
    filler.write_bytes(b"\0" * (free.f_bavail * free.f_frsize))  # not a block left
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, timeout=10.0) as client:
        await client.publish(f"{prefix}/telemetry/edge1", encode_message(DeltaBatch(
            source="edge1", events=[router("edge1", s, f"r{s}") for s in range(1, 201)])),
            qos=1)
        await asyncio.to_thread(poll, "the disk_full alert", lambda: True if any(
            r.get("kind") == "disk_full" for r in d.log_records()) else None)
        status = d.status()  # alive, answering, and honest about what is durable
        assert status.durable_seq < 200
        filler.unlink()  # space returns
        assert (await asyncio.to_thread(d.wait_seq, 200)).seq == 200
        await asyncio.to_thread(poll, "durable again", lambda: True if (
            d.status().durable_seq >= 200) else None)
    assert d.stop() == 0
    from_zero = d.cli("log", "replay", "--state-dir", str(d.state_dir), "--from-zero",
                      "--json")
    replayed = json.loads(from_zero.stdout)
    assert replayed["routers"] == 200
    assert replayed["digest"] == d.replay_json()["digest"]


@pytest.fixture(params=[False, True], ids=["sasl", "sasl-over-tls"])
def sasl_kafka(request: pytest.FixtureRequest) -> Iterator[SaslKafka]:
    broker = SaslKafka(Path(tempfile.mkdtemp(prefix="shadowd-kafka-sasl-")), kafka_jars(),
                       {"shadowd": "s3cret-d", "edge1": "s3cret-1"}, tls=request.param)
    with running(broker):
        yield broker


SASL_SOURCE = """
[[sources]]
kind = "kafka"
name = "kafka"
bootstrap = "{bootstrap}"
group_id = "shadowd-sasl"
topics = ["telemetry"]
control_topic = "control"
deadletter_topic = ""
username = "shadowd"
password_file = "{password_file}"
sasl_mechanism = "PLAIN"
sources = ["edge1"]
reconnect_initial_s = 0.1
reconnect_max_s = 1.0
tls = {tls}
ca_file = "{ca_file}"
"""


async def test_a_kafka_feed_speaks_sasl_to_a_broker_that_wants_it(
        sasl_kafka: SaslKafka, daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    secret = tmp_path / "kafka.password"
    secret.write_text("s3cret-d\n")
    d = await start_kafka(daemons(daemon_config(tmp_path, SASL_SOURCE.format(
        bootstrap=sasl_kafka.bootstrap, password_file=secret,
        tls=str(sasl_kafka.tls).lower(), ca_file=sasl_kafka.ca if sasl_kafka.tls else ""))))
    producer = AIOKafkaProducer(bootstrap_servers=sasl_kafka.bootstrap, acks="all",
                                **sasl_kafka.client_options("edge1"))
    await producer.start()
    try:
        await producer.send_and_wait("telemetry", encode_message(DeltaBatch(
            source="edge1", events=[router("edge1", 1, "r1")])), key=b"edge1")
    finally:
        await producer.stop()
    assert await asyncio.to_thread(poll, "edge1's router", lambda: routers_of(d)) == ["r1"]
    wrong = AIOKafkaProducer(bootstrap_servers=sasl_kafka.bootstrap,
                             **sasl_kafka.client_options("edge1", password="guess"))
    with pytest.raises(KafkaError):  # the broker wants the right password
        await wrong.start()
    await wrong.stop()
    if sasl_kafka.tls:  # and the certificate is checked: the system's CAs do not know it
        untrusted = AIOKafkaProducer(bootstrap_servers=sasl_kafka.bootstrap, **{
            **sasl_kafka.client_options("edge1"), "ssl_context": ssl.create_default_context()})
        with pytest.raises(KafkaError):
            await untrusted.start()
        await untrusted.stop()


async def start_kafka(d: Daemon) -> Daemon:
    d.start()
    await asyncio.to_thread(d.wait_ready)
    await wait_feed_connected(d, "kafka")
    return d
