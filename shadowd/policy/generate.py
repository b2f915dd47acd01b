"""Tactical IGP metric proposals: the fewest metric changes that bring every link
direction's worst-case utilisation under a target. Pure: no I/O, no clock.

The worst case of a link direction is its highest utilisation over the failure set
(single links, single routers or SRLGs) *and* the no-failure case, as the engine's sweep
computes it. The search adds one metric change per round, never a re-weighting:

1. from each setting kept, take the hottest worst-case link direction (if no change of
   it helps, the next hottest, up to ``HOT_TRIES`` of those still over the target);
2. candidates, each one metric: raise that direction's metric (+1, x1.5, x2, x3, x5,
   x10); raise the metric of the directions that take the most extra traffic under its
   worst failure (the detour, found by sweeping that one failure: +1, x3); lower the
   metric of the cool directions leaving its tail or entering its head (-1, /2);
3. evaluate each with a full route and sweep; keep those strictly better (by more than
   rounding) than the setting they came from, ranked by (worst case, total excess over
   the target, sum of the five highest worst cases). The ``beam`` best distinct
   outcomes are the next round's settings (``beam=1``: plain greedy). A candidate may
   re-tune a direction already changed, never change more than ``max_changes`` in all.

It stops at the first round with a setting at most the target, or when nothing
improves, or after ``budget`` evaluations (a few are kept for the last step). Then each
change of each such setting is tried without, in order: a change the result does not
need is dropped, and the setting with the fewest changes (then the best) wins. Metrics
stay within OSPF's 1..65535.

``propose_metrics`` returns ``None`` when the worst case is already at most the target,
or when no change lowers the worst case at all (a bridge that must carry everything).
When the target cannot be reached but the worst case falls, it proposes the best it
found (``wc_after > target_util`` says so) unless ``partial=False``. A change of metric
never disconnects a demand, which is checked anyway: a result that would is not proposed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.state import State
from shadowd.engine.network import FloatArray, IntArray, Network
from shadowd.engine.sweep import Failure, sweep
from shadowd.policy.effect import (
    FAILURE_SET_LABELS,
    OSPF_MAX_METRIC,
    Assessment,
    FailureSetKind,
    apply_changes,
    assess,
    change_for,
    demands_moved,
    failures_of,
    network_of,
    newly_disconnected,
)
from shadowd.predict.records import Stamp

HOT_TRIES: Final = 3  # hot directions tried per round before giving up
DETOUR_EDGES: Final = 6  # detour directions tried per round
COOL_EDGES: Final = 6  # cool neighbour directions tried per round
RAISE_FACTORS: Final = (1.5, 2.0, 3.0, 5.0, 10.0)
EPSILON: Final = 1e-9  # utilisation differences below this are rounding, not improvement
LABEL_MAX: Final = 160
RATIO_MAX: Final = 1e6

Objective = tuple[float, float, float]
Move = tuple[int, int]  # (directed edge, new metric)


@dataclass(frozen=True, slots=True)
class Search:
    """What ``search_metrics`` found: the changes (possibly none) and the assessments
    before and after them, with the evaluations (route + sweep) it spent."""

    changes: tuple[PolicyChange, ...]
    before: Assessment
    after: Assessment
    evaluations: int
    target_util: float
    failure_set: FailureSetKind
    demand_scale: float
    demands_moved: int
    disconnected: int

    @property
    def reached(self) -> bool:
        return self.after.wc <= self.target_util + EPSILON

    @property
    def improves(self) -> bool:
        return self.after.wc < self.before.wc - EPSILON


class _Run:
    """One search's network, demands, failure set and evaluation budget."""

    def __init__(self, net: Network, demand: FloatArray, failures: list[Failure],
                 target: float, budget: int):
        self.net, self.demand, self.failures = net, demand, failures
        self.target, self.budget, self.evaluations = target, budget, 0
        self.reserve = 0  # evaluations kept for pruning
        self.base = net.metric.copy()

    @property
    def spent(self) -> bool:
        return self.evaluations >= self.budget - self.reserve

    def assess(self, metric: FloatArray) -> Assessment:
        self.evaluations += 1
        return assess(self.net, self.demand, metric, self.failures)

    def changed(self, metric: FloatArray) -> IntArray:
        return np.flatnonzero(metric != self.base).astype(np.int64)

    def restore(self, current: Assessment) -> None:
        """Make the shared network match ``current`` again (for a sweep from it)."""
        self.net.metric = current.metric.copy()
        self.net.weight = current.weight.copy()


def search_metrics(
    state: State,
    *,
    target_util: float,
    failure_set: FailureSetKind = "links",
    demand_scale: float = 1.0,
    max_changes: int = 4,
    budget: int = 400,
    beam: int = 5,
    seed: int = 0,
) -> Search:
    """The greedy search of the module docstring, from the state's configured metrics."""
    _check(target_util, demand_scale, max_changes, budget, beam)
    net, demand = network_of(state, demand_scale)
    run = _Run(net, demand, failures_of(net, failure_set), target_util, budget)
    run.reserve = min(max_changes * beam, budget // 4)
    rng = np.random.default_rng(seed)
    before = run.assess(run.base.copy())
    best = _fewest(run, _beam(run, before, max_changes, beam, rng))
    changes = tuple(change_for(net, state, e, int(best.metric[e]))
                    for e in run.changed(best.metric).tolist())
    return Search(changes=changes, before=before, after=best, evaluations=run.evaluations,
                  target_util=target_util, failure_set=failure_set, demand_scale=demand_scale,
                  demands_moved=demands_moved(before, best),
                  disconnected=newly_disconnected(before, best))


def propose_metrics(
    state: State,
    *,
    stamp: Stamp,
    policy_id: str,
    reason: str,
    target_util: float,
    failure_set: FailureSetKind = "links",
    demand_scale: float = 1.0,
    max_changes: int = 4,
    budget: int = 400,
    beam: int = 5,
    seed: int = 0,
    partial: bool = True,
) -> PolicyProposed | None:
    """An ``igp_metric`` proposal (see the module docstring for when it is ``None``)."""
    found = search_metrics(state, target_util=target_util, failure_set=failure_set,
                           demand_scale=demand_scale, max_changes=max_changes,
                           budget=budget, beam=beam, seed=seed)
    if not found.changes or not found.improves or found.disconnected:
        return None
    if not found.reached and not partial:
        return None
    return proposal(stamp, found, policy_id=policy_id, reason=reason, at_lsn=state.lsn)


def assess_changes(state: State, changes: Sequence[PolicyChange], *, target_util: float,
                   failure_set: FailureSetKind = "links",
                   demand_scale: float = 1.0) -> Search:
    """An operator's own metric changes, assessed as a search's result would be (so they
    get the same predicted effect, validation and rollout). Raises ``InvalidChange``."""
    _check(target_util, demand_scale, 1, 1, 1)
    net, demand = network_of(state, demand_scale)
    failures = failures_of(net, failure_set)
    before = assess(net, demand, net.metric.copy(), failures)
    metric = Network.from_state(apply_changes(state, changes)).metric
    after = assess(net, demand, metric, failures)
    return Search(changes=tuple(changes), before=before, after=after, evaluations=2,
                  target_util=target_util, failure_set=failure_set, demand_scale=demand_scale,
                  demands_moved=demands_moved(before, after),
                  disconnected=newly_disconnected(before, after))


def proposal(stamp: Stamp, found: Search, *, policy_id: str, reason: str,
             at_lsn: int) -> PolicyProposed:
    """The ``PolicyProposed`` record of a search's result."""
    link_before, failure_before = found.before.worst()
    link_after, failure_after = found.after.worst()
    return PolicyProposed(
        source=stamp.source, seq=stamp.seq, ts=stamp.ts, policy_id=policy_id,
        kind="igp_metric", reason=_label(reason), changes=found.changes,
        target_util=_ratio(found.target_util), wc_before=_ratio(found.before.wc),
        wc_after=_ratio(found.after.wc), wc_link_before=_label(link_before),
        wc_failure_before=_label(failure_before), wc_link_after=_label(link_after),
        wc_failure_after=_label(failure_after),
        failure_set=FAILURE_SET_LABELS[found.failure_set],
        demands_moved=found.demands_moved, disconnected=found.disconnected,
        demand_scale=_ratio(found.demand_scale), at_lsn=at_lsn)


# --- the search -----------------------------------------------------------------------


def _check(target_util: float, demand_scale: float, max_changes: int, budget: int,
           beam: int) -> None:
    if not 0.0 < target_util <= RATIO_MAX:
        raise ValueError(f"target_util must be in (0, {RATIO_MAX:g}], not {target_util}")
    if not 0.0 < demand_scale <= RATIO_MAX:
        raise ValueError(f"demand_scale must be in (0, {RATIO_MAX:g}], not {demand_scale}")
    if min(max_changes, budget, beam) < 1:
        raise ValueError(f"max_changes ({max_changes}), budget ({budget}) and beam ({beam})"
                         " must be >= 1")


def _beam(run: _Run, before: Assessment, max_changes: int, beam: int,
          rng: np.random.Generator) -> list[Assessment]:
    """Rounds of single changes from the ``beam`` best settings of the last round (one
    per distinct outcome). The first round that reaches the target ends it, with the
    settings that do; else the best setting seen."""
    target = run.target + EPSILON
    frontier, best = [before], before
    while best.wc > target and frontier and not run.spent:
        pool: dict[tuple[float, ...], Assessment] = {}
        for current in frontier:
            for a in _step(run, current, max_changes, rng):
                pool.setdefault(tuple(round(x, 9) for x in a.objective(run.target)), a)
        frontier = [pool[k] for k in sorted(pool)][:beam]
        if frontier and _better(frontier[0].objective(run.target), best.objective(run.target)):
            best = frontier[0]
    reached = [a for a in frontier if a.wc <= target]
    return reached or [best]


def _fewest(run: _Run, found: list[Assessment]) -> Assessment:
    """Each setting pruned; the one with the fewest changes, then the best objective."""
    pruned = [_prune(run, a) for a in found]
    return min(pruned, key=lambda a: (run.changed(a.metric).size, a.objective(run.target)))


def _step(run: _Run, current: Assessment, max_changes: int,
          rng: np.random.Generator) -> list[Assessment]:
    """The strictly improving single changes from ``current`` (of its hottest direction
    that has any), best first."""
    util = current.result.wc_util
    hot = [e for e in np.argsort(-util, kind="stable")[:HOT_TRIES].tolist()
           if util[e] > run.target + EPSILON]
    now = current.objective(run.target)
    for edge in hot:
        better: list[Assessment] = []
        for metric in _allowed(run, current, _moves(run, current, edge, rng), max_changes):
            if run.spent:
                break
            cand = run.assess(metric)
            if _better(cand.objective(run.target), now):
                better.append(cand)
        if better:
            return sorted(better, key=lambda a: a.objective(run.target))
    return []


def _better(a: Objective, b: Objective) -> bool:
    """``a`` is lower than ``b`` by more than rounding, comparing in order."""
    for x, y in zip(a, b, strict=True):
        if abs(x - y) > EPSILON:
            return x < y
    return False


def _allowed(run: _Run, current: Assessment, moves: list[Move],
             max_changes: int) -> list[FloatArray]:
    out = []
    for edge, value in dict.fromkeys(moves):
        metric = current.metric.copy()
        metric[edge] = value
        if run.changed(metric).size <= max_changes:
            out.append(metric)
    return out


def _moves(run: _Run, current: Assessment, hot: int, rng: np.random.Generator) -> list[Move]:
    return [*_raise(current, hot), *_detour(run, current, hot), *_cool(run, current, hot, rng)]


def _raise(current: Assessment, hot: int) -> list[Move]:
    m = float(current.metric[hot])
    values = [m + 1, *(math.ceil(m * f) for f in RAISE_FACTORS)]
    return [(hot, v) for v in _in_range(values, m)]


def _detour(run: _Run, current: Assessment, hot: int) -> list[Move]:
    """Raise the directions that carry the most extra traffic under ``hot``'s worst
    failure: the detour the failure's traffic takes."""
    failure = current.result.wc_failure_of(hot)
    if failure.kind == "none":
        return []
    loads: list[FloatArray] = []
    run.restore(current)
    sweep(current.routing, [failure], on_scenario=lambda s: loads.append(s.loads.copy()))
    extra = loads[-1] - current.routing.load
    extra[failure.edges(run.net)] = 0.0
    extra[hot] = 0.0
    extra[~np.isfinite(current.weight)] = 0.0
    edges = [e for e in np.argsort(-extra, kind="stable")[:DETOUR_EDGES].tolist()
             if extra[e] > 0.0]
    out: list[Move] = []
    for e in edges:
        m = float(current.metric[e])
        out += [(e, v) for v in _in_range([m + 1, m * 3], m)]
    return out


def _cool(run: _Run, current: Assessment, hot: int, rng: np.random.Generator) -> list[Move]:
    """Lower the cool directions leaving ``hot``'s tail or entering its head."""
    net = run.net
    tail, head = int(net.src[hot]), int(net.dst[hot])
    near = np.concatenate([net.out_pad[tail], net.in_pad[head]])
    near = near[(near >= 0) & (near != hot)]
    util = current.result.wc_util
    cool = [e for e in np.unique(near).tolist()
            if np.isfinite(current.weight[e]) and util[e] < run.target and current.metric[e] > 1]
    if len(cool) > COOL_EDGES:
        cool = sorted(rng.choice(cool, size=COOL_EDGES, replace=False).tolist())
    out: list[Move] = []
    for e in cool:
        m = float(current.metric[e])
        out += [(e, v) for v in _in_range([m - 1, m // 2], m)]
    return out


def _in_range(values: list[float], old: float) -> list[int]:
    """Distinct whole metrics within OSPF's range, other than ``old``, in order."""
    out = [min(OSPF_MAX_METRIC, max(1, int(v))) for v in values]
    return [v for v in dict.fromkeys(out) if v != old]


def _prune(run: _Run, best: Assessment) -> Assessment:
    """Drop every change the result does not need (see the module docstring)."""
    run.reserve, reached = 0, best.wc <= run.target + EPSILON
    for edge in run.changed(best.metric).tolist():
        if run.spent:
            break
        metric = best.metric.copy()
        metric[edge] = run.base[edge]
        cand = run.assess(metric)
        enough = cand.wc <= run.target + EPSILON if reached else not _better(
            best.objective(run.target), cand.objective(run.target))
        if enough:
            best = cand
    return best


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 3] + "..."


def _ratio(value: float) -> float:
    return min(max(value, 0.0), RATIO_MAX) if not math.isnan(value) else 0.0
