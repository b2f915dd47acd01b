"""Run a large failure sweep on several cores.

The engine's sweep (``shadowd.engine.sweep``), on worker processes of this machine.
Workers are forked, so they share the routed network copy-on-write instead of pickling
tens of megabytes; each sweeps a contiguous share of the failures and returns its worst
case, which merges exactly (earlier failures win ties, as in a one-process sweep).
Worth it only when a sweep takes seconds: forking and merging cost ~50 ms.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise

import numpy as np

from shadowd.engine.loads import Routing
from shadowd.engine.sweep import DEFAULT_MEMORY_BYTES, Failure, SweepResult, sweep

_shared: tuple[Routing, list[Failure], int] | None = None


def _work(bounds: tuple[int, int]) -> SweepResult:
    assert _shared is not None, "worker started without a forked routing"
    routing, failures, memory = _shared
    return sweep(routing, failures[bounds[0] : bounds[1]], memory_bytes=memory)


def sweep_parallel(
    routing: Routing,
    failures: list[Failure],
    *,
    workers: int = 2,
    mode: str = "exhaustive",
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> SweepResult:
    """``sweep`` split over ``workers`` forked processes (memory budget per worker)."""
    global _shared  # noqa: PLW0603 - the fork hands the routing to workers this way
    todo = [f for f in failures if f.kind != "none"]
    if workers <= 1 or len(todo) < 2 * workers:
        return sweep(routing, todo, mode=mode, memory_bytes=memory_bytes)
    cuts = np.linspace(0, len(todo), workers + 1).astype(int).tolist()
    _shared = (routing, todo, memory_bytes)
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            parts = list(pool.map(_work, pairwise(cuts)))
    finally:
        _shared = None
    return _merge(routing, parts, cuts, mode)


def _merge(routing: Routing, parts: list[SweepResult], cuts: list[int], mode: str) -> SweepResult:
    """Join per-worker results; failure indices shift by each worker's offset."""
    first = parts[0]
    result = SweepResult(
        net=routing.net, failures=[first.failures[0]], mode=mode, max_util=first.max_util[:1],
        max_edge=first.max_edge[:1], wc_load=routing.load.copy(),
        wc_failure=np.zeros(routing.net.edge_count, dtype=np.int64), disconnected=[[]],
    )
    for part, offset in zip(parts, cuts[:-1], strict=True):
        higher = part.wc_load > result.wc_load
        result.wc_load[higher] = part.wc_load[higher]
        result.wc_failure[higher] = part.wc_failure[higher] + offset
        result.failures += part.failures[1:]
        result.max_util = np.concatenate([result.max_util, part.max_util[1:]])
        result.max_edge = np.concatenate([result.max_edge, part.max_edge[1:]])
        result.disconnected += part.disconnected[1:]
    return result
