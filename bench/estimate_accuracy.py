"""Benchmark: how close each traffic-matrix estimate comes to a week of real Abilene traffic.

    python -m bench.estimate_accuracy [--every K] [--spread-every K]

The week (``tests/data/abilene-week``: 12 routers, 144 pairs, 2,016 five-minute intervals)
gives the true matrix, the link counters and the edge totals of every interval. Each
method estimates every K-th interval from what production would report, and is scored by
the relative error ||estimate - truth|| / ||truth|| (median and p90 over intervals):

- ``counters_and_totals``: link counters and every router's ingress and egress totals
  (issue 17's target for shadowd: <= 20% median);
- ``flows_at_3``: the same, plus the pairs entering at 3 routers measured (flow export):
  the 3 with the most traffic entering, which an operator can rank from the totals
  alone (target <= 10%); the error counts the measured pairs too (they are exact);
- ``counters_only``: no totals (gravity sizes routers by their link counters);
- ``spread_of_3``: every one of the 220 choices of 3 routers, on every
  ``--spread-every``-th interval: the best, median and worst choice per method.

Baselines in the same run: gravity and tomogravity; and the variants of shadowd's recipe
that lost (``fitting.kl_fit`` on the plain gravity prior; ``least_squares_fit`` on the
affinity prior; shadowd without the previous interval's estimate in its prior).

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from shadowd.estimate.estimator import Estimate, Method, Recipe, estimate
from tests.abilene import Week, load, relative_error

TARGETS = {"counters_and_totals": 0.20, "flows_at_3": 0.10}
VARIANTS: dict[str, tuple[Method, Recipe | None]] = {
    "gravity": ("gravity", None),
    "tomogravity": ("tomogravity", None),
    "shadowd": ("shadowd", None),
    "kl_fit_gravity_prior": ("shadowd", Recipe(reverse=0.0, path=0.0, carry=0.0)),
    "least_squares_fit_bounded": ("shadowd", Recipe(fit="least-squares", carry=0.0)),
    "shadowd_without_previous": ("shadowd", Recipe(carry=0.0)),
}


def _errors(week: Week, method: Method, recipe: Recipe | None, intervals: Sequence[int],
            flows_at: Sequence[str], *, totals: bool = True) -> list[float]:
    """The error of each interval's estimate, in order (the previous one carried)."""
    out, previous = [], None
    for t in intervals:
        found: Estimate = estimate(week.routing, week.observed(t, flows_at, totals=totals),
                                   method, recipe=recipe, previous=previous)
        out.append(relative_error(found.rates, week.truth[t]))
        previous = found
    return out


def _summary(errors: list[float], seconds: float) -> dict[str, float]:
    return {"median": round(float(np.median(errors)), 4),
            "p90": round(float(np.percentile(errors, 90)), 4),
            "ms_per_interval": round(1e3 * seconds / len(errors), 2)}


def _setting(week: Week, intervals: Sequence[int], flows_at: Sequence[str],
             totals: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (method, recipe) in VARIANTS.items():
        start = time.process_time()
        errors = _errors(week, method, recipe, intervals, flows_at, totals=totals)
        out[name] = _summary(errors, time.process_time() - start)
    return out


def _spread(week: Week, intervals: Sequence[int]) -> dict[str, Any]:
    """Median error per choice of 3 routers, per method: best, median, worst choice."""
    out: dict[str, Any] = {}
    for method in ("gravity", "tomogravity", "shadowd"):
        by_choice = {
            choice: float(np.median(_errors(week, method, None, intervals, choice)))
            for choice in itertools.combinations(week.routing.routers, 3)
        }
        ranked = sorted(by_choice, key=by_choice.__getitem__)
        out[method] = {
            "best": {"routers": list(ranked[0]), "median": round(by_choice[ranked[0]], 4)},
            "median_choice": round(float(np.median(list(by_choice.values()))), 4),
            "worst": {"routers": list(ranked[-1]), "median": round(by_choice[ranked[-1]], 4)},
            "choices_at_or_under_10pct": sum(v <= 0.10 for v in by_choice.values()),
        }
    return out


def _verdict(results: dict[str, Any]) -> dict[str, Any]:
    verdict = {}
    for setting, target in TARGETS.items():
        got = results[setting]
        verdict[setting] = {
            "target_median": target, "shadowd_median": got["shadowd"]["median"],
            "met": got["shadowd"]["median"] <= target,
            "vs_tomogravity_pct": round(100 * (1 - got["shadowd"]["median"]
                                               / got["tomogravity"]["median"]), 1),
            "vs_gravity_pct": round(100 * (1 - got["shadowd"]["median"]
                                           / got["gravity"]["median"]), 1),
        }
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--spread-every", type=int, default=48)
    args = parser.parse_args(argv)
    week = load()
    intervals = range(0, week.intervals, args.every)
    top3 = week.by_volume[:3]
    results = {
        "counters_and_totals": _setting(week, intervals, ()),
        "flows_at_3": _setting(week, intervals, top3),
        "counters_only": _setting(week, intervals, (), totals=False),
    }
    report = {
        "benchmark": "estimate_accuracy",
        "data": "Abilene, one week of March 2004 (tests/data/abilene-week)",
        "routers": len(week.routing.routers), "pairs": week.routing.pair_count,
        "intervals_scored": len(intervals),
        "error": "||estimate - truth||_2 / ||truth||_2 per interval",
        "flows_at_3_routers": top3,
        "flows_at_3_why": "the 3 routers with the most traffic entering over the week",
        **results,
        "spread_of_3": {"intervals_scored": len(range(0, week.intervals, args.spread_every)),
                        **_spread(week, range(0, week.intervals, args.spread_every))},
        "targets": _verdict(results),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
