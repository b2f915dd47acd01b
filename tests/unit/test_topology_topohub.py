"""Every SNDlib network topohub ships, and a sample of its Topology Zoo and CAIDA ones,
import straight from the package and fold; counts and values match networkx's reading."""

from __future__ import annotations

import importlib.resources
from collections import Counter
from typing import Any

import networkx as nx
import pytest
import topohub

from shadowd.core.events import DemandSet, LinkAdded, RouterAdded
from shadowd.core.state import fold
from shadowd.topology import TopologyError, topohub_topology


def _keys(group: str) -> list[str]:
    folder = importlib.resources.files(topohub) / "data" / group
    return sorted(f"{group}/{p.name.removesuffix('.json')}" for p in folder.iterdir()
                  if p.name.endswith(".json"))


SNDLIB = _keys("sndlib")
OTHERS = ["topozoo/Abilene", "topozoo/Geant2012", "topozoo/Cernet", "topozoo/Bellsouth",
          "topozoo/Aarnet", "caida/2024-08/1103", "caida/2024-08/1221", "backbone/europe",
          "gabriel/25/0"]


def _graph(key: str) -> Any:
    return nx.node_link_graph(topohub.get(key), link="edges")


def _positive_demands(key: str) -> int:
    matrix = topohub.get(key)["graph"].get("demands", {})
    return sum(1 for row in matrix.values() for rate in row.values() if rate > 0)


def test_all_26_sndlib_networks_are_listed() -> None:
    assert len(SNDLIB) == 26


@pytest.mark.parametrize("key", SNDLIB + OTHERS)
def test_import_folds_and_counts_match_the_source(key: str) -> None:
    events = topohub_topology(key, source="topohub")
    state = fold(events)
    graph = _graph(key)
    assert len(state.routers) == graph.number_of_nodes()
    assert len(state.links) == graph.number_of_edges()
    assert state.demand_count() == _positive_demands(key)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.parametrize("key", ["sndlib/abilene", "sndlib/germany50", "sndlib/geant"])
def test_sndlib_demands_are_mbit_per_s_and_delays_follow_dist(key: str) -> None:
    graph = _graph(key)
    names = dict(graph.nodes(data="name"))
    events = topohub_topology(key)
    demands = {(e.src, e.dst): e.rate_bps for e in events if isinstance(e, DemandSet)}
    for src, row in graph.graph["demands"].items():
        for dst, rate in row.items():
            assert demands[(names[int(src)], names[int(dst)])] == pytest.approx(rate * 1e6)
    delays = sorted(e.delay_ms for e in events if isinstance(e, LinkAdded))
    expected = sorted(d * 0.005 for _, _, d in graph.edges(data="dist"))
    assert delays == pytest.approx(expected)


def test_sndlib_router_names_and_positions_come_from_the_nodes() -> None:
    events = topohub_topology("sndlib/polska")
    routers = {e.router: e.pos for e in events if isinstance(e, RouterAdded)}
    assert routers["Gdansk"] == (18.6, 54.2)
    assert all(isinstance(e, RouterAdded | LinkAdded | DemandSet) for e in events)


def test_duplicate_names_fall_back_to_ids() -> None:
    graph = _graph("caida/2024-08/1916")
    names = Counter(name for _, name in graph.nodes(data="name"))
    expected = {name if names[name] == 1 else str(node) for node, name in graph.nodes(data="name")}
    assert len(expected) == graph.number_of_nodes() > len(names)  # the premise: repeats
    assert set(fold(topohub_topology("caida/2024-08/1916")).routers) == expected


def test_options_reach_the_events() -> None:
    events = topohub_topology("sndlib/abilene", source="s", ts=9.0, default_capacity_bps=1e9,
                              demand_unit_bps=1e3)
    assert {(e.source, e.ts) for e in events} == {("s", 9.0)}
    assert {e.capacity_bps for e in events if isinstance(e, LinkAdded)} == {1e9}
    first = next(e for e in events if isinstance(e, DemandSet))
    assert first.rate_bps < 1e9


def test_unknown_key_names_it() -> None:
    with pytest.raises(TopologyError, match="topohub:sndlib/atlantis"):
        topohub_topology("sndlib/atlantis")
