"""Must-show 4: on a topology with two external peers announcing one prefix, a BGP
egress-shift proposal moves the demand to the other egress, confirmed in the lab's RIBs.

Also: the lab follows peers that come and go (``Lab.apply``), and BGP routes through the
chosen egress carry traffic (a ping to the prefix's address answers).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Final

import msgspec

from shadowd.core.errors import CommandFailed
from shadowd.core.events import PeerRemoved
from shadowd.core.state import State, apply, fold
from shadowd.drivers.frr import FrrDriver
from shadowd.lab.lab import Lab
from shadowd.policy.bgp import BgpPolicy, IgpCosts, choose_egress, policy_of, propose_bgp
from shadowd.predict.records import Stamp
from shadowd.services.lab_target import LabTarget
from shadowd.shell import run
from shadowd.topology import load_topology
from tests.lab.labs import needs_lab, running_lab

pytestmark = needs_lab

TWO_EGRESS: Final = Path(__file__).parents[1] / "data" / "topologies" / "two-egress.toml"
PREFIX: Final = "203.0.113.0/24"
DEADLINE_S: Final = 60.0


def two_egress() -> State:
    return fold(load_topology(TWO_EGRESS))


def model_egress(state: State, policy: BgpPolicy) -> dict[str, str]:
    """Source router -> the egress router the model's BGP choice leaves by."""
    chosen = choose_egress(state, policy, IgpCosts.of(state))
    return {src: state.peers[peer].router for (src, prefix), peer in chosen.items()
            if prefix == PREFIX}


async def lab_egress(lab: Lab, routers: list[str]) -> dict[str, str | None]:
    routes = await asyncio.gather(*(lab.bgp_routes(r) for r in routers))
    return {r: (rib[PREFIX].egress if PREFIX in rib else None)
            for r, rib in zip(routers, routes, strict=True)}


async def until_egress(lab: Lab, want: dict[str, str], since: float) -> float:
    """Poll every router's best BGP route until its egress is ``want``'s; seconds."""
    got: dict[str, str | None] = {}
    while time.monotonic() - since < DEADLINE_S:
        got = await lab_egress(lab, sorted(want))
        if got == want:
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    raise AssertionError(f"lab egress {got} never became the model's {want}")


async def test_a_bgp_egress_shift_moves_the_demand_to_the_other_egress(tmp_path: Path) -> None:
    state = two_egress()
    before = model_egress(state, {})
    assert before == {"r1": "r2", "r2": "r2", "r3": "r2", "r4": "r4", "r5": "r4"}
    async with running_lab(state, "bgp") as lab:
        up_s = await until_egress(lab, before, time.monotonic())

        proposal = propose_bgp(state, target_util=0.7, policy_id="shift", reason="manual",
                               stamp=Stamp(seq=1, ts=0.0))
        assert proposal is not None
        assert (proposal.wc_link_before, proposal.wc_link_after) == ("peer isp-a", "peer isp-b")
        assert proposal.wc_after <= 0.7 < proposal.wc_before
        after = model_egress(state, policy_of([proposal]))
        assert set(after.values()) == {"r4"}  # everything leaves by isp-b now

        assert lab.plan is not None
        driver = FrrDriver(LabTarget(lab.plan), "ospf", tmp_path / "saved")
        routers = sorted({c.router for c in proposal.changes})
        started = time.monotonic()
        await driver.apply(proposal, routers)
        shift_s = await until_egress(lab, after, started)
        r4 = lab.plan.routers["r4"].loopback
        for ingress in ("r1", "r2", "r3"):  # their BGP next hop is the other egress
            assert (await lab.bgp_routes(ingress))[PREFIX].nexthop == r4
        await until_ping(lab, "r1", "203.0.113.1")

        started = time.monotonic()
        await driver.restore(proposal, routers)
        back_s = await until_egress(lab, before, started)
        print(f"\nBGP up {up_s:.2f} s, egress shift {shift_s:.2f} s, back {back_s:.2f} s")


async def test_the_lab_follows_peers_that_go_and_come_back() -> None:
    state = two_egress()
    async with running_lab(state, "bgpapply") as lab:
        await until_egress(lab, model_egress(state, {}), time.monotonic())
        without = state.fork()
        apply(without, PeerRemoved(source="t", seq=1, ts=0.0, peer="isp-a"))
        assert await lab.apply(without) == ["peer isp-a removed"]
        assert set(model_egress(without, {}).values()) == {"r4"}
        await until_egress(lab, model_egress(without, {}), time.monotonic())

        capacity = msgspec.structs.replace(state.peers["isp-b"], capacity_bps=8e9)
        again = state.fork()
        again.peers["isp-b"] = capacity
        assert await lab.apply(again) == ["peer isp-a added", "peer isp-b rate 8000000 bit/s"]
        await until_egress(lab, model_egress(again, {}), time.monotonic())


async def until_ping(lab: Lab, router: str, address: str) -> None:
    """A ping from ``router``'s loopback answers within the deadline."""
    assert lab.plan is not None
    me = lab.plan.routers[router]
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            await run(["ip", "netns", "exec", me.ns, "ping", "-c", "1", "-W", "1", "-I",
                       me.loopback, address])
            return
        except CommandFailed:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
