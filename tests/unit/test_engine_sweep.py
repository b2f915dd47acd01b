"""Failure sweeps against brute force: a full recompute of every failed network."""

from __future__ import annotations

import numpy as np
import pytest

from shadowd.core.state import State
from shadowd.engine.loads import Routing, route
from shadowd.engine.network import FloatArray, Network, demand_matrix
from shadowd.engine.sweep import Failure, Scenario, SweepKind, failure_set, link_pairs, sweep
from tests.fakes.engine import L, build


def random_state(seed: int) -> State:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 9))
    names = [f"r{i}" for i in range(n)]
    links = [
        L(f"l{k}", names[int(a)], names[int(b)], int(rng.integers(1, 4)),
          reverse=int(rng.integers(1, 4)), capacity=float(rng.choice([10.0, 40.0])),
          srlgs=tuple(g for g in ("g1", "g2") if rng.random() < 0.25))
        for k, (a, b) in enumerate(
            (a, b) for a, b in rng.integers(0, n, size=(int(rng.integers(n, 2 * n)), 2)) if a != b
        )
    ]
    demands = [(a, b, float(rng.integers(1, 9))) for a in names for b in names
               if a != b and rng.random() < 0.6]
    return build(links, demands, routers=names)


def brute_force(state: State, failure: Failure) -> FloatArray:
    """Loads with ``failure`` applied to a copy of the state, computed from scratch."""
    failed = state.fork()
    links = list(failure.items) if failure.kind in ("link", "links2") else []
    if failure.kind == "srlg":
        links = [k for k, lk in failed.links.items() if failure.items[0] in lk.srlgs]
    for link in links:
        failed.links[link].up = False
    if failure.kind == "router":
        failed.routers[failure.items[0]].up = False
    net = Network.from_state(failed)
    return route(net, demand_matrix(failed, net)).load


def base(state: State) -> Routing:
    net = Network.from_state(state)
    return route(net, demand_matrix(state, net))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("kind", ["links", "nodes", "srlg", "links2"])
def test_worst_case_matches_brute_force(seed: int, kind: SweepKind) -> None:
    state = random_state(seed)
    routing = base(state)
    failures, _ = failure_set(routing, kind)
    result = sweep(routing, failures, memory_bytes=3 * 12 * routing.net.size**2)  # batches of 3
    every = np.array([routing.load] + [brute_force(state, f) for f in failures])
    scale = float(routing.demand.sum())
    assert np.allclose(result.wc_load, every.max(axis=0), rtol=1e-9, atol=1e-9 * scale)
    chosen = every[result.wc_failure, np.arange(routing.net.edge_count)]
    assert np.allclose(chosen, result.wc_load, rtol=1e-9, atol=1e-9 * scale)
    util = every / routing.net.capacity
    assert np.allclose(result.max_util, util.max(axis=1), rtol=1e-9, atol=1e-9)
    at = util[np.arange(len(every)), result.max_edge]  # the edge named reaches the max
    assert np.allclose(np.where(result.max_edge >= 0, at, 0.0), result.max_util, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_on_scenario_is_handed_what_the_result_records(seed: int) -> None:
    state = random_state(seed)
    routing = base(state)
    failures, _ = failure_set(routing, "links")
    seen: list[Scenario] = []
    result = sweep(routing, failures, memory_bytes=3 * 12 * routing.net.size**2,
                   on_scenario=lambda s: seen.append(s._replace(loads=s.loads.copy())))
    assert [s.failure for s in seen] == result.failures
    assert [s.max_util for s in seen] == result.max_util.tolist()
    assert [s.max_edge for s in seen] == result.max_edge.tolist()
    assert [s.disconnected for s in seen] == result.disconnected
    assert np.array_equal(seen[0].loads, routing.load)
    scale = float(routing.demand.sum())
    for s in seen[1:]:
        assert np.allclose(s.loads, brute_force(state, s.failure), rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("seed", range(6))
def test_disconnected_demands_are_those_without_a_path(seed: int) -> None:
    state = random_state(seed)
    routing = base(state)
    failures, _ = failure_set(routing, "nodes")
    result = sweep(routing, failures)
    for i, failure in enumerate(result.failures[1:], 1):
        failed = state.fork()
        failed.routers[failure.items[0]].up = False
        net = Network.from_state(failed)
        dist = route(net, demand_matrix(failed, net)).dist
        expected = sorted(
            (s, d) for s, row in state.demands.items() for d in row
            if np.isinf(dist[net.index[s], net.index[d]])
            and np.isfinite(routing.dist[routing.net.index[s], routing.net.index[d]])
        )
        assert sorted((s, d) for s, d, _ in result.disconnected[i]) == expected


def test_pairs_are_exhaustive_when_small_and_pruned_when_large() -> None:
    routing = base(random_state(3))
    n_links = len(routing.net.link_ids)
    pairs, mode = link_pairs(routing, budget=10**6)
    assert mode == "exhaustive"
    assert len(pairs) == n_links * (n_links - 1) // 2
    pruned, mode = link_pairs(routing, budget=n_links)
    assert mode.startswith("pruned")
    assert 0 < len(pruned) <= n_links
    assert {p.items for p in pruned} <= {p.items for p in pairs}
