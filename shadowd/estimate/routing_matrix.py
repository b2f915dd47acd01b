"""The routing matrix: which share of each origin-destination pair's traffic crosses each
link direction, as the engine routes it (per-hop even ECMP split over shortest paths).

Row ``r`` is a link direction, column ``p`` a pair ``(src, dst)``; entry ``A[r, p]`` is the
share of the pair's traffic that crosses the direction. So ``A @ demands`` is the load of
every link direction, which is what link counters measure: the estimator inverts it.

Built from a ``Routing`` (its distances) for all pairs at once, in waves like the
engine's own push (``engine/loads.py``): a wave holds, per (source, router, destination),
the share of the pair's traffic that reaches the router; each router splits its share
evenly over its ECMP next hops (a table per (router, destination) made once: it does not
depend on the source), every split is recorded as an entry of the matrix, and shares
reaching the same (source, router, destination) merge. The number of waves is the
longest ECMP path in hops; the work is the number of entries (12 million, 3 s, for
1,000 routers and 2,500 links).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from shadowd.core.errors import BadEstimateInput
from shadowd.engine.arrays import merge
from shadowd.engine.loads import Routing
from shadowd.engine.network import FloatArray, IntArray, Network
from shadowd.engine.spf import tight_rows

Pair = tuple[str, str]


@dataclass(frozen=True, eq=False)
class RoutingMatrix:
    """``matrix`` (link directions x pairs, sparse) with the names of its rows and columns.

    ``rows`` name the link directions (the keys counters come under) and ``tail``/``head``
    index the routers each leaves and enters; ``src``/``dst`` index the routers of each
    pair (column). Shapes that disagree are refused, naming what disagrees.
    """

    matrix: sp.csr_array
    rows: list[str]
    tail: IntArray
    head: IntArray
    routers: list[str]
    src: IntArray
    dst: IntArray

    def __post_init__(self) -> None:
        rows, columns = self.matrix.shape
        _same("rows", rows, {"row names": len(self.rows), "tails": self.tail.size,
                             "heads": self.head.size})
        _same("columns", columns, {"pair sources": self.src.size,
                                   "pair destinations": self.dst.size})
        ends = np.concatenate([self.tail, self.head, self.src, self.dst])
        if ends.size and not 0 <= ends.min() <= ends.max() < len(self.routers):
            raise BadEstimateInput("a router index is out of range", subject="routing matrix")

    @cached_property
    def row_index(self) -> dict[str, int]:
        return {name: r for r, name in enumerate(self.rows)}

    @cached_property
    def router_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.routers)}

    @cached_property
    def pair_index(self) -> dict[Pair, int]:
        names = self.routers
        return {(names[s], names[d]): p
                for p, (s, d) in enumerate(zip(self.src.tolist(), self.dst.tolist(),
                                               strict=True))}

    @property
    def pair_count(self) -> int:
        return int(self.src.size)

    def pair(self, column: int) -> Pair:
        return self.routers[int(self.src[column])], self.routers[int(self.dst[column])]

    @cached_property
    def reverse(self) -> IntArray:
        """The column of each pair's reverse pair (dst, src); -1 where there is none."""
        n = len(self.routers)
        column = np.full(n * n, -1, dtype=np.int64)
        column[self.src * n + self.dst] = np.arange(self.pair_count)
        back: IntArray = column[self.dst * n + self.src]
        return back

    @cached_property
    def hops(self) -> FloatArray:
        """Each pair's path length in link directions (ECMP: the average over its paths)."""
        return np.asarray(self.matrix.sum(axis=0), dtype=np.float64).reshape(-1)


def _same(what: str, expected: int, counts: dict[str, int]) -> None:
    for name, count in counts.items():
        if count != expected:
            raise BadEstimateInput(f"the matrix has {expected} {what} but {count} {name}",
                                   subject="routing matrix")


def direction_name(net: Network, edge: int) -> str:
    """How a link direction is named: ``"LINK SRC->DST"``, as shadowd's records name it."""
    link, a, b = net.describe_edge(edge)
    return f"{link} {a}->{b}"


def all_pairs(n: int) -> tuple[IntArray, IntArray]:
    """Every ordered pair of distinct routers, by source then destination."""
    src, dst = np.divmod(np.arange(n * n, dtype=np.int64), n)
    distinct = src != dst
    return src[distinct], dst[distinct]


def column_of(n: int, src: IntArray, dst: IntArray) -> IntArray:
    """The column of pair ``(src, dst)`` in ``all_pairs(n)``'s order."""
    return src * (n - 1) + dst - (dst > src)


@dataclass(frozen=True, slots=True)
class _Dag:
    """The ECMP next hops of every (router, destination): for key ``router * n + dest``,
    ``edges[ptr[key]:ptr[key + 1]]``. They do not depend on the source."""

    ptr: IntArray
    edges: IntArray

    @classmethod
    def of(cls, routing: Routing) -> _Dag:
        net, n = routing.net, routing.net.size
        every = np.arange(net.edge_count, dtype=np.int64)
        edge, dest = np.nonzero(tight_rows(net, routing.dist, net.weight, every))
        keys = net.src[edge] * n + dest
        order = np.argsort(keys, kind="stable")
        ptr = np.zeros(n * n + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys, minlength=n * n), out=ptr[1:])
        return cls(ptr=ptr, edges=edge[order].astype(np.int64))

    def expand(self, keys: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """For each of ``keys``, its next hops: (position in ``keys``, edge, fan-out)."""
        first, count = self.ptr[keys], self.ptr[keys + 1] - self.ptr[keys]
        owner = np.repeat(np.arange(keys.size), count)
        offset = np.arange(owner.size) - np.repeat(np.cumsum(count) - count, count)
        return owner, self.edges[first[owner] + offset], count[owner]


@dataclass(slots=True)
class _Wave:
    """Shares in flight: key ``(source * n + router) * n + destination`` -> share."""

    keys: IntArray
    shares: FloatArray


def _start(routing: Routing) -> _Wave:
    n = routing.net.size
    src, dst = all_pairs(n)
    reachable = np.isfinite(routing.dist[src, dst])
    src, dst = src[reachable], dst[reachable]
    return _Wave(keys=(src * n + src) * n + dst, shares=np.ones(src.size))


def _step(net: Network, dag: _Dag, wave: _Wave) -> tuple[_Wave, IntArray, IntArray, FloatArray]:
    """Split every share over its router's ECMP next hops: the next wave, and the entries
    made (pair column, link direction, share)."""
    n = net.size
    source, at = np.divmod(wave.keys, n * n)
    owner, edges, ways = dag.expand(at)
    source, dest = source[owner], at[owner] % n
    share = wave.shares[owner] / ways
    keys, shares = merge((source * n + net.dst[edges]) * n + dest, share)
    arrived = keys % n == (keys // n) % n
    kept = _Wave(keys[~arrived], shares[~arrived])
    return kept, column_of(n, source, dest), edges, share


def _entries(routing: Routing) -> tuple[FloatArray, IntArray, IntArray]:
    """Every (share, link direction, pair column) the waves make, duplicates unsummed."""
    wave, dag = _start(routing), _Dag.of(routing)
    shares, edges, columns = [np.zeros(0)], [np.zeros(0, np.int32)], [np.zeros(0, np.int32)]
    while wave.keys.size:
        wave, column, edge, share = _step(routing.net, dag, wave)
        shares.append(share)
        edges.append(edge.astype(np.int32))
        columns.append(column.astype(np.int32))
    return np.concatenate(shares), np.concatenate(edges), np.concatenate(columns)


def routing_matrix(routing: Routing) -> RoutingMatrix:
    """The routing matrix of ``routing``: every directed edge of its network a row (a link
    that is down has an empty one), every ordered pair of distinct routers a column."""
    net = routing.net
    src, dst = all_pairs(net.size)
    shares, edges, columns = _entries(routing)
    matrix = sp.coo_array((shares, (edges, columns)), shape=(net.edge_count, src.size)).tocsr()
    rows = [direction_name(net, e) for e in range(net.edge_count)]
    return RoutingMatrix(matrix=matrix, rows=rows, tail=net.src.copy(), head=net.dst.copy(),
                         routers=list(net.routers), src=src, dst=dst)
