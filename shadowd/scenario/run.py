"""Run a scenario in the model tier: its timeline through the routing engine, step by step.

``run_model(scenario, state, ts=...)`` never changes ``state``: the engine routes its own
copy, first as it is (the *baseline*), then after each timeline entry. It reads no clock:
``ts`` is when the run counts as started (a step's ``ts`` is ``ts + at_s``).

What each step measures (``shadowd.engine.results`` has the formulas):

- per directed link: utilisation = routed load / capacity; above 100% is *overloaded*;
- per demand, over its ECMP paths with the per-hop even split routers' hashing gives:
  *latency* = the traffic-weighted mean of the paths' propagation delay (the sum of the
  links' ``delay_ms``), i.e. what an average packet of the demand sees, one way;
  *loss*: a fluid model: an overloaded link drops the excess share ``1 - capacity/load``
  of everything crossing it, proportionally; drops compound along a path, each link
  judged on its offered load (pessimistic: upstream drops do not relieve it);
  *delivered* = rate x the surviving share; a demand with no path delivers nothing and
  counts as *unreachable*;
- *routes changed*: (router, destination) pairs whose ECMP next hops differ from the
  baseline's, the count the lab's RIB comparison can confirm.

The result names the worst link at any step, links newly overloaded, the most demands
unreachable at once, and the ``top`` demands that lost the most (bit/s beyond the
baseline) and whose latency grew the most. Those, filled up to ``top`` with the heaviest
demands, are *tracked*: sampled at every step (``StepSummary.tracked``), so the lab tier
can probe the same pairs and compare.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec
import numpy as np

from shadowd.core.events import AnyEvent
from shadowd.core.state import State, view_digest
from shadowd.engine.incremental import Engine
from shadowd.engine.network import BoolArray, IntArray
from shadowd.engine.results import DemandResult, Totals
from shadowd.engine.schemes import MetricOptions
from shadowd.engine.spf import tight_rows
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import (
    DemandImpact,
    LinkUtil,
    PairSample,
    ScenarioResult,
    StepSummary,
)
from shadowd.scenario.timeline import Timeline, label, timeline

Pair = tuple[str, str]
EPSILON: Final = 1e-9  # changes smaller than this (relative) are rounding, not effects


@dataclass(frozen=True, slots=True)
class _Measure:
    """One routed moment of the network."""

    demands: dict[Pair, DemandResult]
    links: list[LinkUtil]  # every direction, worst first
    tight: BoolArray  # edge x destination: on the ECMP DAG


def run_model(scenario: Scenario, state: State, *, ts: float = 0.0, top: int = 5,
              options: MetricOptions | None = None) -> ScenarioResult:
    """The scenario on a copy of ``state``; ``top`` worst demands by loss and by latency."""
    steps = timeline(scenario, state, ts=ts)
    engine = Engine(state, options)
    base = _measure(engine)
    sources = engine.net.src.copy()
    baseline = _summary(base, base, sources, at_s=0.0, ts=ts, what="baseline", events=0)
    summaries: list[StepSummary] = []
    worst: dict[str, dict[Pair, DemandImpact]] = {"loss": {}, "latency": {}}
    for at_s, events in steps:
        now = _advance(engine, events)
        summaries.append(_summary(now, base, sources, at_s=at_s, ts=ts, what=label(events),
                                  events=len(events)))
        _keep_worst(worst, now, base, at_s)
    by_loss = _ranked(worst["loss"], lambda d: d.lost_bps_increase, top)
    by_latency = _ranked(worst["latency"], lambda d: d.latency_increase_ms or 0.0, top)
    tracked = _to_track(by_loss + by_latency, state, top)
    samples = _tracked(state, options, steps, tracked)
    baseline = msgspec.structs.replace(baseline, tracked=samples[0])
    summaries = [msgspec.structs.replace(s, tracked=t)
                 for s, t in zip(summaries, samples[1:], strict=True)]
    peak = max(summaries, key=lambda s: s.worst_link.utilization if s.worst_link else 0.0,
               default=None)
    over_before = {x.name for x in baseline.overloaded}
    return ScenarioResult(
        scenario=scenario.name, kind=scenario.kind, started_ts=ts, baseline=baseline,
        steps=summaries, worst_link=peak.worst_link if peak else None,
        worst_at_s=peak.at_s if peak else 0.0,
        newly_overloaded=sorted({x.name for s in summaries for x in s.overloaded}
                                - over_before),
        unreachable=max((s.unreachable for s in summaries), default=0),
        max_loss_pct=max((s.loss_pct for s in summaries), default=0.0),
        worst_by_loss=by_loss, worst_by_latency=by_latency, tracked_pairs=tracked,
        restored=view_digest(engine.state) == view_digest(state))


def _to_track(worst: list[DemandImpact], state: State, top: int) -> list[Pair]:
    """The worst demands, then the heaviest ones of ``state`` until ``top`` are tracked."""
    pairs = list(dict.fromkeys((d.src, d.dst) for d in worst))
    heavy = sorted(((rate, src, dst) for src, row in state.demands.items()
                    for dst, rate in row.items()), key=lambda x: (-x[0], x[1], x[2]))
    for _, src, dst in heavy:
        if len(pairs) >= top:
            break
        if (src, dst) not in pairs:
            pairs.append((src, dst))
    return pairs


def _tracked(state: State, options: MetricOptions | None, steps: Timeline,
             pairs: list[Pair]) -> list[list[PairSample]]:
    """The second pass: ``pairs`` at the baseline and after each step."""
    if not pairs:
        return [[] for _ in range(len(steps) + 1)]
    engine = Engine(state, options)
    out = [_samples(engine, pairs)]
    for _, events in steps:
        for event in events:
            engine.absorb(event)
        out.append(_samples(engine, pairs))
    return out


def _samples(engine: Engine, pairs: list[Pair]) -> list[PairSample]:
    demands = {(d.src, d.dst): d for d in engine.demands()}
    return [_sample(demands[p]) for p in pairs if p in demands]


def _advance(engine: Engine, events: list[AnyEvent]) -> _Measure:
    for event in events:
        engine.absorb(event)
    return _measure(engine)


def _measure(engine: Engine) -> _Measure:
    net, routing = engine.net, engine.routing
    links = [LinkUtil(link=x.link, src=x.src, dst=x.dst, utilization=x.utilization)
             for x in engine.loads()]
    links.sort(key=lambda x: (-x.utilization, x.link, x.src))
    tight = tight_rows(net, routing.dist, net.weight, np.arange(net.edge_count))
    return _Measure(demands={(d.src, d.dst): d for d in engine.demands()}, links=links,
                    tight=tight)


def _routes_changed(now: _Measure, base: _Measure, sources: IntArray) -> int:
    """(router, destination) pairs with an out-edge whose tightness changed. Scenario
    events never add or remove links, so edge numbers stay those of the baseline."""
    edges, dests = np.nonzero(now.tight != base.tight)
    return len(set(zip(sources[edges].tolist(), dests.tolist(), strict=True)))


def _loss_pct(d: DemandResult) -> float:
    return 100.0 * d.lost_bps / d.rate_bps if d.rate_bps > 0.0 else 0.0


def _sample(d: DemandResult) -> PairSample:
    return PairSample(src=d.src, dst=d.dst, rate_bps=d.rate_bps,
                      delivered_bps=d.delivered_bps, loss_pct=_loss_pct(d),
                      latency_ms=d.latency_ms)


def _summary(now: _Measure, base: _Measure, sources: IntArray, *, at_s: float, ts: float,
             what: str, events: int) -> StepSummary:
    totals = Totals.of(now.demands.values())
    return StepSummary(
        at_s=at_s, ts=ts + at_s, label=what, events=events,
        worst_link=now.links[0] if now.links else None,
        overloaded=[x for x in now.links if x.utilization > 1.0],
        offered_bps=totals.offered_bps, delivered_bps=totals.delivered_bps,
        loss_pct=totals.loss_pct, unreachable=totals.unreachable,
        mean_latency_ms=totals.mean_latency_ms,
        routes_changed=_routes_changed(now, base, sources),
    )


def _keep_worst(worst: dict[str, dict[Pair, DemandImpact]], now: _Measure, base: _Measure,
                at_s: float) -> None:
    """Keep, per demand, the step where it lost the most and where it was slowest."""
    by_loss, by_latency = worst["loss"], worst["latency"]
    for pair, d in now.demands.items():
        was = base.demands.get(pair)
        lost = d.lost_bps - (was.lost_bps if was else 0.0)
        if lost > EPSILON * max(d.rate_bps, 1.0) and (
                pair not in by_loss or lost > by_loss[pair].lost_bps_increase):
            by_loss[pair] = _impact(d, was, at_s)
        if was is None or was.latency_ms is None or d.latency_ms is None:
            continue
        slower = d.latency_ms - was.latency_ms
        if slower > EPSILON * max(d.latency_ms, 1.0) and (
                pair not in by_latency or slower > (by_latency[pair].latency_increase_ms or 0.0)):
            by_latency[pair] = _impact(d, was, at_s)


def _impact(d: DemandResult, was: DemandResult | None, at_s: float) -> DemandImpact:
    return DemandImpact(
        src=d.src, dst=d.dst, at_s=at_s, rate_bps=d.rate_bps,
        baseline_loss_pct=_loss_pct(was) if was else 0.0, loss_pct=_loss_pct(d),
        lost_bps_increase=d.lost_bps - (was.lost_bps if was else 0.0),
        baseline_latency_ms=was.latency_ms if was else None, latency_ms=d.latency_ms)


def _ranked(impacts: dict[Pair, DemandImpact], score: Callable[[DemandImpact], float],
            top: int) -> list[DemandImpact]:
    return sorted(impacts.values(), key=lambda d: (-score(d), d.src, d.dst))[:top]
