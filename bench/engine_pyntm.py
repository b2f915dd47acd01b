"""Benchmark: single-link failure sweep with loads on SNDlib germany50, shadowd vs pyNTM.

Both sides compute, for every single-link failure, the load on every interface with the
germany50 demand matrix (662 demands), IGP metric = link length in km. Same run, same
machine. pyNTM runs the full sweep unless ``--pyntm-failures N`` limits it to N links
spread over the set (said in the output). Loads are cross-checked while timing.

    python -m bench.engine_pyntm [--pyntm-failures N] [--repeat R]

Prints one JSON document. Target (issue 3): >= 200x faster per failure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np

from bench.engine_reference import build_model, failed_link, interface_loads
from shadowd.engine.delta import Workspace, loads_after, reweigh
from shadowd.engine.loads import route
from shadowd.engine.network import INF, Network, demand_matrix
from shadowd.engine.sweep import Failure, Scenario, single_links, sweep
from tests.fakes.engine import topohub_state

NETWORK = "sndlib/germany50"
TARGET_SPEEDUP = 200.0


def _ours(repeat: int) -> dict[str, Any]:
    state, _ = topohub_state(NETWORK)
    t0 = time.perf_counter()
    net = Network.from_state(state)
    routing = route(net, demand_matrix(state, net))
    base_s = time.perf_counter() - t0
    failures = single_links(net)
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        sweep(routing, failures)
        runs.append(time.perf_counter() - t)
    ws, scen = Workspace.of(routing), np.zeros(2, dtype=np.int64)
    t = time.perf_counter()
    for failure in failures:
        edges = failure.edges(net)
        loads_after(routing, reweigh(routing, ws, scen, edges, np.full(2, INF)))
    one_at_a_time = (time.perf_counter() - t) / len(failures)
    return {
        "state": state, "net": net, "routing": routing, "failures": failures,
        "base_route_ms": base_s * 1e3,
        "sweep_s_median": statistics.median(runs),
        "per_failure_ms": statistics.median(runs) / len(failures) * 1e3,
        "per_failure_ms_unbatched": one_at_a_time * 1e3,
    }


def _pyntm(ours: dict[str, Any], limit: int | None) -> dict[str, Any]:
    state, net, routing = ours["state"], ours["net"], ours["routing"]
    failures: list[Failure] = ours["failures"]
    if limit is not None and limit < len(failures):
        picks = np.linspace(0, len(failures) - 1, limit).round().astype(int).tolist()
        failures = [failures[i] for i in picks]
    mine: dict[str, dict[tuple[str, str, str], float]] = {}

    def keep(s: Scenario) -> None:
        edges = range(net.edge_count)
        mine[s.failure.name] = {net.describe_edge(e): float(s.loads[e]) for e in edges}

    sweep(routing, failures, on_scenario=keep)
    model = build_model(state)
    worst, elapsed = 0.0, 0.0
    for failure in failures:
        with failed_link(model, state, failure.items[0]):
            t = time.perf_counter()
            ref = interface_loads(model)
            elapsed += time.perf_counter() - t
        for key, want in ref.items():
            worst = max(worst, abs(mine[failure.name][key] - want) / max(abs(want), 1e-300))
    return {
        "failures_run": len(failures),
        "subset": len(failures) < len(ours["failures"]),
        "per_failure_s": elapsed / len(failures),
        "max_rel_diff_vs_shadowd": worst,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pyntm-failures", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    ours = _ours(args.repeat)
    ref = _pyntm(ours, args.pyntm_failures)
    speedup = ref["per_failure_s"] * 1e3 / ours["per_failure_ms"]
    report = {
        "benchmark": "engine_pyntm",
        "network": NETWORK,
        "routers": ours["net"].size,
        "links": len(ours["net"].link_ids),
        "demands": int(np.count_nonzero(ours["routing"].demand)),
        "failures": len(ours["failures"]),
        "shadowd": {k: round(v, 4) for k, v in ours.items() if isinstance(v, float)},
        "pyntm": {k: (round(v, 4) if isinstance(v, float) and k != "max_rel_diff_vs_shadowd"
                      else v) for k, v in ref.items()},
        "speedup_per_failure": round(speedup, 1),
        "speedup_per_failure_unbatched": round(
            ref["per_failure_s"] * 1e3 / ours["per_failure_ms_unbatched"], 1
        ),
        "target": {"speedup_per_failure": TARGET_SPEEDUP, "met": speedup >= TARGET_SPEEDUP},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
