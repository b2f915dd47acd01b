"""The policy service end to end on fakes of its adapters: the model validates (no lab),
the dry-run driver stands in for production, a scripted monitor for its metrics. Records
fold into the state as the daemon's ingest would, so a second service built on the same
state is a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest

from shadowd.config import PolicyConfig, RolloutConfig
from shadowd.core.checks import apply_valid
from shadowd.core.conditions import Sample
from shadowd.core.events import AnyEvent, LinkUtilization, PolicyProposed, ScenarioRan
from shadowd.core.state import State
from shadowd.drivers.dryrun import DryRunDriver
from shadowd.policy.bgp import BgpPolicy
from shadowd.policy.drain import worst_drain
from shadowd.policy.effect import gate_sample
from shadowd.services.monitor import Monitor, ShadowMonitor
from shadowd.services.policy import Policies, PolicyRefused
from shadowd.services.recorder import Recorder
from shadowd.services.validate import LabValidator
from shadowd.services.validation import Validation
from tests.unit.test_policy_generate import detour_net

GOOD = Sample(latency_ms=5.0, throughput_bps=9e6, loss_pct=0.0, max_util=0.5)
LOSSY = Sample(latency_ms=5.0, throughput_bps=2e6, loss_pct=30.0, max_util=0.5)


class ScriptedMonitor:
    """Production's metrics, one sample per gate, in order; then ``last`` forever.
    ``hang``: gates never end (a crash happens meanwhile)."""

    def __init__(self, *samples: Sample, hang: bool = False) -> None:
        self.samples, self.hang, self.gates = list(samples), hang, 0

    async def measure(self, seconds: float) -> Sample:
        self.gates += 1
        if self.hang:
            await asyncio.Event().wait()
        return self.samples.pop(0) if len(self.samples) > 1 else self.samples[0]


def config(**rollout: object) -> PolicyConfig:
    return PolicyConfig(propose_on="manual", feedback_after_s=0.0,
                        rollout=msgspec.structs.replace(
                            RolloutConfig(rollout_percentage=50.0, monitoring_interval_s=0.01),
                            **rollout))


class DivergingLab:
    """A shadow lab that is up and does not agree with the model."""

    def up(self) -> bool:
        return True

    async def validate(self, state: State, policy: PolicyProposed) -> Validation:
        return Validation(tier="lab", ok=False, wc_after=policy.wc_after, agreement=0.9,
                          loops=0, unreachable=0, steps=1, seconds=0.1,
                          detail="policy: did not converge in 60 s (90.0% agreement)")

    async def validate_bgp(self, state: State, policy: PolicyProposed,
                           current: BgpPolicy) -> Validation:
        return await self.validate(state, policy)


@asynccontextmanager
async def service(state: State, monitor: Monitor | None, out: Path,
                  cfg: PolicyConfig | None = None,
                  lab: LabValidator | None = None) -> AsyncIterator[Policies]:
    """``monitor`` None: the dry run's own gates, measuring in the shadow."""
    def append(events: list[AnyEvent]) -> None:
        _, rejected = apply_valid(state, events)
        assert not rejected, rejected

    driver = DryRunDriver(out)
    if monitor is None:
        monitor = ShadowMonitor(lambda: state, driver.in_effect, round_s=0.001)
    policies = Policies(cfg or config(), state, recorder=Recorder(state, append),
                        driver=driver, monitor=monitor, target=lambda: driver.target, lab=lab,
                        running=driver.running, clock=lambda: 1_800_000_000.0)
    worker = asyncio.create_task(policies.run())
    try:
        yield policies
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker


async def until(check: object, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if check():  # type: ignore[operator]
                return
            await asyncio.sleep(0.005)


def phases(policies: Policies, policy_id: str) -> list[str]:
    return [s.phase for s in policies.history(policy_id)]


@pytest.fixture(name="state")
def state_fixture() -> State:
    return detour_net()


async def test_propose_validate_deploy_complete_and_feed_back(state: State,
                                                              tmp_path: Path) -> None:
    async with service(state, ScriptedMonitor(GOOD), tmp_path) as policies:
        entry = await policies.propose()
        assert entry is not None
        pid = entry.proposal.policy_id
        assert entry.status == "validated"
        assert entry.validation is not None
        assert entry.validation.tier == "model"
        assert entry.proposal.wc_after <= 0.8 < entry.proposal.wc_before
        await policies.deploy(pid)
        await until(lambda: policies.entry(pid).feedback is not None)
        assert policies.entry(pid).status == "deployed"
        assert phases(policies, pid)[0] == "started"
        assert phases(policies, pid)[-1] == "completed"
        assert "measured" in phases(policies, pid)
        assert (tmp_path / pid).is_dir()  # the dry run wrote what it would apply


async def test_feedback_changes_the_next_proposals_demand_scale(state: State,
                                                                tmp_path: Path) -> None:
    async with service(state, ScriptedMonitor(GOOD), tmp_path) as policies:
        entry = await policies.propose()
        assert entry is not None
        pid = entry.proposal.policy_id
        # production's counters: twice what the model predicts on the busiest link
        apply_valid(state, [LinkUtilization(source="agent", seq=1, ts=1.0, link="ab",
                                            ab_bps=2 * 9.0, ba_bps=0.0)])
        await policies.deploy(pid)
        await until(lambda: policies.entry(pid).feedback is not None)
        feedback = policies.entry(pid).feedback
        assert feedback is not None
        assert feedback.observed_util > feedback.predicted_util
        assert state.demand_scale == pytest.approx(feedback.demand_scale)
        assert state.demand_scale > 1.0
        second = await policies.propose("cycle 2")
        assert second is not None
        assert second.proposal.demand_scale == pytest.approx(state.demand_scale)


async def test_a_lossy_gate_rolls_back_and_restores_exactly(state: State,
                                                            tmp_path: Path) -> None:
    async with service(state, ScriptedMonitor(LOSSY), tmp_path) as policies:
        entry = await policies.propose()
        assert entry is not None
        pid = entry.proposal.policy_id
        driver = policies._driver
        assert isinstance(driver, DryRunDriver)
        before = dict(driver.configs)
        await policies.deploy(pid)
        await until(lambda: policies.entry(pid).status == "rolled_back")
        assert phases(policies, pid)[-2:] == ["rolling_back", "rolled_back"]
        measured = [s for s in policies.history(pid) if s.phase == "measured"]
        assert [s.verdict for s in measured] == ["failure"]
        assert {r: driver.configs.get(r, "") for r in before} == before
        assert all(text == "" for text in driver.configs.values())


async def test_dry_run_gates_measure_what_the_shadow_predicts_for_each_step(
        state: State, tmp_path: Path) -> None:
    """No production to watch: each gate is the model with the steps so far applied. A
    good policy passes them all; the worst drain fails its first and is rolled back."""
    async with service(state, None, tmp_path) as policies:
        entry = await policies.propose()
        assert entry is not None
        good = entry.proposal
        await policies.deploy(good.policy_id)
        await until(lambda: policies.entry(good.policy_id).feedback is not None)
        assert policies.entry(good.policy_id).status == "deployed"
        measured = [s for s in policies.history(good.policy_id) if s.phase == "measured"]
        assert [s.verdict for s in measured] == ["success"] * len(measured)
        last = gate_sample(state, good.changes, 1.0)
        assert measured[-1].max_util == pytest.approx(last.max_util)
        assert measured[-1].latency_ms == pytest.approx(last.latency_ms)
        assert measured[-1].throughput_bps == pytest.approx(last.throughput_bps)

        # a drain of A at twice the traffic: A->B squeezed onto the thin A-C
        state.demand_scale = 2.0
        drain = worst_drain(state, max_metric=policies.max_cost, demand_scale=2.0)
        assert drain is not None
        bad = await policies.propose("drain", [(c.router, c.target, c.new)
                                               for c in drain.changes])
        assert bad is not None
        await policies.deploy(bad.proposal.policy_id)
        await until(lambda: policies.entry(bad.proposal.policy_id).status == "rolled_back")
        gate = next(s for s in policies.history(bad.proposal.policy_id)
                    if s.phase == "measured")
        assert gate.verdict == "failure"
        assert gate.loss_pct == pytest.approx(drain.predicted.loss_pct)
        assert gate.loss_pct >= 2.0
        driver = policies._driver
        assert isinstance(driver, DryRunDriver)
        assert driver.in_effect() == list(good.changes)  # the drain restored, the good kept


async def test_an_inconclusive_gate_holds_until_the_operator_decides(state: State,
                                                                     tmp_path: Path) -> None:
    grey = Sample(latency_ms=5.0, throughput_bps=9e6, loss_pct=1.5, max_util=0.5)
    async with service(state, ScriptedMonitor(grey, GOOD), tmp_path) as policies:
        entry = await policies.propose()
        assert entry is not None
        pid = entry.proposal.policy_id
        with pytest.raises(PolicyRefused, match="no rollout running"):
            policies.approve(pid)
        await policies.deploy(pid)
        await until(lambda: policies.entry(pid).status == "held")
        with pytest.raises(PolicyRefused, match="is held"):
            await policies.deploy(pid)
        policies.approve(pid)
        await until(lambda: policies.entry(pid).status == "deployed")
        assert "approved" in phases(policies, pid)


async def test_a_restart_mid_rollout_recovers_from_the_journal(state: State,
                                                               tmp_path: Path) -> None:
    async with service(state, ScriptedMonitor(GOOD, hang=True), tmp_path) as policies:
        entry = await policies.propose()
        assert entry is not None
        pid = entry.proposal.policy_id
        await policies.deploy(pid)
        await until(lambda: "applied" in phases(policies, pid))
    # the worker died mid-gate: the log holds an open rollout
    assert state.open_rollouts
    async with service(state, ScriptedMonitor(GOOD), tmp_path) as again:
        await until(lambda: again.entry(pid).status in ("deployed", "rolled_back"))
        resumed = [s for s in again.history(pid) if s.phase == "resumed"]
        assert len(resumed) == 1
        assert resumed[0].detail
        assert state.open_rollouts == {}


async def test_nothing_to_propose_when_under_target(state: State, tmp_path: Path) -> None:
    cfg = msgspec.structs.replace(config(), target_util=5.0)
    async with service(state, ScriptedMonitor(GOOD), tmp_path, cfg) as policies:
        assert await policies.propose() is None
        assert policies.entries() == []


async def test_an_overloaded_scenario_run_triggers_a_proposal(state: State,
                                                              tmp_path: Path) -> None:
    cfg = msgspec.structs.replace(config(), propose_on="scenario")
    run = ScenarioRan(source="shadowd", seq=1, ts=100.0, run_id="run-1", scenario="wc-link-ab",
                      kind="link_cut", trigger="spike:ac ab", tier="model", injected_ts=100.0,
                      worst_util=0.95)
    async with service(state, ScriptedMonitor(GOOD), tmp_path, cfg) as policies:
        policies.note([run, msgspec.structs.replace(run, seq=2, ts=200.0)])
        await until(lambda: len(policies.entries()) == 1)
        assert policies.entries()[0].proposal.reason.startswith("scenario:wc-link-ab")


async def test_an_operators_own_change_is_assessed_and_validated(state: State,
                                                                 tmp_path: Path) -> None:
    async with service(state, ScriptedMonitor(GOOD), tmp_path) as policies:
        entry = await policies.propose("try it", metrics=[("A", "ac", 7)])
        assert entry is not None
        proposal = entry.proposal
        assert proposal.reason == "operator: try it"
        assert [(c.router, c.target, c.old, c.new) for c in proposal.changes] == [
            ("A", "ac", 1, 7)]
        assert proposal.wc_before == pytest.approx(0.95)
        assert entry.status == "validated"
        with pytest.raises(PolicyRefused, match="not an end of link 'ac'"):
            await policies.propose(metrics=[("B", "ac", 7)])
        with pytest.raises(PolicyRefused, match="outside 1-65535"):
            await policies.propose(metrics=[("A", "ac", 70_000)])
        with pytest.raises(PolicyRefused, match="no link 'zz'"):
            await policies.propose(metrics=[("A", "zz", 7)])


async def test_a_change_proposed_for_the_model_skips_the_lab(state: State,
                                                             tmp_path: Path) -> None:
    """The lab is up (and would refuse it); ``in_lab=False`` proves it in the model."""
    async with service(state, ScriptedMonitor(GOOD), tmp_path, lab=DivergingLab()) as policies:
        in_lab = await policies.propose("try it", metrics=[("A", "ac", 7)])
        in_model = await policies.propose("try it", metrics=[("A", "ac", 7)], in_lab=False)
    assert in_lab is not None
    assert in_lab.validation is not None
    assert (in_lab.validation.tier, in_lab.validation.ok) == ("lab", False)
    assert in_model is not None
    assert in_model.validation is not None
    assert (in_model.validation.tier, in_model.validation.ok) == ("model", True)
