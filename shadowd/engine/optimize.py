"""IGP weight optimisation for the worst case, and the metric-scheme comparison.

The objective is the worst-case maximum utilisation over the single-link failure set
(including no failure): the utilisation of the most loaded link under its worst failure.
Ties are broken by the sum of the five highest worst-case utilisations, which gives the
search a slope on plateaus.

The search is a local search in the spirit of Fortz & Thorup: each round looks at the
directed link with the highest worst-case utilisation and tries to move traffic off it
(raise its weight by x1.5/x2/x3) or towards spare capacity (lower the weight of a few
links whose worst case is low), plus a few random re-weightings; the best candidate is
taken unless it is worse (sideways moves cross the plateaus a max objective has). It
stops after ``budget`` evaluations or ``patience`` rounds without strict improvement.
Each evaluation is a full route plus a single-link sweep. Deterministic for a given
seed. Weights are per direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shadowd.core.state import State
from shadowd.engine.loads import Routing, route
from shadowd.engine.network import FloatArray, Network, demand_matrix
from shadowd.engine.results import demand_results
from shadowd.engine.schemes import MAX_METRIC, MetricOptions, MetricScheme
from shadowd.engine.sweep import SweepResult, single_links, sweep

Objective = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Score:
    """How a weight setting fares: base and worst-case max utilisation, and latency."""

    name: str
    base_max_util: float
    wc_max_util: float
    wc_link: str
    wc_failure: str
    mean_latency_ms: float
    evaluations: int = 1


def _assess(net: Network, demand: FloatArray, metric: FloatArray) -> tuple[Routing, SweepResult]:
    net.metric = metric.copy()
    net.weight = net.usable_weight(np.arange(net.edge_count, dtype=np.int64))
    routing = route(net, demand)
    return routing, sweep(routing, single_links(net))


def _objective(result: SweepResult) -> Objective:
    util = np.sort(result.wc_util)[::-1]
    return float(util[0]), float(util[:5].sum())


def score(name: str, net: Network, demand: FloatArray, metric: FloatArray, evals: int = 1) -> Score:
    routing, result = _assess(net, demand, metric)
    worst = int(np.argmax(result.wc_util))
    link, src, dst = net.describe_edge(worst)
    results = demand_results(routing)
    carried = [(d.rate_bps, d.latency_ms) for d in results if d.latency_ms is not None]
    total = sum(rate for rate, _ in carried) or 1.0
    return Score(
        name=name,
        base_max_util=float((routing.load / net.capacity).max(initial=0.0)),
        wc_max_util=float(result.wc_util[worst]),
        wc_link=f"{link} {src}->{dst}",
        wc_failure=result.wc_failure_of(worst).name,
        mean_latency_ms=sum(rate * lat for rate, lat in carried) / total,
        evaluations=evals,
    )


def _candidates(
    metric: FloatArray, result: SweepResult, rng: np.random.Generator, spread: int
) -> list[FloatArray]:
    util = result.wc_util
    hot = int(np.argmax(util))
    out = []
    for factor in (1.5, 2.0, 3.0):
        m = metric.copy()
        m[hot] = min(MAX_METRIC, max(m[hot] + 1, round(m[hot] * factor)))
        out.append(m)
    cool = np.argsort(util)[: max(1, util.size // 4)]
    for edge in rng.choice(cool, size=min(spread, cool.size), replace=False).tolist():
        m = metric.copy()
        m[edge] = max(1.0, float(np.floor(m[edge] / 2)))
        out.append(m)
    top = max(20, 2 * int(metric.max()))
    for edge in rng.choice(util.size, size=spread, replace=True).tolist():
        m = metric.copy()
        m[edge] = float(rng.integers(1, top + 1))
        out.append(m)
    return out


def optimise(
    net: Network,
    demand: FloatArray,
    start: FloatArray,
    *,
    budget: int = 300,
    patience: int = 8,
    seed: int = 0,
) -> tuple[FloatArray, int]:
    """Local search from ``start`` metrics; returns the best metrics and evaluations used."""
    rng = np.random.default_rng(seed)
    best = start.astype(np.float64).copy()
    _, result = _assess(net, demand, best)
    best_obj, evals, stall = _objective(result), 1, 0
    while evals < budget and stall < patience:
        round_best: tuple[Objective, FloatArray, SweepResult] | None = None
        for cand in _candidates(best, result, rng, spread=3):
            _, cand_result = _assess(net, demand, cand)
            evals += 1
            obj = _objective(cand_result)
            if round_best is None or obj < round_best[0]:
                round_best = (obj, cand, cand_result)
        assert round_best is not None
        stall = 0 if round_best[0] < best_obj else stall + 1
        if round_best[0] <= best_obj:  # sideways moves cross plateaus of the max
            best_obj, best, result = round_best
    return best, evals


def compare_schemes(
    state: State,
    distance_km: dict[str, float] | None = None,
    *,
    budget: int = 300,
    seed: int = 0,
) -> list[Score]:
    """hop, inverse-capacity, latency and an optimised weight set, on one network."""
    scores = []
    metrics: dict[str, FloatArray] = {}
    schemes: tuple[MetricScheme, ...] = ("hop", "inverse-capacity", "latency")
    for scheme in schemes:
        options = MetricOptions(scheme=scheme, distance_km=distance_km or {})
        net = Network.from_state(state, options)
        demand = demand_matrix(state, net)
        metrics[scheme] = net.metric.copy()
        scores.append(score(scheme, net, demand, net.metric))
    start = min(scores, key=lambda s: (s.wc_max_util, s.base_max_util)).name
    best, evals = optimise(net, demand, metrics[start], budget=budget, seed=seed)
    scores.append(score(f"optimised (from {start})", net, demand, best, evals))
    return scores


def table(scores: list[Score]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "| metric scheme | max util (no failure) | WC max util | WC link | WC failure "
        "| mean latency ms | evaluations |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    lines += [
        f"| {s.name} | {s.base_max_util:.3f} | {s.wc_max_util:.3f} | {s.wc_link} "
        f"| {s.wc_failure} | {s.mean_latency_ms:.2f} | {s.evaluations} |"
        for s in scores
    ]
    return "\n".join(lines)
