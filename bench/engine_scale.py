"""Benchmark: a 1,000-router, 2,500-link network with 20,000 demands (deterministic).

Measures: full recompute (SPF + loads); the full single-link failure sweep with loads and
worst case, on 2 worker processes and on 1; peak memory (this process and the workers);
and link events absorbed incrementally by the ``Engine`` (down, then up again, for many
random links): median and p99 against a full recompute, checked equal at the end.

    python -m bench.engine_scale [--events N] [--workers W] [--seed S]

Prints one JSON document. Targets (issue 3): the sweep completes on 2 cores; one link
event is absorbed in <= 10 ms.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from typing import Any

import numpy as np

from shadowd.core.events import LinkStatus
from shadowd.engine.incremental import Engine
from shadowd.engine.sweep import single_links, sweep
from shadowd.executors.processes import sweep_parallel
from tests.fakes.engine import synthetic_state

ROUTERS, LINKS, DEMANDS = 1000, 2500, 20_000
TARGET_EVENT_MS = 10.0


def _rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def _events(engine: Engine, count: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    links = rng.choice(sorted(engine.state.links), size=count, replace=False).tolist()
    down: list[float] = []
    up: list[float] = []
    trees: list[int] = []
    for seq, link in enumerate(links, start=1):
        for up_now, bucket in ((False, down), (True, up)):
            event = LinkStatus(source="bench", seq=2 * seq + up_now, ts=0.0, link=link, up=up_now)
            t = time.perf_counter()
            impact = engine.absorb(event)
            bucket.append((time.perf_counter() - t) * 1e3)
            trees.append(impact.trees)
    both = down + up
    return {
        "events": len(both),
        "median_ms": statistics.median(both),
        "p90_ms": float(np.percentile(both, 90)),
        "p99_ms": float(np.percentile(both, 99)),
        "max_ms": max(both),
        "down_median_ms": statistics.median(down),
        "up_median_ms": statistics.median(up),
        "share_within_target": sum(x <= TARGET_EVENT_MS for x in both) / len(both),
        "routing_trees_changed_median": statistics.median(trees),
    }


def _check(engine: Engine) -> float:
    full = Engine(engine.state)
    want = {(x.link, x.src): x.load for x in full.loads()}
    got = {(x.link, x.src): x.load for x in engine.loads()}
    scale = max(want.values())
    return max(abs(got[k] - v) for k, v in want.items()) / scale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-serial", action="store_true")
    args = parser.parse_args(argv)

    state = synthetic_state(ROUTERS, LINKS, DEMANDS, seed=args.seed)
    t = time.perf_counter()
    engine = Engine(state)
    full_s = time.perf_counter() - t
    failures = single_links(engine.net)

    t = time.perf_counter()
    result = sweep_parallel(engine.routing, failures, workers=args.workers)
    parallel_s = time.perf_counter() - t
    serial_s, serial_diff = None, None
    if not args.skip_serial:
        t = time.perf_counter()
        serial = sweep(engine.routing, failures)
        serial_s = time.perf_counter() - t
        scale = float(serial.wc_load.max())
        serial_diff = float(np.abs(serial.wc_load - result.wc_load).max()) / scale
    worst = int(np.argmax(result.wc_util))
    events = _events(engine, args.events, args.seed)
    report = {
        "benchmark": "engine_scale",
        "network": {"routers": ROUTERS, "links": LINKS, "demands": DEMANDS, "seed": args.seed},
        "full_recompute_s": round(full_s, 3),
        "sweep_single_links": {
            "failures": len(failures),
            "workers": args.workers,
            "seconds": round(parallel_s, 2),
            "per_failure_ms": round(parallel_s / len(failures) * 1e3, 2),
            "seconds_one_process": None if serial_s is None else round(serial_s, 2),
            "one_vs_two_process_max_rel_diff": serial_diff,
            "worst_link": engine.net.describe_edge(worst),
            "worst_wc_util": round(float(result.wc_util[worst]), 4),
            "worst_wc_failure": result.wc_failure_of(worst).name,
        },
        "peak_rss_mb": {
            "main": round(_rss_mb(resource.RUSAGE_SELF), 1),
            "largest_worker": round(_rss_mb(resource.RUSAGE_CHILDREN), 1),
        },
        "incremental_link_event": {k: (round(v, 3) if isinstance(v, float) else v)
                                   for k, v in events.items()},
        "incremental_vs_full_max_rel_diff": _check(engine),
        "targets": {
            "sweep_completes_on_2_cores": True,
            "event_ms": TARGET_EVENT_MS,
            "event_median_met": events["median_ms"] <= TARGET_EVENT_MS,
            "event_p99_met": events["p99_ms"] <= TARGET_EVENT_MS,
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
