"""Route a demand matrix onto the edges: per-hop even ECMP split.

Every router splits what it forwards towards ``d`` equally over its ECMP next hops
(parallel links count one each), as hashing routers do on average. Routing is linear in
the traffic, so it is done by *pushing* amounts down the DAGs in waves, all destinations
at once: an amount at (router, destination) is split over the router's next hops, lands
on their heads, and amounts landing on the same (router, destination) merge. A wave is a
handful of numpy operations; the number of waves is the longest ECMP path in hops.

The same push routes a full matrix, one changed demand, or the correction terms that
an incremental update injects (``delta.py``): pushing a negative amount removes traffic.

``through[u, d]`` is the traffic towards ``d`` that passes through (or starts at) ``u``;
``through[d, d]`` is what ``d`` receives. Traffic at a router with no path to ``d`` stays
there: it is the undelivered part of the demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shadowd.engine.arrays import merge
from shadowd.engine.network import FloatArray, IntArray, Network, fan_out
from shadowd.engine.spf import FanArray, distance_matrix, fanout_matrix


@dataclass(frozen=True, slots=True)
class Frame:
    """Flat keys for ``scenarios`` what-ifs at once.

    A *pair key* is ``router * n + dest`` and indexes the committed n x n matrices; a
    *key* is ``scenario * n * n + pair key`` and indexes a scenario's scratch copy. A
    *weight key* is ``scenario * edges + edge``. One scenario: keys are pair keys.
    """

    n: int
    edges: int
    scenarios: int = 1

    @property
    def nn(self) -> int:
        return self.n * self.n

    def pair(self, keys: IntArray) -> IntArray:
        return keys % self.nn

    def node(self, keys: IntArray) -> IntArray:
        return (keys % self.nn) // self.n

    def scen(self, keys: IntArray) -> IntArray:
        return keys // self.nn

    def moved(self, keys: IntArray, nodes: IntArray) -> IntArray:
        """The keys of the same scenario and destination at router ``nodes``."""
        return keys + (nodes - self.node(keys)) * self.n

    def wkey(self, keys: IntArray, edges: IntArray) -> IntArray:
        return self.scen(keys) * self.edges + edges


@dataclass(slots=True)
class Pushed:
    """Result of a push: load added per weight key, and every (key, amount) visited."""

    load: FloatArray
    keys: IntArray
    amounts: FloatArray


def push(
    net: Network,
    frame: Frame,
    state: tuple[FloatArray, FanArray, FloatArray],
    keys: IntArray,
    amounts: FloatArray,
) -> Pushed:
    """Push ``amounts`` at ``keys`` to their destinations over the DAGs of ``state``.

    ``state = (dist, fan, weight)``, flat, indexed by key (dist, fan) and weight key.
    """
    dist, fan, weight = state
    load = np.zeros(frame.scenarios * frame.edges)
    seen_keys, seen_amounts = [keys], [amounts]
    while keys.size:
        ways = fan[keys]
        going = ways > 0
        keys, share = keys[going], amounts[going] / ways[going]
        owner, edges = fan_out(net.out_pad, frame.node(keys))
        here = keys[owner]
        heads = frame.moved(here, net.dst[edges])
        wkeys = frame.wkey(here, edges)
        on_dag = dist[here] == weight[wkeys] + dist[heads]
        part = share[owner[on_dag]]
        load += np.bincount(wkeys[on_dag], part, minlength=load.size)
        keys, amounts = merge(heads[on_dag], part)
        seen_keys.append(keys)
        seen_amounts.append(amounts)
    return Pushed(load=load, keys=np.concatenate(seen_keys), amounts=np.concatenate(seen_amounts))


@dataclass(eq=False, slots=True)
class Routing:
    """Routed state of a network: distances, ECMP fan-out, demands, transit and loads."""

    net: Network
    dist: FloatArray
    fan: FanArray
    demand: FloatArray
    through: FloatArray
    load: FloatArray

    def copy(self) -> Routing:
        return Routing(
            net=self.net,
            dist=self.dist.copy(),
            fan=self.fan.copy(),
            demand=self.demand.copy(),
            through=self.through.copy(),
            load=self.load.copy(),
        )


def route(net: Network, demand: FloatArray) -> Routing:
    """Full computation from scratch: SPF for all destinations, then route ``demand``."""
    dist = distance_matrix(net)
    fan = fanout_matrix(net, dist)
    src, dst = np.nonzero(demand)
    frame = Frame(net.size, net.edge_count)
    state = (dist.reshape(-1), fan.reshape(-1), net.weight)
    pushed = push(net, frame, state, src * net.size + dst, demand[src, dst])
    through = np.bincount(pushed.keys, pushed.amounts, minlength=frame.nn).astype(np.float64)
    through = through.reshape(net.size, net.size)
    return Routing(net=net, dist=dist, fan=fan, demand=demand, through=through, load=pushed.load)
