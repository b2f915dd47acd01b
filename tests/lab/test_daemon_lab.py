"""The lab tier inside the real daemon: shadowd (a subprocess, fed over a real mosquitto)
builds FRR routers for the shadow, mirrors a link going down, survives a SIGKILL without
leaving the first run's routers behind, and leaves nothing at all after SIGTERM.

Every wait polls what can be observed (shadowctl, ``ip``, /proc) under a hang guard;
nothing asserts on how long anything took. The figures printed (``-s``) are for reading.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import aiomqtt
import pytest

from shadowd.core.events import AnyEvent, LinkStatus
from shadowd.core.wire import DeltaBatch, encode_message
from shadowd.lab import cleanup, daemons
from shadowd.lab.netlink import NETNS_DIR
from shadowd.topology import load_topology
from tests.brokers import (  # noqa: F401  (this tier's own broker: no conftest registers one)
    Mosquitto,
    mosquitto_fixture,
    mosquitto_session_fixture,
)
from tests.integration.harness import CONFIG, Daemon, poll

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not (daemons.FRR_LIB / "zebra").exists()
                       or shutil.which("mosquitto") is None,
                       reason="needs root, FRR and mosquitto (make sysdeps)"),
]

LAB_ID: Final = "dlab"
SOURCE: Final = "lab"
TOPOLOGY: Final = Path(__file__).resolve().parent.parent / "data" / "topologies" / "example.toml"
CUT: Final = "fra--ams"  # fra keeps ams over fra--ams#2: an ECMP pair becomes one path
ROUTES: Final = 4 * 3  # every router towards every other

SOURCES: Final = """
[[sources]]
kind = "mqtt"
name = "mqtt"
host = "{host}"
port = {port}
client_id = "shadowd-{prefix}"
topics = ["{prefix}/telemetry/+"]
control_prefix = "{prefix}/control/"
reconnect_initial_s = 0.1
reconnect_max_s = 1.0

[lab]
enabled = true
id = "{lab_id}"
igp = "ospf"
converge_timeout_s = 60.0
"""


@pytest.fixture(autouse=True, scope="module")
def _no_dlab_before_or_after() -> Iterator[None]:
    asyncio.run(cleanup.purge(LAB_ID))
    yield
    asyncio.run(cleanup.purge(LAB_ID))


# --- helpers ---------------------------------------------------------------------------


class Feed:
    """Publishes delta batches as source ``lab`` on the daemon's MQTT topic."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.broker, self.topic = broker, f"{prefix}/telemetry/{SOURCE}"

    def send(self, events: list[AnyEvent]) -> None:
        payload = encode_message(DeltaBatch(source=SOURCE, events=events))

        async def publish() -> None:
            async with aiomqtt.Client(self.broker.host, self.broker.port,
                                      timeout=10.0) as client:
                await client.publish(self.topic, payload, qos=1)

        asyncio.run(publish())


def ctl(d: Daemon, *args: str, ok: bool = True) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "shadowd.cli.shadowctl", "--socket",
                          str(d.socket), "--json", *args], capture_output=True, text=True,
                         check=False)
    assert (out.returncode == 0) == ok, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def lab_mirroring(d: Daemon, lsn: int) -> dict[str, Any]:
    """Poll until the lab is up, mirrors ``lsn`` and its last change has converged."""
    def probe() -> dict[str, Any] | None:
        s = ctl(d, "lab", "status")
        last = s["convergences"][-1] if s["convergences"] else {}
        done = s["up"] and s["lsn"] == lsn and last.get("lsn") == lsn and last["converged"]
        return s if done else None

    return poll(f"the lab to mirror seq {lsn}", probe, interval=0.2)


def links(ns: str) -> dict[str, dict[str, Any]]:
    """The lab's interfaces in ``ns`` by the link id their alias names."""
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return {i["ifalias"].split(" to ")[0]: i for i in json.loads(out) if "ifalias" in i}


def admin_up(ns: str, link: str) -> bool:
    return "UP" in links(ns)[link]["flags"]


def identities(pids: list[str]) -> set[tuple[int, str]]:
    """(pid, start time) of each live pid: a process, even if its pid is reused later."""
    found = set()
    for pid in pids:
        try:
            start = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            continue
        found.add((int(pid), start))
    return found


def namespace_inodes() -> set[int]:
    return {(NETNS_DIR / ns).stat().st_ino for ns in cleanup.leftovers(LAB_ID)["namespaces"]}


def processes_in_inodes(inodes: set[int]) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino in inodes:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def start(d: Daemon) -> float:
    t0 = time.monotonic()
    d.start().wait_ready()
    poll("the MQTT feed to subscribe",
         lambda: True if d.status().feeds["mqtt"].connected else None)
    return t0


# --- the test --------------------------------------------------------------------------


def test_the_daemon_mirrors_the_shadow_into_frr_and_leaves_nothing_behind(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    config = tmp_path / "shadowd.toml"
    config.write_text(CONFIG.format(
        window=2.0, snapshot_every=200_000, socket=tmp_path / "shadowd.sock",
        sources=SOURCES.format(host=mosquitto.host, port=mosquitto.port, prefix=prefix,
                               lab_id=LAB_ID)))
    d = Daemon(tmp_path, config)
    feed = Feed(mosquitto, prefix)
    try:
        _mirrors_a_link_down(d, feed)
        _down_and_up_from_shadowctl(d)
        _sigkill_then_restart_leaves_nothing_of_the_first_run(d)
        _sigterm_leaves_nothing(d)
    finally:
        d.cleanup()


def _mirrors_a_link_down(d: Daemon, feed: Feed) -> None:
    t0 = start(d)
    topology = load_topology(TOPOLOGY, source=SOURCE)
    feed.send(topology)
    n = d.wait_seq(len(topology)).seq
    status = lab_mirroring(d, n)
    print(f"\nlab mirroring the topology {time.monotonic() - t0:.1f} s after the daemon "
          f"started; its last change converged in "
          f"{status['convergences'][-1]['seconds']:.2f} s")
    assert (status["lab_id"], status["igp"], status["enabled"]) == (LAB_ID, "ospf", True)
    assert (status["routers"], status["running"], status["links_up"]) == (4, 4, 4)
    assert status["namespaces"] == 4
    assert sorted(cleanup.leftovers(LAB_ID)["namespaces"]) == [
        f"{LAB_ID}-{r}" for r in ("ams", "fra", "lon", "par")]
    fidelity = ctl(d, "lab", "fidelity")
    assert (fidelity["agreement"], fidelity["routes"], fidelity["lsn"]) == (1.0, ROUTES, n)
    assert admin_up(f"{LAB_ID}-fra", CUT)

    feed.send([LinkStatus(source=SOURCE, seq=len(topology) + 1, ts=1.0, link=CUT, up=False)])
    status = lab_mirroring(d, n + 1)
    last = status["convergences"][-1]
    print(f"link {CUT} down mirrored; RIBs agreed {last['seconds']:.2f} s after the apply "
          f"({last['polls']} polls)")
    assert last["changes"] == [f"link {CUT} down"]
    assert not admin_up(f"{LAB_ID}-fra", CUT)
    assert not admin_up(f"{LAB_ID}-ams", CUT)
    assert admin_up(f"{LAB_ID}-fra", f"{CUT}#2")
    fidelity = poll("fidelity at 100%", lambda: f if (f := ctl(d, "lab", "fidelity"))[
        "agreement"] == 1.0 else None)
    assert (fidelity["lsn"], fidelity["differences"]) == (n + 1, [])
    alerts = [r for r in d.log_records() if r.get("kind") in ("lab_divergence",
                                                              "lab_unavailable")]
    assert alerts == []


def _down_and_up_from_shadowctl(d: Daemon) -> None:
    down = ctl(d, "lab", "down")
    assert down["was_up"]
    assert len(down["removed"]["namespaces"]) == 4
    assert cleanup.leftovers(LAB_ID) == {"namespaces": [], "processes": [], "run_dirs": []}
    assert ctl(d, "lab", "fidelity", ok=False)["code"] == "lab_down"
    up = ctl(d, "lab", "up")
    print(f"shadowctl lab up: built and converged in {up['seconds']:.2f} s")
    assert (up["converged"], up["already_up"], up["routes"]) == (True, False, ROUTES)
    assert up["removed"] == {"namespaces": [], "processes": [], "run_dirs": []}
    assert ctl(d, "lab", "up")["already_up"]
    assert not admin_up(f"{LAB_ID}-fra", CUT)  # rebuilt from the state: still down


def _sigkill_then_restart_leaves_nothing_of_the_first_run(d: Daemon) -> None:
    lsn = poll("the log to be durable", lambda: s.seq if (s := d.status()).durable_seq == s.seq
                else None)
    first = identities(cleanup.leftovers(LAB_ID)["processes"])
    assert len(first) == 8  # zebra and ospfd per router
    # A mark in a namespace of the first run: a freshly built namespace cannot have it.
    subprocess.run(["ip", "-n", f"{LAB_ID}-fra", "link", "add", "firstrun", "type", "veth",
                    "peer", "name", "firstrun2"], check=True)
    d.kill()
    assert identities(cleanup.leftovers(LAB_ID)["processes"]) == first  # FRR outlives it

    t0 = start(d)
    status = lab_mirroring(d, lsn)
    print(f"after SIGKILL: lab rebuilt and converged {time.monotonic() - t0:.1f} s after "
          f"the restart ({status['convergences'][-1]['seconds']:.2f} s in the mirror)")
    now = cleanup.leftovers(LAB_ID)
    assert identities(now["processes"]).isdisjoint(first)
    assert len(now["processes"]) == 8
    assert subprocess.run(["ip", "-n", f"{LAB_ID}-fra", "link", "show", "firstrun"],
                          capture_output=True, check=False).returncode != 0
    removed = [r for r in d.log_records() if r.get("event") == "lab leftovers removed"]
    assert removed[-1]["namespaces"] == 4
    assert ctl(d, "lab", "fidelity")["agreement"] == 1.0
    assert not admin_up(f"{LAB_ID}-fra", CUT)


def _sigterm_leaves_nothing(d: Daemon) -> None:
    inodes = namespace_inodes()
    assert len(inodes) == 4
    assert d.stop() == 0
    assert cleanup.leftovers(LAB_ID) == {"namespaces": [], "processes": [], "run_dirs": []}
    assert processes_in_inodes(inodes) == []
    assert not list(NETNS_DIR.glob(f"{LAB_ID}-*"))
    assert not list(daemons.FRR_RUN.glob(f"{LAB_ID}-*"))
    assert not cleanup.record_path(LAB_ID).exists()
    stopped = [r for r in d.log_records() if r.get("event") == "lab down"]
    assert stopped[-1]["namespaces"] == 4
