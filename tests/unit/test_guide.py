"""The guided main job, wired as the daemon wires it (every record the policies make
reaches the guide through the log's hook), on the dry run's own gates: it narrates the
loop, rolls the first proposal that meets its target out, then a deliberately bad change
that its gate rolls back, and sums up with the verdict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from shadowd.config import PolicyConfig, RolloutConfig
from shadowd.core.checks import apply_valid
from shadowd.core.conditions import Sample
from shadowd.core.events import (
    AnyEvent,
    LinkUtilization,
    PolicyChange,
    ScenarioRan,
    SpikePredicted,
)
from shadowd.core.state import State
from shadowd.drivers.dryrun import DryRunDriver
from shadowd.services.guide import Guide, Predict
from shadowd.services.monitor import ShadowMonitor
from shadowd.services.policy import Policies
from shadowd.services.recorder import Recorder
from tests.unit.test_policy_drain import squeeze_net
from tests.unit.test_policy_service import until

Logged = list[MutableMapping[str, Any]]

TELEMETRY = LinkUtilization(source="agent", seq=1, ts=1.0, link="ab", ab_bps=1.0, ba_bps=1.0)
SPIKE = SpikePredicted(source="", seq=1, ts=10.0, link="ac", direction="ab", peak_ts=900.0,
                       predicted_bps=9.0, threshold_bps=8.0, predicted_util=0.9, made_at=10.0,
                       worst_failure="link:ab", extreme_util=1.25)
RUN = ScenarioRan(source="", seq=2, ts=20.0, run_id="run-2", scenario="wc-link-ab",
                  kind="link_cut", trigger="spike:ac ab", tier="model", injected_ts=20.0,
                  worst_link="ac A->C", worst_util=1.25)


@pytest.fixture
def logged() -> Iterator[Logged]:
    with structlog.testing.capture_logs() as captured:
        yield captured


def said(logged: Logged) -> list[str]:
    return [str(e["event"]) for e in logged if e.get("component") == "guide"]


class Wired:
    """The daemon's wiring, small: the log's hook hands every record to the policies and
    the guide; the dry run's gates measure the shadow."""

    def __init__(self, state: State, out: Path, predict: Predict | None = None) -> None:
        self.state = state
        self.reports: list[Path] = []
        self.driver = DryRunDriver(out / "dry-run")
        gates = self.driver_gates = ShadowMonitor(lambda: state, self.driver.in_effect,
                                                  round_s=0.001)
        config = PolicyConfig(propose_on="scenario", feedback_after_s=3600.0,
                              rollout=RolloutConfig(rollout_percentage=50.0))
        self.recorder = Recorder(state, self.append)
        self.policies = Policies(config, state, recorder=self.recorder, driver=self.driver,
                                 monitor=gates, target=lambda: self.driver.target,
                                 running=self.driver.running, clock=lambda: 1_800_000_000.0)
        self.guide = Guide(state, self.policies, self.report, predict or gates.predict,
                           interval_s=0.01)
        self.guide_task_done: Callable[[], bool] = lambda: False

    def append(self, events: list[AnyEvent]) -> None:
        _, rejected = apply_valid(self.state, events)
        assert not rejected, rejected
        self.policies.note(events)
        self.guide.note(events)

    def record(self, event: AnyEvent) -> None:
        self.recorder.record(lambda s: msgspec.structs.replace(
            event, source=s.source, seq=s.seq, ts=s.ts), ts=event.ts)

    async def report(self) -> Path:
        self.reports.append(Path("report") / "index.html")
        return self.reports[-1]


@asynccontextmanager
async def running(state: State, out: Path,
                  predict: Predict | None = None) -> AsyncIterator[Wired]:
    wired = Wired(state, out, predict)
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(wired.policies.run()), tg.create_task(wired.guide.run())]
        wired.guide_task_done = tasks[1].done
        try:
            yield wired
        finally:
            for task in tasks:
                task.cancel()


def summary(logged: Logged) -> MutableMapping[str, Any] | None:
    return next((e for e in logged if e["event"] == "summary"), None)


async def test_a_good_policy_completes_and_a_bad_change_is_rolled_back_by_its_gate(
        tmp_path: Path, logged: Logged) -> None:
    state = squeeze_net()
    async with running(state, tmp_path) as wired:
        wired.append([TELEMETRY])
        wired.record(SPIKE)
        wired.record(RUN)  # over target: the policies propose, the guide takes it on
        await until(lambda: summary(logged) is not None)
        await until(lambda: any(t.startswith("report: file://") for t in said(logged)))
    lines = said(logged)
    assert [t.split("]")[0] for t in lines if t.startswith("[")] == [
        "[1/6 ingest", "[2/6 predict", "[3/6 scenarios", "[4/6 policy", "[5/6 rollout",
        "[6/6 rollback"]
    policies = list(state.policies.values())
    good, bad = policies
    assert good.proposal.reason.startswith("scenario:")
    assert good.proposal.wc_after <= good.proposal.target_util < good.proposal.wc_before
    assert good.status == "deployed"
    assert bad.proposal.reason.startswith("operator: a deliberately bad change: A drained")
    assert bad.status == "rolled_back"
    gates = [s for s in bad.steps if s.phase == "measured"]
    assert [s.verdict for s in gates] == ["failure"]
    assert gates[0].loss_pct >= 2.0  # the shipped failure condition
    assert gates[0].max_util > 1.0
    rollout = next(t for t in lines if t.startswith("[5/6 rollout]"))
    assert "completed" in rollout
    assert "step 1 success: max util" in rollout
    rollback = next(t for t in lines if t.startswith("[6/6 rollback]"))
    assert "rolled back" in rollback
    assert "step 1 failure" in rollback
    assert any(t.startswith(f"now a deliberately bad change, {bad.proposal.policy_id}")
               for t in lines)
    done = summary(logged)
    assert done is not None
    assert done["stages_seen"] == "6/6"
    assert done["policy"] == f"{good.proposal.policy_id}: completed"
    assert done["bad_change"] == f"{bad.proposal.policy_id}: rolled_back"
    assert wired.driver.in_effect() == list(good.proposal.changes)


async def test_the_good_policy_waits_for_an_hour_its_gate_passes(tmp_path: Path,
                                                                  logged: Logged) -> None:
    """At a surge's hour any rollout's gate would be inconclusive and hold: the guide
    waits until the shadow predicts the policy's gate to pass, then rolls it out."""
    hours: list[Sample] = [Sample(latency_ms=8.0, throughput_bps=8e9, loss_pct=1.7,
                                  max_util=1.07)]  # the surge, once; then the real gates

    async def surge_then_calm(changes: Sequence[PolicyChange]) -> Sample:
        return hours.pop() if hours else await wired.driver_gates.predict(changes)

    state = squeeze_net()
    async with running(state, tmp_path, surge_then_calm) as wired:
        wired.append([TELEMETRY])
        wired.record(SPIKE)
        wired.record(RUN)
        await until(lambda: summary(logged) is not None)
    lines = said(logged)
    waited = next(i for i, t in enumerate(lines) if "gate would not pass at this hour" in t)
    assert "max util 107%" in lines[waited]
    rolled = next(i for i, t in enumerate(lines) if t.startswith("[5/6 rollout]"))
    assert waited < rolled
    assert "completed" in lines[rolled]
    done = summary(logged)
    assert done is not None
    assert done["stages_seen"] == "6/6"


async def test_a_bad_change_that_cannot_hurt_is_not_rolled_out(tmp_path: Path,
                                                               logged: Logged) -> None:
    """At a night's trough no drain overloads anything: the guide waits for traffic that
    makes it hurt, and when the replay ends first, rolls nothing out."""
    async def calm(changes: Sequence[PolicyChange]) -> Sample:
        return Sample(latency_ms=1.0, throughput_bps=2.5, loss_pct=0.0, max_util=0.3)

    state = squeeze_net()
    async with running(state, tmp_path, calm) as wired:
        wired.append([TELEMETRY])
        wired.record(RUN)
        await until(lambda: any("would pass its gate" in t for t in said(logged)))
        wired.guide.source_finished("replay")
        await until(lambda: summary(logged) is not None)
    assert any("no drain hurts at the replay" in t for t in said(logged))
    (good,) = state.policies.values()  # no bad change proposed, none rolled out
    assert good.status == "deployed"
    done = summary(logged)
    assert done is not None
    assert done["bad_change"] == "none"
    assert done["stages_not_reached"] == ["predict", "rollback"]


async def test_the_end_of_the_replay_sums_up_what_was_reached(tmp_path: Path,
                                                              logged: Logged) -> None:
    async with running(squeeze_net(), tmp_path) as wired:
        wired.guide.source_finished("replay")
        await until(lambda: summary(logged) is not None)
    done = summary(logged)
    assert done is not None
    assert done["stages_not_reached"] == ["ingest", "predict", "scenarios", "policy",
                                          "rollout", "rollback"]
    assert done["policy"] == done["bad_change"] == "none"


async def test_a_bad_change_that_fails_to_propose_costs_the_demo_not_the_daemon(
        tmp_path: Path, logged: Logged) -> None:
    async def broken(changes: Sequence[PolicyChange]) -> Sample:
        raise RuntimeError("the model is gone")

    async with running(squeeze_net(), tmp_path, broken) as wired:
        wired.append([TELEMETRY])
        wired.record(RUN)
        await until(lambda: summary(logged) is not None)
        assert not wired.guide_task_done()
    failed = next(e for e in logged if e["event"] == "the guide's bad change failed")
    assert failed["error"] == "RuntimeError: the model is gone"
    done = summary(logged)
    assert done is not None
    assert done["bad_change"] == "none"
