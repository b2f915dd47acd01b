"""Scenarios in the model tier: what each step does to loads, latency, loss and reachability,
against the baseline, without touching the state it was given, the same every time; and
the diff of a model run against a lab run."""

from __future__ import annotations

import math

import msgspec
import pytest

from shadowd.core.state import State, digest
from shadowd.scenario.diff import diff
from shadowd.scenario.library import Scenario, parse_text
from shadowd.scenario.results import LabResult, LabStep, Probe, ScenarioResult
from shadowd.scenario.run import run_model
from shadowd.scenario.spec import LinkCutScenario, RouterFailureScenario, SurgeScenario
from tests.fakes.engine import L, build


def square() -> State:
    """A-B direct (1 ms) or the long way A-D-C-B (2 ms a hop); 100 bit/s links."""
    return build([L("ab", "A", "B", metric=1, delay_ms=1.0),
                  L("ad", "A", "D", metric=1, delay_ms=2.0),
                  L("dc", "D", "C", metric=1, delay_ms=2.0),
                  L("cb", "C", "B", metric=1, delay_ms=2.0)],
                 [("A", "B", 40.0), ("D", "C", 10.0)])


def line() -> State:
    """A - B - C, 100 bit/s each way; A->C 50 and B->C 20 cross B-C, C->A goes back."""
    return build([L("ab", "A", "B"), L("bc", "B", "C")],
                 [("A", "C", 50.0), ("B", "C", 20.0), ("C", "A", 30.0)])


def cut(link: str = "ab") -> Scenario:
    return Scenario(spec=LinkCutScenario(name="cut", link=link, duration_s=60.0))


def test_a_link_cut_moves_the_load_and_raises_latency() -> None:
    result = run_model(cut(), square(), ts=1000.0)
    base, down, up = result.baseline, *result.steps
    assert (down.label, down.at_s, down.ts) == ("link ab down", 0.0, 1000.0)
    assert (up.label, up.at_s, up.ts) == ("link ab up", 60.0, 1060.0)
    assert base.worst_link is not None
    assert base.worst_link.name == "ab A->B"
    assert down.worst_link is not None
    assert down.worst_link.utilization == pytest.approx(0.5)
    assert {x.name for x in down.overloaded} == set()
    [moved] = result.worst_by_latency
    assert (moved.src, moved.dst, moved.at_s) == ("A", "B", 0.0)
    assert (moved.baseline_latency_ms, moved.latency_ms) == (1.0, 6.0)
    assert moved.latency_increase_ms == pytest.approx(5.0)
    assert result.worst_by_loss == []
    assert down.mean_latency_ms > base.mean_latency_ms
    assert down.routes_changed > 0
    assert up.routes_changed == 0
    assert up.mean_latency_ms == base.mean_latency_ms
    # tracked: the demand that got slower, then the heaviest others (D->C: 2 ms either way)
    assert [(s.src, s.dst, s.latency_ms) for s in down.tracked] == [("A", "B", 6.0),
                                                                    ("D", "C", 2.0)]
    assert [(s.src, s.dst, s.latency_ms) for s in base.tracked] == [("A", "B", 1.0),
                                                                    ("D", "C", 2.0)]
    assert result.restored
    assert (result.unreachable, result.max_loss_pct) == (0, 0.0)


def test_a_surge_over_capacity_loses_traffic_on_the_links_it_crosses() -> None:
    surge = Scenario(spec=SurgeScenario(name="flood", target="C", sources=["A"], rate=100.0,
                                        duration_s=60.0))
    result = run_model(surge, line())
    flood = result.steps[0]
    assert flood.label == "1 demand toward C at 150bit/s in all"
    assert [x.name for x in flood.overloaded] == ["bc B->C", "ab A->B"]
    assert flood.overloaded[0].utilization == pytest.approx(1.7)
    assert result.newly_overloaded == ["ab A->B", "bc B->C"]
    assert result.worst_link is not None
    assert result.worst_link.name == "bc B->C"
    samples = {(s.src, s.dst): s for s in flood.tracked}
    # A->C crosses A->B (150 offered on 100) then B->C (170 on 100): each keeps its share
    survive = (100 / 150) * (100 / 170)
    assert samples[("A", "C")].delivered_bps == pytest.approx(150 * survive)
    assert samples[("B", "C")].loss_pct == pytest.approx(100 * (1 - 100 / 170))
    assert samples[("C", "A")].loss_pct == 0.0  # tracked as a heavy demand: nothing lost
    assert ("C", "A") not in {(d.src, d.dst) for d in result.worst_by_loss}
    assert result.tracked_pairs == [("A", "C"), ("B", "C"), ("C", "A")]
    worst = result.worst_by_loss[0]
    assert (worst.src, worst.dst, worst.baseline_loss_pct) == ("A", "C", 0.0)
    assert worst.lost_bps_increase == pytest.approx(150 * (1 - survive))
    offered = 150 + 20 + 30
    lost = 150 * (1 - survive) + 20 * (1 - 100 / 170)
    assert flood.loss_pct == pytest.approx(100 * lost / offered)
    assert result.max_loss_pct == flood.loss_pct
    assert result.steps[-1].loss_pct == 0.0
    assert result.restored


def test_a_router_failure_makes_its_demands_unreachable() -> None:
    result = run_model(Scenario(spec=RouterFailureScenario(name="b", router="B",
                                                           duration_s=5.0)), line())
    down = result.steps[0]
    assert down.unreachable == 3  # every demand here crosses or ends at B
    assert down.delivered_bps == 0.0
    assert result.unreachable == 3
    assert math.isclose(result.max_loss_pct, 100.0)
    assert {(d.src, d.dst) for d in result.worst_by_loss} == {("A", "C"), ("B", "C"),
                                                              ("C", "A")}
    assert all(s.latency_ms is None for s in down.tracked)
    assert result.steps[1].unreachable == 0


def test_the_state_passed_in_is_not_changed() -> None:
    state = square()
    before = digest(state)
    custom = parse_text(
        'name = "all"\nkind = "custom"\n'
        '[[steps]]\nat_s = 0\nkind = "surge"\ntarget = "B"\nfactor = 4\nduration_s = 30\n'
        '[[steps]]\nat_s = 5\nkind = "capacity_degradation"\nlink = "cb"\nfactor = 0.1\n'
        'duration_s = 10\n'
        '[[steps]]\nat_s = 10\nkind = "router_failure"\nrouter = "D"\nduration_s = 5\n',
        "toml")
    result = run_model(custom, state)
    assert digest(state) == before
    assert result.restored
    assert [s.at_s for s in result.steps] == [0.0, 5.0, 10.0, 15.0, 30.0]


def test_runs_are_deterministic() -> None:
    custom = parse_text(
        'name = "mix"\nkind = "custom"\n'
        '[[steps]]\nat_s = 0\nkind = "link_flap"\nlink = "ab"\nperiod_s = 10\ncount = 3\n'
        '[[steps]]\nat_s = 5\nkind = "surge"\ntarget = "B"\nrate = 300\nramp_s = 8\n'
        'duration_s = 20\n', "toml")
    first = msgspec.json.encode(run_model(custom, square(), ts=5.0))
    again = msgspec.json.encode(run_model(custom, square(), ts=5.0))
    assert first == again


# --- the model against the lab (diff is pure: lab results are built here) ----------------


def lab_of(model: ScenarioResult, probes: list[list[Probe]], *, agreement: float = 1.0,
           ) -> LabResult:
    """A lab run of ``model``'s timeline: ``probes[0]`` at baseline, then one per step."""
    steps = [LabStep(at_s=s.at_s, ts=s.ts, label=s.label, changes=[], converged=True,
                     seconds=0.1, routes=12, agreement=agreement, differences=0,
                     probes=found) for s, found in zip(model.steps, probes[1:], strict=True)]
    return LabResult(scenario=model.scenario, kind=model.kind, lab_id="t", started_ts=0.0,
                     baseline_agreement=1.0, baseline=probes[0], steps=steps, restored=True)


def echo(src: str, dst: str, rtt: float | None, loss: float = 0.0) -> Probe:
    return Probe(src=src, dst=dst, rtt_ms=rtt, rtt_mdev_ms=0.01 if rtt else None,
                 ping_loss_pct=100.0 if rtt is None else loss)


def test_diff_agrees_when_the_lab_shows_what_the_model_predicts() -> None:
    model = run_model(cut(), square())  # A->B: 1 ms, then 6 ms the long way, then 1 ms
    lab = lab_of(model, [[echo("A", "B", 2.1)], [echo("A", "B", 12.3)], [echo("A", "B", 2.0)]])
    tiers = diff(model, lab)
    assert tiers.agree
    assert tiers.findings == []
    assert tiers.counts == {"routes": {"agree": 2}, "reachability": {"agree": 2},
                            "latency": {"agree": 2}, "loss": {"agree": 2}}


def test_diff_names_routes_reachability_and_directions_that_disagree() -> None:
    model = run_model(cut(), square())
    lab = lab_of(model, [[echo("A", "B", 2.1)], [echo("A", "B", None)], [echo("A", "B", 9.0)]],
                 agreement=0.75)
    tiers = diff(model, lab)
    assert not tiers.agree
    assert not tiers.routes_agree
    found = {(c.at_s, c.aspect): c for c in tiers.findings}
    assert found[(0.0, "routes")].lab == "75.0% of 12 routes after 0.1 s"
    assert found[(0.0, "reachability")].verdict == "disagree"  # model: rerouted; lab: no echo
    assert found[(60.0, "latency")].verdict == "disagree"  # flat vs up (2.1 -> 9 ms)


def test_diff_is_inconclusive_where_the_lab_cannot_show_the_model() -> None:
    surge = Scenario(spec=SurgeScenario(name="flood", target="C", sources=["A"], rate=100.0,
                                        duration_s=60.0))
    model = run_model(surge, line())  # A->C loses 60%; latencies are all 0 in this line
    quiet = [echo("A", "C", 0.05), echo("B", "C", 0.05), echo("C", "A", 0.05)]
    tiers = diff(model, lab_of(model, [quiet, quiet, quiet]))
    assert tiers.agree
    [why] = {c.why for c in tiers.findings}
    assert "demand matrix" in why
    assert {(c.pair, c.aspect, c.verdict) for c in tiers.findings} == {
        ("A->C", "loss", "inconclusive"), ("B->C", "loss", "inconclusive")}
    delayed = build([L("ab", "A", "B", delay_ms=10.0), L("ad", "A", "D", delay_ms=10.0),
                     L("db", "D", "B", delay_ms=10.0)], [("A", "B", 1.0)])
    model = run_model(cut(), delayed)  # 10 ms, then 20 ms; a lab without delay sees 0.05
    flat = [echo("A", "B", 0.05)]
    [finding] = diff(model, lab_of(model, [flat, flat, flat])).findings
    assert (finding.aspect, finding.verdict) == ("latency", "inconclusive")
    assert "does not emulate link delay" in finding.why
