"""The FRR reader against a tiny real production: three FRR routers (zebra + ospfd, or
zebra + isisd) in network namespaces, in a chain joined by veth pairs. The agent reads the
topology, the IGP's per-interface costs and counters from them, and a link taken down
shows up as ``LinkStatus(up=False)``. The test runs once per IGP.

Everything is named ``agt-*``; namespaces and daemons left by a crashed earlier run are
removed first, and everything this test makes is removed after it, pass or fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Literal

import pytest

from shadowd.agent.config import FrrRouterConfig
from shadowd.agent.core import AgentCore, AgentSettings
from shadowd.agent.frr import FrrReader, link_id
from shadowd.core.events import AnyEvent, LinkStatus
from shadowd.core.state import State
from shadowd.ingest.wire import DeltaBatch

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/lib/frr/zebra").exists(),
                       reason="needs root and FRR"),
]

PREFIX: Final = "agt-"
FRR_RUN: Final = Path("/var/run/frr")
ROUTERS: Final = ("r1", "r2", "r3")
# (a, b, subnet /30, a's OSPF cost / IS-IS metric, b's)
LINKS: Final = (("r1", "r2", "10.91.1", 10, 20), ("r2", "r3", "10.91.2", 5, 5))
DEADLINE_S: Final = 60.0


def ns(router: str) -> str:
    return f"{PREFIX}{router}"


def ifname(router: str, peer: str) -> str:
    return f"{PREFIX}{router}{peer}"


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def frr_config(router: str, igp: str) -> str:
    n = ROUTERS.index(router) + 1
    lines = [f"hostname {router}"]
    for a, b, _, cost_a, cost_b in LINKS:
        if router in (a, b):
            peer, cost = (b, cost_a) if router == a else (a, cost_b)
            lines.append(f"interface {ifname(router, peer)}")
            if igp == "isis":
                lines += [" ip router isis lab", " isis network point-to-point",
                          f" isis metric {cost}", " isis hello-interval 1",
                          " isis hello-multiplier 3"]
            else:
                lines += [" ip ospf network point-to-point", f" ip ospf cost {cost}",
                          " ip ospf hello-interval 1", " ip ospf dead-interval 3"]
    if igp == "isis":
        lines += ["router isis lab", f" net 49.0001.0000.0000.000{n}.00",
                  " is-type level-2-only", " metric-style wide", ""]
    else:
        lines += ["router ospf", f" ospf router-id 10.255.0.{n}",
                  " network 10.91.0.0/16 area 0", ""]
    return "\n".join(lines)


def _pids(directory: Path) -> list[int]:
    pids = []
    for pid_file in directory.glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            pids.append(int(pid_file.read_text().strip()))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(pids: list[int]) -> None:
    """SIGTERM the daemons we started (by pid), SIGKILL those that linger."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def purge() -> None:
    """Remove every ``agt-*`` namespace and the FRR daemons whose pid files name them."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                            check=False).stdout.split("\n")
    names = {line.split()[0] for line in listed if line.startswith(PREFIX)}
    names |= {d.name for d in FRR_RUN.glob(f"{PREFIX}*")}
    for name in sorted(names):
        _stop(_pids(FRR_RUN / name))
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(FRR_RUN / name, ignore_errors=True)


def build(igp: str) -> None:
    for router in ROUTERS:
        sh("ip", "netns", "add", ns(router))
        sh("ip", "-n", ns(router), "link", "set", "lo", "up")
    for a, b, net, _, _ in LINKS:
        sh("ip", "link", "add", ifname(a, b), "netns", ns(a), "type", "veth",
           "peer", "name", ifname(b, a), "netns", ns(b))
        for router, peer, host in ((a, b, 1), (b, a, 2)):
            dev = ifname(router, peer)
            sh("ip", "-n", ns(router), "addr", "add", f"{net}.{host}/30", "dev", dev)
            sh("ip", "-n", ns(router), "link", "set", dev, "up")
    for router in ROUTERS:
        run = FRR_RUN / ns(router)
        run.mkdir()
        shutil.chown(run, "frr", "frr")
        conf = run / "frr.conf"
        conf.write_text(frr_config(router, igp))
        shutil.chown(conf, "frr", "frr")
        for daemon in ("zebra", "isisd" if igp == "isis" else "ospfd"):
            sh("ip", "netns", "exec", ns(router), f"/usr/lib/frr/{daemon}", "-d", "-N",
               ns(router), "-f", str(conf), "-i", str(run / f"{daemon}.pid"),
               "--log", f"file:{run / daemon}.log")


@pytest.fixture(name="lab", params=["ospf", "isis"])
def lab_fixture(request: pytest.FixtureRequest) -> Iterator[str]:
    """The lab running ``request.param`` as its IGP; yields that IGP's name."""
    igp: str = request.param
    purge()
    try:
        build(igp)
        yield igp
    finally:
        purge()


async def poll_until(reader: FrrReader, done: Callable[[State], bool]) -> State:
    """Poll production until ``done(state)``; paced so the routers get the CPU."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            state = await reader.poll(time.monotonic())
            if done(state):
                return state
            await asyncio.sleep(0.2)


def all_links_up(state: State) -> bool:
    return len(state.links) == len(LINKS) and all(lk.up for lk in state.links.values())


async def test_frr_reader_sees_topology_counters_and_a_link_going_down(lab: str) -> None:
    igp: Literal["ospf", "isis"] = "isis" if lab == "isis" else "ospf"
    reader = FrrReader([FrrRouterConfig(name=r, namespace=ns(r)) for r in ROUTERS], igp=igp)
    state = await poll_until(reader, all_links_up)
    r1r2 = link_id("r1", ifname("r1", "r2"), "r2", ifname("r2", "r1"))
    r2r3 = link_id("r2", ifname("r2", "r3"), "r3", ifname("r3", "r2"))
    assert sorted(state.links) == sorted([r1r2, r2r3])
    first = state.links[r1r2]
    assert (first.a, first.b, first.metric, first.reverse_metric) == ("r1", "r2", 10, 20)
    assert first.capacity_bps == 10e9  # veths report 10 Gbit/s
    assert {r.loopback for r in state.routers.values()} == (
        {"10.255.0.1", "10.255.0.2", "10.255.0.3"} if igp == "ospf" else {None})
    assert state.links[r2r3].metric == state.links[r2r3].reverse_metric == 5
    core = AgentCore(AgentSettings(source="lab"))
    core.start(state, time.monotonic())

    sh("ip", "netns", "exec", ns("r1"), "ping", "-q", "-c", "20", "-i", "0.01", "-s", "1200",
       "10.91.1.2")
    state = await reader.poll(time.monotonic())
    assert state.links[r1r2].ab_bps > 0.0  # what r1 sent to r2 since the last poll

    sh("ip", "-n", ns("r3"), "link", "set", ifname("r3", "r2"), "down")
    seen: list[AnyEvent] = []

    def reported_down(current: State) -> bool:
        for message in core.observe(current, time.monotonic()).messages:
            if isinstance(message, DeltaBatch):
                seen.extend(message.events)
        return any(isinstance(e, LinkStatus) and e.link == r2r3 and not e.up for e in seen)

    state = await poll_until(reader, reported_down)
    assert state.links[r1r2].up
    assert r2r3 in state.links  # known, down, not removed
