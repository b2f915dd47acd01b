"""Validation in the shadow lab, as the policy service runs it: a good IGP policy passes
on the lab's own RIBs and pings, a bad one (it pushes a demand over a thin link) is
refused with the reason; a BGP proposal's route-maps really move the lab's egress to the
one the model chose, and the lab's configs are byte-identical afterwards."""

from __future__ import annotations

from pathlib import Path

from shadowd.core.events import DemandSet, LinkCapacity, PolicyChange, PolicyProposed
from shadowd.core.state import apply, fold
from shadowd.lab.lab import Lab
from shadowd.policy.bgp import propose_bgp
from shadowd.predict.records import Stamp
from shadowd.services.validate import validate_in_lab
from shadowd.services.validate_bgp import validate_bgp_in_lab
from shadowd.shell import vtysh
from shadowd.topology import load_topology
from tests.lab.labs import needs_lab, running_lab

pytestmark = needs_lab

DATA = Path(__file__).parent.parent / "data" / "topologies"


def metric_policy(new: int) -> PolicyProposed:
    return PolicyProposed(source="shadowd", seq=1, ts=1.0, policy_id=f"m{new}",
                          kind="igp_metric", reason="manual", target_util=0.8, wc_before=0.5,
                          wc_after=0.5, changes=(PolicyChange(router="r1", target="r1--r2",
                                                              attr="metric", old=1, new=new),))


async def configs(lab: Lab) -> dict[str, str]:
    assert lab.plan is not None
    return {n: await vtysh(r.ns, "show running-config") for n, r in lab.plan.routers.items()}


async def test_igp_policies_are_judged_on_the_labs_own_routes() -> None:
    state = fold(load_topology(DATA / "square.toml"))  # 10G ring
    apply(state, LinkCapacity(source="t", seq=1, ts=1.0, link="r4--r1", capacity_bps=1e9))
    apply(state, DemandSet(source="t", seq=2, ts=1.0, src="r1", dst="r2", rate_bps=5e9))
    async with running_lab(state, "val") as lab:
        good = await validate_in_lab(lab, state, metric_policy(2))  # still direct (2 < 3)
        assert good.ok, good.detail
        assert good.tier == "lab"
        assert good.agreement == 1.0
        assert good.wc_after == 0.5

        bad = await validate_in_lab(lab, state, metric_policy(10))  # the long way round
        assert not bad.ok
        assert "utilisation 5.00 above the predicted worst case 0.50" in bad.detail
        assert bad.loops == 0


async def test_a_bgp_proposal_moves_the_labs_egress_and_leaves_no_trace() -> None:
    state = fold(load_topology(DATA / "two-egress.toml"))
    proposal = propose_bgp(state, target_util=0.7, policy_id="shift", reason="manual",
                           stamp=Stamp(seq=1, ts=0.0))
    assert proposal is not None
    async with running_lab(state, "valbgp") as lab:
        before = await configs(lab)
        result = await validate_bgp_in_lab(lab, state, proposal, {}, igp="ospf")
        assert result.ok, result.detail
        assert result.tier == "lab"
        assert result.agreement == 1.0
        assert await configs(lab) == before
