"""Surges in generated traces, and the spike episodes that are the backtest's ground truth."""

from __future__ import annotations

import pytest

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
)
from shadowd.core.state import State
from shadowd.traffic.episodes import EpisodeFinder, ground_truth
from shadowd.traffic.trace import (
    TRACE_EPOCH,
    Surge,
    TraceSpec,
    diurnal,
    footprint,
    generate,
    surges,
)


def topology() -> list[AnyEvent]:
    events: list[AnyEvent] = [RouterAdded(source="t", seq=i + 1, ts=0.0, router=r)
                              for i, r in enumerate("abc")]
    events += [LinkAdded(source="t", seq=4, ts=0.0, link="ab", a="a", b="b", metric=1,
                         capacity_bps=1.0),
               LinkAdded(source="t", seq=5, ts=0.0, link="bc", a="b", b="c", metric=1,
                         capacity_bps=1.0),
               DemandSet(source="t", seq=6, ts=0.0, src="a", dst="c", rate_bps=3e9),
               DemandSet(source="t", seq=7, ts=0.0, src="a", dst="b", rate_bps=1e9)]
    return events


def loads(state: State) -> dict[str, tuple[float, float]]:
    """a->c crosses ab and bc, a->b only ab; all a->b direction."""
    d = state.demands.get("a", {})
    up = {k for k, link in state.links.items() if link.up}
    ac, ab = d.get("c", 0.0), d.get("b", 0.0)
    out = {"ab": (ac + ab, 0.0), "bc": (ac, 0.0)}
    return {k: v for k, v in out.items() if k in up}


def spec(**kw: object) -> TraceSpec:
    return TraceSpec(**{"days": 7, "flaps": 0, **kw})  # type: ignore[arg-type]


def flat(batches: list[list[AnyEvent]]) -> list[AnyEvent]:
    return [e for b in batches for e in b]


def test_no_surges_by_default() -> None:
    assert surges(TraceSpec(), topology(), loads) == []


def test_surges_are_planned_deterministically_per_week() -> None:
    plan = surges(spec(surges_per_week=6), topology(), loads)
    assert plan == surges(spec(surges_per_week=6), topology(), loads)
    assert plan != surges(spec(surges_per_week=6, seed=2), topology(), loads)
    assert len(plan) == 6
    assert len(surges(spec(surges_per_week=6, days=14), topology(), loads)) == 12
    end = TRACE_EPOCH + 7 * 86_400
    for s in plan:
        assert s.dst in {"b", "c"}
        assert 1800 <= s.ramp_s <= 5400
        assert 1800 <= s.hold_s <= 7200
        assert 1800 <= s.decay_s <= 5400
        assert TRACE_EPOCH <= s.start < s.end <= end
        assert 0.6 <= s.peak_util <= 1.4
    assert [s.start for s in plan] == sorted(s.start for s in plan)


def test_surge_shape_ramps_holds_and_decays() -> None:
    s = Surge(dst="c", start=1000.0, ramp_s=100.0, hold_s=50.0, decay_s=200.0, gain=2.0,
              peak_util=1.0)
    assert s.end == 1350.0
    assert [s.shape(t) for t in (1000.0, 1050.0, 1100.0, 1125.0, 1150.0, 1250.0, 1350.0)] == [
        0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]


def test_gain_drives_the_busiest_link_to_its_peak_util() -> None:
    plan = surges(spec(surges_per_week=3), topology(), loads)
    for s in plan:
        level = diurnal(s.start + s.ramp_s)
        # capacities are 10G (4 Gb/s peak / 0.45); the busiest link toward c is ab
        base_ab = 4e9 * level
        extra = s.gain * (3e9 if s.dst == "c" else 1e9)
        assert (base_ab + extra) / 10e9 == pytest.approx(s.peak_util)


def test_the_footprint_is_the_trace_without_its_noise() -> None:
    """What the ramp oracle reads: every counter of a noise-free trace, within the
    counters' 1% jitter."""
    quiet = spec(surges_per_week=6, noise=0.0)
    plan = surges(quiet, topology(), loads)
    fp = footprint(quiet, topology(), loads, plan)
    assert fp.series == [("ab", "ab"), ("ab", "ba"), ("bc", "ab"), ("bc", "ba")]
    samples = [e for e in flat(list(generate(quiet, topology(), loads)))
               if isinstance(e, LinkUtilization)]
    assert len(samples) == 2 * quiet.intervals
    for e in samples:
        expect = fp.at(e.ts, plan)[0 if e.link == "ab" else 2]
        assert e.ab_bps / 10e9 == pytest.approx(expect, rel=0.05)


def test_surges_change_only_their_destinations_demands_while_they_last() -> None:
    quiet = flat(list(generate(spec(), topology(), loads)))
    loud = flat(list(generate(spec(surges_per_week=3), topology(), loads)))
    plan = surges(spec(surges_per_week=3), topology(), loads)
    assert len(quiet) == len(loud)
    changed = [(q, s) for q, s in zip(quiet, loud, strict=True) if q != s]
    assert changed
    for q, s in changed:
        if isinstance(q, DemandSet):
            assert isinstance(s, DemandSet)
            assert s.rate_bps > q.rate_bps
            assert any(p.dst == q.dst and p.start < q.ts < p.end for p in plan)
        else:
            assert isinstance(q, LinkUtilization)  # the counters follow


def test_peak_utilisation_of_a_surge_is_close_to_its_target() -> None:
    s = spec(surges_per_week=3, noise=0.0)
    events = flat(list(generate(s, topology(), loads)))
    for surge in surges(s, topology(), loads):
        top = max(e.ab_bps for e in events if isinstance(e, LinkUtilization)
                  and e.link == "ab" and surge.start + surge.ramp_s <= e.ts
                  <= surge.start + surge.ramp_s + surge.hold_s)
        assert top / 10e9 == pytest.approx(surge.peak_util, rel=0.06)  # diurnal moves


def test_demand_total_rescales_the_matrix() -> None:
    head = next(generate(TraceSpec(days=1, flaps=0, demand_total_bps=8e9), topology(), loads))
    rates = sorted(e.rate_bps for e in head if isinstance(e, DemandSet))
    assert rates == [2e9, 6e9]
    caps = {e.link: e.capacity_bps for e in head if isinstance(e, LinkAdded)}
    assert caps == {"ab": 40e9, "bc": 40e9}  # 8 Gb/s / 0.45 -> 40G


# --- episodes ---------------------------------------------------------------------------


def util(ts: float, link: str, ab: float, ba: float = 0.0) -> LinkUtilization:
    return LinkUtilization(source="t", seq=1, ts=ts, link=link, ab_bps=ab, ba_bps=ba)


def link(name: str, capacity: float = 100.0) -> LinkAdded:
    return LinkAdded(source="t", seq=1, ts=0.0, link=name, a="a", b="b", metric=1,
                     capacity_bps=capacity)


def test_episodes_are_maximal_runs_over_the_threshold_merged_across_short_gaps() -> None:
    finder = EpisodeFinder(threshold=0.8, merge_gap_s=600.0)
    finder.feed([link("x"), link("y")])
    series = [50, 85, 90, 70, 81, 60, 60, 60, 95, 60]  # x a->b, one sample per 300 s
    for k, v in enumerate(series):
        finder.feed([util(300.0 * k, "x", v, 10.0), util(300.0 * k, "y", 10.0, 79.0)])
    got = [(e.link, e.direction, e.start, e.end, e.peak_util) for e in finder.episodes()]
    assert got == [("x", "ab", 300.0, 1200.0, 0.90),  # 70 at 900 s: a 300 s gap, merged
                   ("x", "ab", 2400.0, 2400.0, 0.95)]  # 1200 s after the last: a new one
    assert {e.cause for e in finder.episodes()} == {"load"}


def test_episode_causes_failure_then_surge_then_load() -> None:
    finder = EpisodeFinder(threshold=0.5)
    finder.feed([link("x"), link("y")])
    finder.feed([util(100.0, "x", 90.0)])  # a surge is on
    finder.feed([util(400.0, "x", 10.0)])
    finder.feed([LinkStatus(source="t", seq=1, ts=5000.0, link="y", up=False),
                 util(5000.0, "x", 90.0)])  # y is down: traffic moved onto x
    finder.feed([LinkStatus(source="t", seq=1, ts=5300.0, link="y", up=True),
                 util(5300.0, "x", 10.0)])
    finder.feed([util(9000.0, "x", 0.0, 70.0)])  # nothing going on
    plan = [Surge(dst="b", start=0.0, ramp_s=60.0, hold_s=60.0, decay_s=60.0, gain=1.0,
                  peak_util=1.0)]
    causes = [(e.start, e.direction, e.cause) for e in finder.episodes(plan)]
    assert causes == [(100.0, "ab", "surge"), (5000.0, "ab", "failure"),
                      (9000.0, "ba", "load")]


def test_ground_truth_of_a_generated_trace() -> None:
    truth = ground_truth(spec(surges_per_week=4, surge_util=(1.2, 1.3)), topology(), loads,
                         threshold=0.8)
    assert len(truth.surges) == 4
    assert truth.threshold == 0.8
    assert truth.episodes
    for e in truth.episodes:
        assert e.cause == "surge"
        assert e.peak_util > 0.8
    hit = {s.start for s in truth.surges
           if any(s.start < e.start < s.end and e.link == "ab" for e in truth.episodes)}
    assert len(hit) == 4  # every surge sized over the threshold made an episode on ab
    calm = ground_truth(spec(surges_per_week=4, surge_util=(0.5, 0.6)), topology(), loads)
    assert calm.episodes == []
