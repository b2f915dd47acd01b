"""Benchmark: one interval's traffic-matrix estimate on networks of 200, 500 and 1,000 routers.

    python -m bench.estimate_speed [--sizes 200 500 1000] [--seed S]

Each network is a synthetic backbone (``tests.fakes.engine.synthetic_state``: n routers,
2.5 n links) with a matrix over all n (n - 1) pairs (gravity-like masses times lognormal
noise). Its link counters and edge totals are what that matrix loads; 5% of the routers
also measure the pairs entering at them. Timed on one core (``time.process_time``),
separately: the routing matrix (``estimate.routing_matrix``, from the engine's routing),
and each method's estimate. Baselines in the same run: gravity, tomogravity (scipy's
``lsqr``), and at 200 routers the same tomogravity solved densely (numpy's
pseudo-inverse of A W A^T, as the textbook writes it).

Prints one JSON document. Target (issue 17): shadowd's estimate <= 1 s for 200 routers.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any

import numpy as np

from shadowd.engine.incremental import Engine
from shadowd.estimate.estimator import Method, estimate
from shadowd.estimate.fitting import gravity, unmeasured_masses
from shadowd.estimate.inputs import Observed, check, equations
from shadowd.estimate.routing_matrix import RoutingMatrix, routing_matrix
from tests.fakes.engine import synthetic_state

TARGET_S, TARGET_ROUTERS = 1.0, 200
DENSE_UP_TO = 200  # beyond, A W A^T and A dense take gigabytes
MEASURED_SHARE = 0.05


def _truth(matrix: RoutingMatrix, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mass = rng.lognormal(0.0, 1.0, len(matrix.routers))
    noise = rng.lognormal(0.0, 0.5, matrix.pair_count)
    return np.asarray(mass[matrix.src] * mass[matrix.dst] * noise * 1e6)


def _observed(matrix: RoutingMatrix, truth: np.ndarray) -> Observed:
    n = len(matrix.routers)
    at = set(range(0, n, round(1 / MEASURED_SHARE)))
    pairs = [p for p in range(matrix.pair_count) if int(matrix.src[p]) in at]
    return Observed(
        counters=dict(zip(matrix.rows, (matrix.matrix @ truth).tolist(), strict=True)),
        ingress=dict(zip(matrix.routers, np.bincount(matrix.src, truth, n).tolist(),
                         strict=True)),
        egress=dict(zip(matrix.routers, np.bincount(matrix.dst, truth, n).tolist(),
                        strict=True)),
        measured={matrix.pair(p): float(truth[p]) for p in pairs})


def _dense_tomogravity(matrix: RoutingMatrix, seen: Observed) -> np.ndarray:
    checked = check(matrix, seen)
    eq = equations(matrix, checked)
    ingress, egress = unmeasured_masses(matrix, checked)
    prior = gravity(ingress, egress, matrix.src[eq.unknown], matrix.dst[eq.unknown])
    dense = eq.matrix.toarray()
    weighted = dense * prior
    step = np.linalg.pinv(weighted @ dense.T) @ (eq.target - dense @ prior)
    return np.asarray(np.maximum(prior + weighted.T @ step, 0.0))


def _timed(matrix: RoutingMatrix, seen: Observed, truth: np.ndarray,
           method: Method) -> dict[str, float]:
    start = time.process_time()
    found = estimate(matrix, seen, method)
    seconds = time.process_time() - start
    error = np.linalg.norm(found.rates - truth) / np.linalg.norm(truth)
    return {"s": round(seconds, 3), "relative_error": round(float(error), 4),
            "unexplained": round(found.unexplained, 6)}


def _network(n: int, seed: int) -> dict[str, Any]:
    engine = Engine(synthetic_state(n, int(2.5 * n), n, seed=seed))
    start = time.process_time()
    matrix = routing_matrix(engine.routing)
    build_s = time.process_time() - start
    truth = _truth(matrix, seed)
    seen = _observed(matrix, truth)
    out: dict[str, Any] = {
        "routers": n, "link_directions": len(matrix.rows), "pairs": matrix.pair_count,
        "measured_pairs": len(seen.measured), "matrix_entries": int(matrix.matrix.nnz),
        "routing_matrix_build_s": round(build_s, 3),
    }
    for method in ("gravity", "tomogravity", "shadowd"):
        out[method] = _timed(matrix, seen, truth, method)
    if n <= DENSE_UP_TO:
        start = time.process_time()
        _dense_tomogravity(matrix, seen)
        out["tomogravity_dense_pinv_s"] = round(time.process_time() - start, 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    networks = [_network(n, args.seed) for n in args.sizes]
    at_target = [x for x in networks if x["routers"] == TARGET_ROUTERS]
    report = {
        "benchmark": "estimate_speed",
        "clock": "time.process_time (CPU seconds of this process)",
        "networks": networks,
        "target": {"shadowd_estimate_s": TARGET_S, "routers": TARGET_ROUTERS,
                   "met": bool(at_target) and at_target[0]["shadowd"]["s"] <= TARGET_S},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
