"""The predictor service, with small fakes of its adapters: telemetry in at log time,
spike records, the extreme case and its alert, pre-spike runs, manual runs, the lab."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import msgspec
import numpy as np
import pytest
import structlog

from shadowd.config import PredictConfig
from shadowd.core.errors import NotFound
from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    Direction,
    LinkUtilization,
    ScenarioRan,
    SpikePredicted,
)
from shadowd.core.state import State, fold
from shadowd.ingest.pipeline import Ingest
from shadowd.lab.plan import LabSettings
from shadowd.predict.extreme import LinkView, WorstCases, analyse
from shadowd.predict.watch import SpikeWatch
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import LabResult, LabStep, Probe, ScenarioResult
from shadowd.scenario.run import run_model
from shadowd.services.mirror import LabMirror
from shadowd.services.predictor import Predictor
from shadowd.services.recorder import Recorder
from tests.alerts import assert_alert
from tests.predict_world import SHORT, STEP, T0, triangle
from tests.unit.test_lab_mirror import FakeLab as MirrorFakeLab
from tests.unit.test_lab_mirror import Model as MirrorModel
from tests.unit.test_lab_mirror import World as MirrorWorld
from tests.unit.test_lab_mirror import until

CONFIG = PredictConfig(threshold_util=0.8, horizon_s=1800.0, lead_s=900.0,
                       check_every_s=300.0, surge_factor=2.0, max_runs_per_spike=3)
RAMP_FROM = 60  # samples: flat at 30% for five seasons, then a ramp toward 100%+


class FakeCommitter:
    def __init__(self) -> None:
        self.durable_lsn = 0
        self.events: list[AnyEvent] = []

    def enqueue(self, events: Sequence[AnyEvent]) -> None:
        self.events.extend(events)
        self.durable_lsn += len(events)

    async def wait_durable(self, lsn: int) -> None:
        return None


class FakeModel:
    """Canned worst cases for spikes; the real analysis for ``shadowctl forecast``."""

    def __init__(self, state: State, *, worst: str = "link:a--c") -> None:
        self.state, self.worst = state, worst
        self.calls: list[tuple[int, list[tuple[str, Direction]]]] = []

    async def views(self, state: State,
                    keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
        self.calls.append((state.lsn, list(keys)))
        return [LinkView(link=k, direction=d, capacity_bps=1e9, load_bps=0.3e9,
                         wc_load_bps=0.7e9, worst_failure=self.worst, srlgs=(),
                         heaviest_dst="b") for k, d in keys]

    async def worst_cases(self) -> WorstCases:
        return analyse(self.state)[1]


class FakeLab:
    def __init__(self) -> None:
        self.is_up = True
        self.runs: list[tuple[str, float]] = []

    def up(self) -> bool:
        return self.is_up

    async def run(self, scenario: Scenario, state: State, ts: float,
                  model: ScenarioResult) -> LabResult | None:
        if not self.is_up:
            return None
        self.runs.append((scenario.name, ts))
        probe = Probe(src="a", dst="b", rtt_ms=4.0, rtt_mdev_ms=0.1, ping_loss_pct=0.0)
        slow = msgspec.structs.replace(probe, rtt_ms=10.0, udp_loss_pct=2.5)
        return LabResult(
            scenario=scenario.name, kind=scenario.kind, lab_id="fake", started_ts=ts,
            baseline_agreement=1.0, baseline=[probe], restored=True,
            steps=[LabStep(at_s=0.0, ts=ts, label="cut", changes=["link a--c down"],
                           converged=True, seconds=1.5, routes=6, agreement=1.0,
                           differences=0, probes=[slow])])


async def _model_now(scenario: Scenario, state: State, ts: float) -> ScenarioResult:
    return run_model(scenario, state, ts=ts)


class World:
    """A state fed through a real ``Ingest`` (a fake committer), and the predictor on it."""

    def __init__(self, tmp: Path, *, config: PredictConfig = CONFIG,
                 lab: FakeLab | None = None, state: State | None = None,
                 watch: SpikeWatch | None = None) -> None:
        """``state`` and ``watch``: as recovery left them (default: a first start)."""
        self.state = state if state is not None else fold(triangle(demands=True))
        self.committer = FakeCommitter()
        self.ingest = Ingest(self.state, self.committer, max_in_flight=10**9,
                             on_accepted=self._accepted)
        self.model = FakeModel(self.state)
        self.predictor = Predictor(config, self.state, recorder=Recorder(self.state, self._append),
                                   model=self.model, lab=lab, scenarios_dir=tmp,
                                   run_model=_model_now, params=SHORT, watch=watch)
        collector = self.state.sources.get("collector")
        self.seq = collector.seq if collector is not None else 0
        self.rng = np.random.default_rng(7)

    def _accepted(self, events: list[AnyEvent]) -> None:
        self.predictor.note(events)

    def _append(self, events: list[AnyEvent]) -> None:  # as the daemon does: through ingest
        self.ingest.offer(events)

    def step(self, k: int) -> None:
        """Telemetry sample ``k``: a--b a->b flat at 30%, ramping from ``RAMP_FROM``."""
        load = 0.3e9 * (1 + 0.02 * float(self.rng.normal()))
        if k >= RAMP_FROM:
            load = 0.3e9 + (k - RAMP_FROM + 1) * 0.08e9
        batch: list[AnyEvent] = []
        for link, ab in (("a--b", load), ("b--c", 0.1e9), ("a--c", 0.05e9)):
            self.seq += 1
            batch.append(LinkUtilization(source="collector", seq=self.seq, ts=T0 + k * STEP,
                                         link=link, ab_bps=ab, ba_bps=0.05e9))
        self.ingest.offer(batch)

    def records(self) -> list[AnyEvent]:
        return [e for e in self.committer.events if e.source == DAEMON_SOURCE]


@pytest.fixture(autouse=True)
def _logs_captured() -> Iterator[None]:
    # Log lines go to structlog's capture, not to a stream an earlier test may have closed.
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path)
    async with _workers(w):
        yield w


class _workers:
    def __init__(self, w: World) -> None:
        self.w = w
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> _workers:
        self.tasks = [asyncio.create_task(self.w.predictor.run()),
                      asyncio.create_task(self.w.predictor.run_lab())]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _feed(w: World, until: int) -> None:
    for k in range(until):
        w.step(k)
    await w.predictor.settle()


async def test_a_spike_is_logged_with_its_extreme_case_then_its_scenarios_run_before_it(
        world: World) -> None:
    with structlog.testing.capture_logs() as logged:
        await _feed(world, RAMP_FROM + 12)
    spikes = [e for e in world.records() if isinstance(e, SpikePredicted)]
    assert [(s.link, s.direction) for s in spikes] == [("a--b", "ab")]
    spike = spikes[0]
    assert spike.ts == spike.made_at
    assert spike.peak_ts > spike.made_at
    assert spike.predicted_util > 0.8
    assert spike.threshold_bps == 0.8e9
    observed = 0.3e9 + (round((spike.made_at - T0) / STEP) - RAMP_FROM + 1) * 0.08e9
    assert spike.factor == pytest.approx(spike.predicted_bps / observed)
    assert spike.worst_failure == "link:a--c"
    assert spike.extreme_util == pytest.approx(0.7 * spike.factor)
    assert world.model.calls == [(spike.at_lsn, [("a--b", "ab")])]

    runs = [e for e in world.records() if isinstance(e, ScenarioRan)]
    assert [(r.scenario, r.kind) for r in runs] == [("wc-link-a--c", "link_cut"),
                                                    ("surge-b", "surge")]
    for run in runs:
        assert run.trigger == "spike:a--b ab"
        assert run.tier == "model"
        assert not run.error
        assert run.spike_seq == spike.seq
        assert run.spike_ts == spike.peak_ts
        assert run.injected_ts == spike.peak_ts - CONFIG.lead_s  # samples are 300 s apart
        assert run.injected_ts < spike.peak_ts
        assert run.at_lsn > spike.at_lsn
        # scaled from the load at injection (the ramp went on) to the predicted peak
        at_injection = 0.3e9 + (round((run.injected_ts - T0) / STEP) - RAMP_FROM + 1) * 0.08e9
        assert run.factor == pytest.approx(spike.predicted_bps / at_injection)
    # every demand x factor: a->b's 0.3 Gbit/s stays on a--b when a--c is cut, and the
    # surge toward b (x2 on top) doubles it
    assert runs[0].worst_util == pytest.approx(0.3 * runs[0].factor)
    assert runs[1].worst_util == pytest.approx(0.6 * runs[1].factor)
    assert runs[1].worst_link == "a--b a->b"

    alerts = [x for x in logged if x.get("kind") == "predicted_overload"]
    assert len(alerts) == 1
    assert_alert(logged, "predicted_overload", link="a--b", direction="ab",
                 worst_failure="link:a--c", predicted_util=round(spike.predicted_util, 3))
    assert alerts[0]["link"] == "a--b"
    assert alerts[0]["worst_failure"] == "link:a--c"
    assert {x["event"] for x in logged} >= {"spike predicted", "scenario run"}
    assert world.predictor.counters.spikes == 1
    assert world.predictor.counters.runs == 2


async def test_records_carry_the_daemon_source_and_follow_its_position(tmp_path: Path) -> None:
    state = fold(triangle(demands=True))
    fold([SpikePredicted(source=DAEMON_SOURCE, seq=41, ts=T0, link="a--b", direction="ab",
                         peak_ts=T0 + 600, predicted_bps=0.9e9, threshold_bps=0.8e9,
                         predicted_util=0.9, made_at=T0)], state)
    w = World(tmp_path, state=state)
    async with _workers(w):
        await _feed(w, RAMP_FROM + 12)
    seqs = [e.seq for e in w.records()]
    assert seqs == list(range(42, 42 + len(seqs)))
    assert len(seqs) == 3
    assert w.state.sources[DAEMON_SOURCE].seq == seqs[-1]  # folded like any event
    assert w.state.sources["collector"].ts == T0 + (RAMP_FROM + 11) * STEP


async def test_records_do_not_move_the_log_clock(world: World) -> None:
    await _feed(world, 3)
    clock = world.predictor.feed.clock
    world.ingest.offer([SpikePredicted(source=DAEMON_SOURCE, seq=1, ts=T0 + 10**6, link="a--b",
                                       direction="ab", peak_ts=T0 + 10**6,
                                       predicted_bps=1.0, threshold_bps=1.0, predicted_util=1.0,
                                       made_at=T0 + 10**6)])
    assert world.predictor.feed.clock == clock == T0 + 2 * STEP


async def test_a_scenario_that_does_not_fit_is_recorded_as_failed_and_the_others_run(
        world: World) -> None:
    world.model.worst = "link:nowhere"
    await _feed(world, RAMP_FROM + 12)
    runs = [e for e in world.records() if isinstance(e, ScenarioRan)]
    assert [(r.scenario, bool(r.error)) for r in runs] == [("wc-link-nowhere", True),
                                                           ("surge-b", False)]
    assert "unknown link 'nowhere'" in runs[0].error


async def test_runs_go_to_the_lab_too_when_it_is_up(tmp_path: Path) -> None:
    lab = FakeLab()
    w = World(tmp_path, lab=lab)
    async with _workers(w):
        await _feed(w, RAMP_FROM + 12)
    runs = [e for e in w.records() if isinstance(e, ScenarioRan)]
    lab_runs = [r for r in runs if r.tier == "lab"]
    assert [r.scenario for r in lab_runs] == ["wc-link-a--c", "surge-b"]
    model = {r.scenario: r for r in runs if r.tier == "model"}
    for r in lab_runs:
        assert r.injected_ts == model[r.scenario].injected_ts
        assert r.trigger == "spike:a--b ab"
        assert r.converged
        assert r.converge_s == 1.5
        assert r.latency_before_ms == 2.0
        assert r.latency_after_ms == 5.0
        assert r.max_loss_pct == 2.5
    assert w.predictor.counters.lab_runs == 2


async def test_no_lab_runs_while_the_lab_is_down(tmp_path: Path) -> None:
    lab = FakeLab()
    lab.is_up = False
    w = World(tmp_path, lab=lab)
    async with _workers(w):
        await _feed(w, RAMP_FROM + 12)
    assert {e.tier for e in w.records() if isinstance(e, ScenarioRan)} == {"model"}


async def test_predictions_can_be_turned_off(tmp_path: Path) -> None:
    w = World(tmp_path, config=msgspec.structs.replace(CONFIG, enabled=False))
    async with _workers(w):
        await _feed(w, RAMP_FROM + 12)
    assert w.records() == []


# --- manual runs and the library -----------------------------------------------------------


def _library(directory: Path) -> None:
    (directory / "cut-ac.toml").write_text(
        'name = "cut-ac"\nkind = "link_cut"\nlink = "a--c"\nduration_s = 600\n')
    (directory / "broken.toml").write_text(
        'name = "broken"\nkind = "link_cut"\nlink = "a--c"\nduration_s = -5\n')
    (directory / "ghost.yaml").write_text(
        "name: ghost\nkind: router_failure\nrouter: zz\nduration_s: 60\n")


async def test_a_broken_file_costs_only_itself_and_says_where(world: World,
                                                              tmp_path: Path) -> None:
    _library(tmp_path)
    library = await world.predictor.library()
    assert library.names == ["cut-ac"]
    problems = {Path(e.file).name: e for e in library.errors}
    assert problems["broken.toml"].line == 4
    assert problems["broken.toml"].key == "$.duration_s"
    assert problems["ghost.yaml"].line == 3
    assert "unknown router 'zz'" in str(problems["ghost.yaml"])


async def test_a_manual_run_is_recorded_with_its_trigger(world: World, tmp_path: Path) -> None:
    _library(tmp_path)
    await _feed(world, 3)
    run = await world.predictor.run_manual("cut-ac")
    assert run.lab is None
    assert run.lab_error == ""
    record = run.model
    assert (record.scenario, record.trigger, record.tier) == ("cut-ac", "manual", "model")
    assert record.injected_ts == T0 + 2 * STEP
    assert record.spike_ts is None
    assert record.factor == 1.0
    assert record.at_lsn == world.state.lsn - 1
    assert world.records()[-1] == record
    assert list(world.predictor.runs) == [record]


async def test_manual_run_errors_are_clear(world: World, tmp_path: Path) -> None:
    _library(tmp_path)
    with pytest.raises(NotFound, match=r"no scenario 'nope' in .*; known: cut-ac, ghost; 1 fi"):
        await world.predictor.run_manual("nope")
    with pytest.raises(ScenarioError, match=r"ghost.yaml:3: \$.router: unknown router 'zz'"):
        await world.predictor.run_manual("ghost")
    assert world.records() == []


async def test_a_manual_lab_run(tmp_path: Path) -> None:
    _library(tmp_path)
    w = World(tmp_path, lab=FakeLab())
    run = await w.predictor.run_manual("cut-ac", lab=True)
    assert run.lab is not None
    assert run.lab.tier == "lab"
    assert run.lab.trigger == "manual"
    w2 = World(tmp_path)
    assert (await w2.predictor.run_manual("cut-ac", lab=True)).lab_error == \
        "this shadowd has no lab"


# --- the forecast table ---------------------------------------------------------------------


async def test_the_forecast_table_has_historical_normal_and_extreme_levels(
        world: World) -> None:
    await _feed(world, RAMP_FROM + 2)
    rows = await world.predictor.forecast(None, top=2)
    top = rows[0]
    assert (top.link, top.direction, top.src, top.dst) == ("a--b", "ab", "a", "b")
    assert top.ready
    assert top.observed_bps == pytest.approx(0.46e9)
    assert top.recent_max_bps == pytest.approx(0.46e9)
    assert top.upper_bps is not None
    assert top.normal_bps is not None
    assert top.upper_bps > top.normal_bps
    assert top.peak_ts is not None
    assert top.factor == pytest.approx(top.upper_bps / 0.46e9)
    assert top.wc_failure == "link:b--c"  # c->b's demand comes over a--b when b--c fails
    assert top.wc_load_bps == pytest.approx(0.4e9)
    assert top.extreme_bps == pytest.approx(top.wc_load_bps * top.factor)
    assert len(rows) == 2
    assert rows[0].extreme_util >= rows[1].extreme_util
    assert {r.direction for r in await world.predictor.forecast("b--c", top=10)} == {"ab", "ba"}
    with pytest.raises(NotFound, match="unknown link 'x--y'"):
        await world.predictor.forecast("x--y", top=1)


# --- the lab mirror's exclusive use ---------------------------------------------------------


async def test_a_lab_run_has_the_lab_to_itself_then_the_mirror_follows_the_log() -> None:
    lab_world, model = MirrorWorld(), MirrorModel()
    mirror = LabMirror(LabSettings(lab_id="t"), model.read, enabled=True,
                       make_lab=lambda s: MirrorFakeLab(s, lab_world), check=lambda: None)

    async def use(lab: MirrorFakeLab) -> str:
        mirror.note(model.link("a-b", up=False))  # the log moves on during the run ...
        await asyncio.sleep(0)
        assert lab_world.applies == []  # ... and the mirror waits for the run to end
        return f"ran on {lab.settings.lab_id}"

    assert await mirror.run_exclusive(use) is None  # not up: nothing runs
    task = asyncio.create_task(mirror.run())
    try:
        await until("the lab up", lambda: mirror.status().lab.up)
        assert await mirror.run_exclusive(use) == "ran on t"
        await until("the latest state applied", lambda: lab_world.applies == [model.state.lsn])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
