"""Loads equal pyNTM's on real SNDlib networks (topohub) with their demand matrices.

pyNTM is the independent reference: it enumerates every shortest path of every demand
and splits per hop; shadowd pushes traffic down per-destination DAGs. Compared for the
base case and single-link / single-router failures, to 1e-9 relative, under two metric
schemes: ``igp`` (link length in km: few ties) and ``hop`` (all 1: ECMP everywhere).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from bench.engine_reference import build_model, failed_link, failed_node, interface_loads
from shadowd.core.state import State
from shadowd.engine.loads import Routing, route
from shadowd.engine.network import Network, demand_matrix
from shadowd.engine.schemes import MetricOptions
from shadowd.engine.sweep import Failure, Scenario, sweep
from tests.fakes.engine import topohub_state

SCHEMES = ["igp", "hop"]
Loads = dict[tuple[str, str, str], float]


def ours(state: State, scheme: str, failures: list[Failure]) -> tuple[Routing, dict[str, Loads]]:
    net = Network.from_state(state, MetricOptions(scheme=scheme))  # type: ignore[arg-type]
    routing = route(net, demand_matrix(state, net))
    seen: dict[str, Loads] = {}

    def keep(s: Scenario) -> None:
        edges = range(net.edge_count)
        seen[s.failure.name] = {net.describe_edge(e): float(s.loads[e]) for e in edges}

    sweep(routing, failures, on_scenario=keep)
    return routing, seen


def theirs(model: Any, state: State, failure: Failure) -> Loads:
    if failure.kind == "link":
        with failed_link(model, state, failure.items[0]):
            return interface_loads(model)
    if failure.kind == "router":
        with failed_node(model, failure.items[0]):
            return interface_loads(model)
    return interface_loads(model)


def assert_equal_loads(mine: Loads, ref: Loads, total: float, what: str) -> None:
    for key, want in ref.items():
        got = mine[key]
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12 * total), (what, key, got, want)
    for key in mine.keys() - ref.keys():  # interfaces pyNTM reports as failed
        assert mine[key] == 0.0, (what, key)


def check(key: str, scheme: str, links: Iterable[int] | None, routers: Iterable[int] | None) -> int:
    """Compare base + chosen failures (indices into links/routers; None = all)."""
    state, _ = topohub_state(key)
    link_ids, router_ids = sorted(state.links), sorted(state.routers)
    pick_l = range(len(link_ids)) if links is None else links
    pick_r = range(len(router_ids)) if routers is None else routers
    failures = [Failure("link", (link_ids[i],)) for i in pick_l]
    failures += [Failure("router", (router_ids[i],)) for i in pick_r]
    routing, mine = ours(state, scheme, failures)
    model = build_model(state, MetricOptions(scheme=scheme))  # type: ignore[arg-type]
    total = float(routing.demand.sum())
    for failure in [Failure("none"), *failures]:
        assert_equal_loads(mine[failure.name], theirs(model, state, failure), total, failure.name)
    return len(failures) + 1


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("key", ["sndlib/abilene", "sndlib/polska", "sndlib/geant"])
def test_every_single_failure_small_networks(key: str, scheme: str) -> None:
    assert check(key, scheme, None, None) > 20


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(
    "key", ["sndlib/nobel-us", "sndlib/atlanta", "sndlib/janos-us", "sndlib/germany50"]
)
def test_sampled_failures(key: str, scheme: str) -> None:
    rng = np.random.default_rng(7)
    state, _ = topohub_state(key)
    links = rng.choice(len(state.links), 3, replace=False).tolist()
    routers = rng.choice(len(state.routers), 2, replace=False).tolist()
    check(key, scheme, links, routers)


@pytest.mark.slow
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_single_failure_germany50(scheme: str) -> None:
    assert check("sndlib/germany50", scheme, None, None) == 1 + 88 + 50
