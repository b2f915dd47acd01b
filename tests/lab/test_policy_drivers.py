"""The FRR driver against a real FRR lab (lab id ``drv``), with OSPF and with IS-IS: a
metric policy applied to a subset of routers shows in their running configs and moves
the path in the RIB; restoring brings every router's ``show running-config`` back
byte-identical, also from a fresh driver that only has the state dir (as after a
SIGKILL); restoring routers never touched does nothing.

Square: r1 reaches r4 through r2 (10 + 10) rather than r3 (10 + 20), until the policy
raises r1's cost towards r2 to 50 (and r4's towards r2, the way back).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Final

import pytest

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    LinkAdded,
    PeerAdded,
    PolicyChange,
    PolicyProposed,
    RouterAdded,
)
from shadowd.core.igp import Igp
from shadowd.core.state import State, fold
from shadowd.drivers.base import RestoreMismatch
from shadowd.drivers.frr import FrrDriver
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LabPlan
from shadowd.policy.render import AgentLinkTarget
from shadowd.services.lab_target import LabTarget
from shadowd.shell import vtysh, vtysh_json
from tests.lab.labs import needs_lab, running_lab

pytestmark = needs_lab

ROUTERS: Final = ("r1", "r2", "r3", "r4")
DEADLINE_S: Final = 60.0


def square() -> State:
    events: list[AnyEvent] = [
        RouterAdded(source="t", seq=i, ts=0.0, router=r) for i, r in enumerate(ROUTERS, 1)]
    for seq, (a, b, cost) in enumerate([("r1", "r2", 10), ("r2", "r4", 10),
                                        ("r1", "r3", 10), ("r3", "r4", 20)], 10):
        events.append(LinkAdded(source="t", seq=seq, ts=0.0, link=f"{a}--{b}", a=a, b=b,
                                metric=cost, capacity_bps=10e9))
    return fold(events)


def detour(policy_id: str) -> PolicyProposed:
    changes = (PolicyChange(router="r1", target="r1--r2", attr="metric", old=10, new=50),
               PolicyChange(router="r4", target="r2--r4", attr="metric", old=10, new=50))
    return PolicyProposed(source=DAEMON_SOURCE, seq=1, ts=0.0, policy_id=policy_id,
                          kind="igp_metric", reason="manual", changes=changes,
                          target_util=0.8, wc_before=1.1, wc_after=0.6)


@pytest.fixture(name="lab", params=["ospf", "isis"])
async def lab_fixture(request: pytest.FixtureRequest) -> AsyncIterator[Lab]:
    igp: Igp = request.param
    async with running_lab(square(), "drv", igp) as lab:
        yield lab


async def via(plan: LabPlan, router: str, dest: str) -> set[str]:
    """The interfaces of ``router``'s selected route to ``dest``'s loopback."""
    prefix = f"{plan.routers[dest].loopback}/32"
    rib = await vtysh_json(plan.routers[router].ns, f"show ip route {prefix} json")
    return {hop.get("interfaceName", "") for entry in rib.get(prefix, [])
            if entry.get("selected") for hop in entry.get("nexthops", [])
            if hop.get("active")}


async def until_via(plan: LabPlan, router: str, dest: str, link: str) -> float:
    """Poll until ``router`` reaches ``dest`` only over ``link``; seconds it took."""
    started = time.monotonic()
    want = {plan.links[link].ifname}
    async with asyncio.timeout(DEADLINE_S):
        while True:
            if await via(plan, router, dest) == want:
                return time.monotonic() - started
            await asyncio.sleep(0.1)


async def configs(driver: FrrDriver) -> dict[str, str]:
    return {r: await driver.running(r) for r in ROUTERS}


async def timed(step: str, action: Awaitable[None]) -> None:
    started = time.monotonic()
    await action
    print(f"{step}: {time.monotonic() - started:.3f} s")


async def test_apply_moves_the_path_and_restore_is_byte_identical(lab: Lab,
                                                                  tmp_path: Path) -> None:
    plan = lab.plan
    assert plan is not None
    driver = FrrDriver(LabTarget(plan), plan.igp, tmp_path)
    before = await configs(driver)
    assert await via(plan, "r1", "r4") == {plan.links["r1--r2"].ifname}
    policy = detour("p1")

    await timed(f"{plan.igp} apply r1", driver.apply(policy, ["r1", "r2"]))
    line = "ip ospf cost 50" if plan.igp == "ospf" else "isis metric 50"
    assert f" {line}\n" in await driver.running("r1")
    assert await driver.running("r4") == before["r4"]  # not in this step
    print(f"{plan.igp} rib moved after {await until_via(plan, 'r1', 'r4', 'r1--r3'):.3f} s")
    assert (tmp_path / "rollouts" / "p1" / "r1.conf").read_text() == before["r1"]

    await timed(f"{plan.igp} apply r4", driver.apply(policy, ["r1", "r4"]))  # r1 again
    await until_via(plan, "r4", "r1", "r3--r4")

    await driver.restore(policy, ["r2", "r3"])  # never touched: nothing happens
    # someone else edits r1 meanwhile: the restore says so, and keeps what it saved
    ifname = plan.links["r1--r3"].ifname
    await vtysh(plan.routers["r1"].ns, "configure terminal", f"interface {ifname}",
                "description edited by hand")
    with pytest.raises(RestoreMismatch) as mismatch:
        await driver.restore(policy, ["r1"])
    assert "+ description edited by hand" in mismatch.value.diffs["r1"]
    assert (tmp_path / "rollouts" / "p1" / "r1.conf").exists()
    await vtysh(plan.routers["r1"].ns, "configure terminal", f"interface {ifname}",
                "description r1--r3 to r3")
    await timed(f"{plan.igp} restore", driver.restore(policy, ["r4", "r1"]))
    assert await configs(driver) == before
    await until_via(plan, "r1", "r4", "r1--r2")
    await driver.restore(policy, ROUTERS)  # again: harmless
    assert await configs(driver) == before


async def test_a_fresh_driver_restores_what_a_killed_one_applied(lab: Lab,
                                                                 tmp_path: Path) -> None:
    plan = lab.plan
    assert plan is not None
    first = FrrDriver(LabTarget(plan), plan.igp, tmp_path)
    before = await configs(first)
    await first.apply(detour("p2"), ROUTERS)
    await until_via(plan, "r1", "r4", "r1--r3")
    del first  # the daemon died: only the state dir survives

    # production names links as the agent does; the fresh driver knows only that
    pathspaces = {r: router.ns for r, router in plan.routers.items()}
    target = AgentLinkTarget(pathspaces)
    agent_named = PolicyProposed(**{
        **{f: getattr(detour("p2"), f) for f in PolicyProposed.__struct_fields__},
        "changes": tuple(PolicyChange(router=c.router, target=agent_link(plan, c.target),
                                      attr=c.attr, old=c.old, new=c.new)
                         for c in detour("p2").changes)})
    second = FrrDriver(target, plan.igp, tmp_path)
    await timed(f"{plan.igp} restore after crash", second.restore(agent_named, ROUTERS))
    assert await configs(second) == before
    await until_via(plan, "r1", "r4", "r1--r2")


def agent_link(plan: LabPlan, link: str) -> str:
    found = plan.links[link]
    return f"{found.a}:{found.ifname}--{found.b}:{found.ifname}"


PREFIX: Final = "203.0.113.0/24"


def two_egresses() -> State:
    """The square with peer x on r2 and peer y on r4, both announcing ``PREFIX``: r1
    leaves by r2 (IGP 10 away, r4 20) until r4 prefers y's routes (local-pref 200)."""
    state = square()
    return fold([PeerAdded(source="t", seq=20, ts=0.0, peer="x", router="r2", asn=64601,
                           prefixes=(PREFIX,), capacity_bps=10e9),
                 PeerAdded(source="t", seq=21, ts=0.0, peer="y", router="r4", asn=64602,
                           prefixes=(PREFIX,), capacity_bps=10e9)], state)


async def bgp_egress(plan: LabPlan, router: str) -> str | None:
    """The BGP next hop of ``router``'s best route to ``PREFIX``."""
    rib = await vtysh_json(plan.routers[router].ns, f"show ip bgp {PREFIX} json")
    for path in rib.get("paths", []):
        if path.get("bestpath", {}).get("overall"):
            hops = path.get("nexthops", [])
            return str(hops[0].get("ip")) if hops else None
    return None


async def until_egress(plan: LabPlan, router: str, hop: str) -> float:
    started = time.monotonic()
    async with asyncio.timeout(DEADLINE_S):
        while True:
            if await bgp_egress(plan, router) == hop:
                return time.monotonic() - started
            await asyncio.sleep(0.1)


async def test_local_preference_moves_the_egress_and_restores_exactly(tmp_path: Path) -> None:
    async with running_lab(two_egresses(), "drvb") as lab:
        plan = lab.plan
        assert plan is not None
        r2, r4 = plan.routers["r2"].loopback, plan.routers["r4"].loopback
        await until_egress(plan, "r1", r2)
        driver = FrrDriver(LabTarget(plan), plan.igp, tmp_path)
        before = await configs(driver)
        policy = PolicyProposed(
            source=DAEMON_SOURCE, seq=1, ts=0.0, policy_id="b1", kind="bgp", reason="manual",
            changes=(PolicyChange(router="r4", target="y", attr="local_pref", old=100,
                                  new=200),
                     PolicyChange(router="r4", target="y", attr="prepend", old=0, new=2)),
            target_util=0.8, wc_before=1.0, wc_after=0.5)
        await timed("bgp apply", driver.apply(policy, ["r4"]))
        running = await driver.running("r4")
        assert "route-map PEER-y-in permit 10\n set as-path prepend last-as 2\n" \
               " set local-preference 200\nexit\n" in running
        print(f"bgp egress moved after {await until_egress(plan, 'r1', r4):.3f} s")

        await timed("bgp restore", FrrDriver(LabTarget(plan), plan.igp, tmp_path)
                    .restore(policy, ROUTERS))
        assert await configs(driver) == before
        print(f"bgp egress back after {await until_egress(plan, 'r1', r2):.3f} s")
