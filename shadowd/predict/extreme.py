"""Extreme-case load: a link's load under its worst failure, at the predicted traffic level.

Pure: an ``Engine`` (or its sweeps) in, numbers out.

- ``worst_cases(sweeps)``: per directed edge, the highest load over several failure sets
  (single links, single routers, SRLGs: ``Engine.sweep``) and the failure causing it.
- ``heaviest_destination(routing, edge)``: the destination whose traffic over the edge is
  the largest (a router forwards toward a destination evenly over its ECMP next hops, so
  the edge carries ``through[u, d] / fan[u, d]`` of it when it is on the DAG toward d).
- ``demand_factor(predicted, observed, max_factor)``: how much the traffic grows to reach
  the predicted peak on the spiking link.
- ``scaled_demands(state, factor, ...)``: ``DemandSet`` events multiplying every demand.

Why one factor for every demand: routed loads are linear in the demands, so multiplying
the whole matrix by ``f`` multiplies every link's load, under any failure, by ``f``. With
``f`` = the spiking link's predicted peak / its load now, the link carries exactly the
forecast in the no-failure case, its extreme-case load is its worst-case load now x ``f``
(no new sweep needed), and a scenario run on the scaled matrix agrees with that figure.
The ratio of forecast to current *totals* would be the alternative; it dilutes a local
surge (traffic toward one router hardly moves the total) and so misses exactly the
spikes that matter. Scaling everything is pessimistic elsewhere in the network, which is
the side to err on for a what-if.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from shadowd.core.events import DemandSet, Direction
from shadowd.core.state import State
from shadowd.engine.incremental import Engine
from shadowd.engine.loads import Routing
from shadowd.engine.network import FloatArray, Network
from shadowd.engine.sweep import SweepResult


@dataclass(frozen=True, slots=True)
class WorstCases:
    """Per directed edge of ``net``: the worst-case load over all the sweeps, its failure."""

    net: Network
    load: FloatArray  # the model's load now, no failure
    wc_load: FloatArray
    wc_failure: list[str]  # ``Failure.name``

    def of(self, link: str, direction: Direction) -> tuple[float, float, str]:
        """(load now, worst-case load, worst failure) of one direction of ``link``."""
        edge = edge_of(self.net, link, direction)
        return float(self.load[edge]), float(self.wc_load[edge]), self.wc_failure[edge]


def edge_of(net: Network, link: str, direction: Direction) -> int:
    """The directed edge of ``link`` a->b (``ab``) or b->a (``ba``)."""
    return 2 * net.link_index[link] + (direction == "ba")


def worst_cases(load: FloatArray, sweeps: Sequence[SweepResult]) -> WorstCases:
    """The worst over ``sweeps`` (all of one network); earlier sweeps win ties."""
    if not sweeps:
        raise ValueError("worst_cases needs at least one sweep")
    net = sweeps[0].net
    stacked = np.stack([s.wc_load for s in sweeps])
    best = np.argmax(stacked, axis=0)
    edges = np.arange(net.edge_count)
    failures = [sweeps[int(b)].wc_failure_of(e).name for e, b in enumerate(best.tolist())]
    return WorstCases(net=net, load=load.copy(), wc_load=stacked[best, edges],
                      wc_failure=failures)


def heaviest_destination(routing: Routing, edge: int) -> str | None:
    """The router toward which the most traffic crosses ``edge`` (None: nothing does)."""
    loads = destination_loads(routing, edge)
    if loads.size == 0 or float(loads.max()) <= 0.0:
        return None
    return routing.net.routers[int(np.argmax(loads))]


def destination_loads(routing: Routing, edge: int) -> FloatArray:
    """Per destination router, the traffic toward it that crosses ``edge``."""
    net = routing.net
    u, v = int(net.src[edge]), int(net.dst[edge])
    weight = float(net.weight[edge])
    if not math.isfinite(weight):
        return np.zeros(net.size)
    fan = routing.fan[u].astype(np.float64)
    on_dag = (routing.dist[u] == weight + routing.dist[v]) & (fan > 0)
    share: FloatArray = np.where(on_dag, routing.through[u] / np.maximum(fan, 1.0), 0.0)
    return share


def demand_factor(predicted_bps: float, observed_bps: float, max_factor: float) -> float:
    """Predicted peak / observed load, at least 1 (a spike is growth), at most
    ``max_factor`` (a link carrying almost nothing now would give absurd ratios)."""
    if not observed_bps > 0.0:
        return max_factor if predicted_bps > 0.0 else 1.0
    return min(max(predicted_bps / observed_bps, 1.0), max_factor)


def scaled_demands(state: State, factor: float, *, source: str, ts: float) -> list[DemandSet]:
    """Events that multiply every demand of ``state`` by ``factor`` (fold them into a
    fork: ``apply`` stays the only code that changes a state)."""
    return [DemandSet(source=source, seq=i + 1, ts=ts, src=src, dst=dst, rate_bps=rate * factor)
            for i, (src, dst, rate) in enumerate(
                (s, d, r) for s, row in sorted(state.demands.items())
                for d, r in sorted(row.items()))]


SWEPT: Final = ("links", "nodes", "srlg")  # the failure sets of a spike's extreme case


@dataclass(frozen=True, slots=True)
class LinkView:
    """One direction of a link as the model sees it: load now, worst case, what crosses."""

    link: str
    direction: Direction
    capacity_bps: float
    load_bps: float  # routed load now, no failure
    wc_load_bps: float
    worst_failure: str
    srlgs: tuple[str, ...]
    heaviest_dst: str | None


def analyse(state: State) -> tuple[Engine, WorstCases]:
    """Route ``state`` and sweep single links, routers and SRLGs, from scratch (seconds
    on a thousand routers: in a worker thread). The daemon reads these through its model
    tier instead, which keeps the engine and caches the sweeps."""
    engine = Engine(state)
    return engine, worst_cases(engine.routing.load, [engine.sweep(k) for k in SWEPT])


def views_from_scratch(state: State, keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
    """``link_views`` of ``state`` routed and swept afresh (``analyse``)."""
    engine, wc = analyse(state)
    return link_views(engine, wc, keys)


def link_views(engine: Engine, wc: WorstCases,
               keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
    """``LinkView`` of each (link, direction) of ``engine``, whose worst cases are ``wc``."""
    views = []
    for link, direction in keys:
        edge = edge_of(engine.net, link, direction)
        load, wc_load, failure = wc.of(link, direction)
        views.append(LinkView(
            link=link, direction=direction, capacity_bps=float(engine.net.capacity[edge]),
            load_bps=load, wc_load_bps=wc_load, worst_failure=failure,
            srlgs=tuple(engine.state.links[link].srlgs),
            heaviest_dst=heaviest_destination(engine.routing, edge)))
    return views
