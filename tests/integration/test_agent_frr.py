"""The FRR reader against a tiny real production: three FRR routers (zebra + ospfd, or
zebra + isisd) in a chain, built by the lab (``shadowd.lab``) under lab id ``agt``. The
agent reads the topology, the IGP's per-interface costs and counters from them, and a
link taken down shows up as ``LinkStatus(up=False)``. The test runs once per IGP; the
lab is removed afterwards, pass or fail, and whatever a crashed earlier run left first.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

import pytest

from shadowd.agent.config import FrrRouterConfig
from shadowd.agent.core import AgentCore, AgentSettings
from shadowd.agent.frr import FrrReader, link_id
from shadowd.core.events import AnyEvent, LinkAdded, LinkStatus, RouterAdded
from shadowd.core.igp import Igp
from shadowd.core.state import State, fold
from shadowd.core.wire import DeltaBatch
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LinkPlan
from tests.lab.labs import needs_lab, running_lab

pytestmark = needs_lab

ROUTERS: Final = ("r1", "r2", "r3")
DEADLINE_S: Final = 60.0


def production() -> State:
    """r1 --(10 one way, 20 back)-- r2 --(5)-- r3."""
    events: list[AnyEvent] = [
        RouterAdded(source="t", seq=i, ts=0.0, router=r) for i, r in enumerate(ROUTERS, 1)]
    events += [
        LinkAdded(source="t", seq=4, ts=0.0, link="r1--r2", a="r1", b="r2", metric=10,
                  reverse_metric=20, capacity_bps=10e9),
        LinkAdded(source="t", seq=5, ts=0.0, link="r2--r3", a="r2", b="r3", metric=5,
                  capacity_bps=10e9),
    ]
    return fold(events)


@pytest.fixture(name="lab", params=["ospf", "isis"])
async def lab_fixture(request: pytest.FixtureRequest) -> AsyncIterator[Lab]:
    """The production lab running ``request.param`` as its IGP."""
    igp: Igp = request.param
    async with running_lab(production(), "agt", igp) as lab:
        yield lab


def seen_as(link: LinkPlan) -> str:
    """The id the agent gives ``link`` (it names links by their interfaces)."""
    return link_id(link.a, link.ifname, link.b, link.ifname)


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


async def poll_until(reader: FrrReader, done: Callable[[State], bool]) -> State:
    """Poll production until ``done(state)``; paced so the routers get the CPU."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            state = await reader.poll(time.monotonic())
            if done(state):
                return state
            await asyncio.sleep(0.2)


def all_links_up(state: State) -> bool:
    return len(state.links) == 2 and all(lk.up for lk in state.links.values())


async def test_frr_reader_sees_topology_counters_and_a_link_going_down(lab: Lab) -> None:
    plan = lab.plan
    assert plan is not None
    ns = {name: router.ns for name, router in plan.routers.items()}
    reader = FrrReader([FrrRouterConfig(name=r, namespace=ns[r]) for r in ROUTERS],
                       igp=plan.igp)
    state = await poll_until(reader, all_links_up)
    r1r2, r2r3 = seen_as(plan.links["r1--r2"]), seen_as(plan.links["r2--r3"])
    assert sorted(state.links) == sorted([r1r2, r2r3])
    first = state.links[r1r2]
    assert (first.a, first.b, first.metric, first.reverse_metric) == ("r1", "r2", 10, 20)
    assert first.capacity_bps == 10e9  # veths report 10 Gbit/s
    assert {r.loopback for r in state.routers.values()} == (
        {"10.255.0.1", "10.255.0.2", "10.255.0.3"} if plan.igp == "ospf" else {None})
    assert state.links[r2r3].metric == state.links[r2r3].reverse_metric == 5
    core = AgentCore(AgentSettings(source="lab"))
    core.start(state, time.monotonic())

    sh("ip", "netns", "exec", ns["r1"], "ping", "-q", "-c", "20", "-i", "0.01", "-s", "1200",
       plan.links["r1--r2"].b_addr)
    state = await reader.poll(time.monotonic())
    assert state.links[r1r2].ab_bps > 0.0  # what r1 sent to r2 since the last poll

    sh("ip", "-n", ns["r3"], "link", "set", plan.links["r2--r3"].ifname, "down")
    seen: list[AnyEvent] = []

    def reported_down(current: State) -> bool:
        for message in core.observe(current, time.monotonic()).messages:
            if isinstance(message, DeltaBatch):
                seen.extend(message.events)
        return any(isinstance(e, LinkStatus) and e.link == r2r3 and not e.up for e in seen)

    state = await poll_until(reader, reported_down)
    assert state.links[r1r2].up
    assert r2r3 in state.links  # known, down, not removed
