"""Shortest paths with ECMP: distances to every destination, and who forwards where.

``dist[u, d]`` is the length of the shortest path from router ``u`` to router ``d``
(``inf`` when ``d`` is unreachable from ``u``). Edge ``e = u->v`` is on the ECMP DAG
towards ``d`` ("tight") when ``dist[u, d] == weight[e] + dist[v, d]``; with integer
metrics this equality is exact. Parallel links are separate edges, so each equal-cost
member of a bundle is its own next hop, as routers (and pyNTM) count them.
``fanout[u, d]`` is the number of such next hops.

Distances come from rustworkx's all-pairs Dijkstra (multithreaded in Rust); measured on
a 1,000-router graph it is ~5x faster than its Floyd-Warshall and exact for integers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rustworkx as rx

from shadowd.engine.network import INF, BoolArray, FloatArray, IntArray, Network

FanArray = npt.NDArray[np.int32]


def distance_matrix(net: Network, weight: FloatArray | None = None) -> FloatArray:
    """All-pairs shortest path lengths ``dist[src, dst]`` over usable edges."""
    w = net.weight if weight is None else weight
    live = np.flatnonzero(np.isfinite(w))
    graph: rx.PyDiGraph[int, float] = rx.PyDiGraph(multigraph=True)
    graph.add_nodes_from(range(net.size))
    graph.add_edges_from(
        list(zip(net.src[live].tolist(), net.dst[live].tolist(), w[live].tolist(), strict=True))
    )
    dist = np.full((net.size, net.size), INF)
    for source, lengths in rx.digraph_all_pairs_dijkstra_path_lengths(graph, float).items():
        dist[source, list(lengths.keys())] = list(lengths.values())
    np.fill_diagonal(dist, 0.0)
    return dist


def tight_rows(net: Network, dist: FloatArray, weight: FloatArray, edges: IntArray) -> BoolArray:
    """For ``edges`` against every destination: is the edge tight (on the ECMP DAG towards
    that destination)? A (len(edges), n) matrix."""
    here = dist[net.src[edges]]
    ok: BoolArray = np.isfinite(here) & (here == weight[edges, None] + dist[net.dst[edges]])
    return ok


def fanout_matrix(net: Network, dist: FloatArray, weight: FloatArray | None = None) -> FanArray:
    """``fanout[u, d]``: how many ECMP next hops ``u`` has towards ``d``."""
    w = net.weight if weight is None else weight
    fan = np.zeros((net.size, net.size), dtype=np.int32)
    counts = np.diff(net.out_ptr)
    has = np.flatnonzero(counts > 0)
    if has.size == 0:
        return fan
    rows = tight_rows(net, dist, w, net.out_edges).astype(np.int32)
    fan[has] = np.add.reduceat(rows, net.out_ptr[has], axis=0)
    return fan


@dataclass(frozen=True, slots=True)
class NextHop:
    """One ECMP next hop: out over ``link`` to ``neighbor``, at ``metric``."""

    link: str
    neighbor: str
    metric: float


def next_hops(net: Network, dist: FloatArray, router: str) -> dict[str, list[NextHop]]:
    """The next-hop table of ``router``: destination -> its ECMP next hops.

    Unreachable destinations have no entry; ``unreachable`` lists them.
    """
    u = net.index[router]
    out = net.out_edges[net.out_ptr[u] : net.out_ptr[u + 1]]
    table: dict[str, list[NextHop]] = {}
    if out.size == 0:
        return table
    rows = tight_rows(net, dist, net.weight, out)
    for d in np.flatnonzero(rows.any(axis=0)).tolist():
        table[net.routers[d]] = [
            NextHop(net.link_ids[e >> 1], net.routers[int(net.dst[e])], float(net.weight[e]))
            for e in out[rows[:, d]].tolist()
        ]
    return table


def unreachable(net: Network, dist: FloatArray, router: str) -> list[str]:
    """Destinations ``router`` cannot reach (itself excluded)."""
    row = dist[net.index[router]]
    return [net.routers[d] for d in np.flatnonzero(np.isinf(row)).tolist()]
