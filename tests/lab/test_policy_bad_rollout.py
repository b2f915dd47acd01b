"""Must-show 2 of issue 7: a deliberately bad policy is rolled back at the first gate,
and every production router's running config is byte-identical to before.

Production is a real FRR lab (the square: r1 reaches r2 directly at 10 Mbit/s, or the
long way r1-r4-r3-r2 whose r4--r1 hop is shaped to 1 Mbit/s). The bad policy raises r1's
cost on r1--r2 so that r1's traffic to r2 takes the long way. The gate is real: an
iperf3 UDP stream r1 -> r2's loopback at 4 Mbit/s (``ProbeMonitor``). The rollout is the
real machine driven by the real shell (``RolloutRunner``) with the real FRR driver.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from shadowd.config import ProbeConfig
from shadowd.core.events import LinkCapacity, PolicyChange, PolicyProposed, RolloutStep
from shadowd.core.state import apply, fold
from shadowd.drivers.frr import FrrDriver
from shadowd.lab.lab import Lab
from shadowd.policy.actions import Journal
from shadowd.policy.rollout import Segment, deploy_policy
from shadowd.services.lab_target import LabTarget
from shadowd.services.monitor import ProbeMonitor
from shadowd.services.rollouts import RolloutRunner
from shadowd.shell import vtysh
from shadowd.topology import load_topology
from tests.lab.labs import needs_lab, running_lab

pytestmark = [*needs_lab, pytest.mark.skipif(shutil.which("iperf3") is None,
                                             reason="needs iperf3")]

SQUARE = Path(__file__).parent.parent / "data" / "topologies" / "square.toml"
BAD = PolicyProposed(source="shadowd", seq=1, ts=1.0, policy_id="bad", kind="igp_metric",
                     reason="manual", target_util=0.8, wc_before=0.5, wc_after=0.5,
                     changes=(PolicyChange(router="r1", target="r1--r2", attr="metric",
                                           old=1, new=10),))


async def running_configs(lab: Lab) -> dict[str, str]:
    assert lab.plan is not None
    return {name: await vtysh(router.ns, "show running-config")
            for name, router in sorted(lab.plan.routers.items())}


async def test_a_lossy_policy_is_rolled_back_at_the_first_gate(tmp_path: Path) -> None:
    state = fold(load_topology(SQUARE))
    apply(state, LinkCapacity(source="t", seq=1, ts=1.0, link="r4--r1", capacity_bps=1e9))
    async with running_lab(state, "bad") as lab:
        assert lab.plan is not None
        r1, r2 = lab.plan.routers["r1"], lab.plan.routers["r2"]
        before = await running_configs(lab)
        journal: list[RolloutStep] = []

        def record(entry: Journal) -> RolloutStep:
            step = entry.event(source="shadowd", seq=len(journal) + 2, ts=2.0)
            journal.append(step)
            return step

        machine = deploy_policy(BAD, Segment("west", ("r1", "r3")), 50.0, 4.0,
                                rollout_id="bad-r1", success=["loss_pct < 1"],
                                failure=["loss_pct >= 2"], driver="frr")
        monitor = ProbeMonitor([ProbeConfig(src_namespace=r1.ns, dst=r2.loopback,
                                            dst_namespace=r2.ns, offered_bps=4e6)],
                               utilisation=lambda: 0.0)
        runner = RolloutRunner(machine, BAD, driver=FrrDriver(LabTarget(lab.plan), "ospf",
                                                              tmp_path),
                               monitor=monitor, journal=record)
        outcome = await runner.run(machine.start(0.0))

        assert outcome == "rolled_back"
        phases = [(s.phase, s.step) for s in journal]
        assert phases == [("started", 0), ("applying", 1), ("applied", 1), ("measured", 1),
                          ("rolling_back", 1), ("rolled_back", 1)]
        gate = journal[3]
        assert gate.verdict == "failure"
        assert gate.loss_pct > 50.0, msgspec.structs.asdict(gate)
        assert journal[1].routers == ("r1",)  # the first step: half of the segment
        assert await running_configs(lab) == before
