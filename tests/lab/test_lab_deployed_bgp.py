"""The shadow lab runs production's deployed BGP policies: a state whose log holds a
deployed local-preference policy is mirrored into a fresh lab, whose best routes then
leave by the egress the model picks under that policy; a later proposal validated in that
lab sees the deployed settings and leaves the configs byte-identical; when the policy is
rolled back in the state, ``Lab.apply`` clears its settings and the routes return."""

from __future__ import annotations

import time

from shadowd.core.events import PolicyChange, PolicyProposed, RolloutStep
from shadowd.core.state import State, apply
from shadowd.policy.bgp import policy_of, propose_bgp
from shadowd.policy.deployed import deployed_bgp
from shadowd.predict.records import Stamp
from shadowd.services.mirror import lab_route_maps
from shadowd.services.validate_bgp import validate_bgp_in_lab
from shadowd.shell import vtysh
from tests.lab.labs import needs_lab, running_lab
from tests.lab.test_lab_bgp import model_egress, two_egress, until_egress
from tests.lab.test_policy_validate import configs

pytestmark = needs_lab


def prefer_isp_a() -> PolicyProposed:
    change = PolicyChange(router="r2", target="isp-a", attr="local_pref", old=100, new=200)
    return PolicyProposed(source="shadowd", seq=1, ts=1.0, policy_id="prefer-a", kind="bgp",
                          reason="manual", target_util=0.8, wc_before=0.5, wc_after=0.5,
                          changes=(change,))


def closed(state: State, phase: str, seq: int) -> None:
    apply(state, RolloutStep(source="shadowd", seq=seq, ts=float(seq), rollout_id="ro-a",
                             policy_id="prefer-a", segment="all",
                             phase=phase))  # type: ignore[arg-type]


async def test_the_lab_runs_the_deployed_bgp_policies_and_drops_one_rolled_back() -> None:
    plain = two_egress()
    deployed = plain.fork()
    apply(deployed, prefer_isp_a())
    closed(deployed, "completed", 2)
    running = policy_of(deployed_bgp(deployed))
    want = model_egress(deployed, running)
    assert set(want.values()) == {"r2"} != set(model_egress(plain, {}).values())

    async with running_lab(deployed, "bgpdeployed", route_maps=lab_route_maps()) as lab:
        await until_egress(lab, want, time.monotonic())
        assert lab.plan is not None
        r2 = lab.plan.routers["r2"].ns
        assert " set local-preference 200" in await vtysh(r2, "show running-config")

        later = propose_bgp(deployed, target_util=0.7, policy_id="later", reason="manual",
                            stamp=Stamp(seq=3, ts=3.0), current=running)
        assert later is not None
        before = await configs(lab)
        result = await validate_bgp_in_lab(lab, deployed, later, running, igp="ospf")
        assert result.ok, result.detail
        assert await configs(lab) == before

        assert await lab.apply(deployed) == []  # nothing to change
        rolled_back = deployed.fork()
        closed(rolled_back, "rolled_back", 4)
        assert deployed_bgp(rolled_back) == []
        assert await lab.apply(rolled_back) == ["route-maps at r2"]
        await until_egress(lab, model_egress(rolled_back, {}), time.monotonic())
        assert "set local-preference" not in await vtysh(r2, "show running-config")
