"""A compiled, index-based view of a ``State`` that the routing code works on.

Routers become ints ``0..n-1``; physical link ``k`` becomes two directed edges, ``2k``
(a->b) and ``2k+1`` (b->a), so ``edge >> 1`` is the link and ``edge & 1`` the direction.
Every link keeps its edges, up or down: an edge that cannot carry traffic (link down or
removed, or either router down) has weight ``inf``, which no shortest path uses. That
keeps edge indices stable while events arrive; a rebuild compacts removed links away.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from shadowd.core.state import Link, State
from shadowd.engine.schemes import MetricOptions, latency_ms, link_metrics

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]

INF = float("inf")


def _csr(keys: IntArray, n: int) -> tuple[IntArray, IntArray]:
    """Group edge indices by ``keys`` (a node per edge): (pointer per node, edge order)."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n), out=ptr[1:])
    return ptr, order


def _padded(ptr: IntArray, order: IntArray) -> IntArray:
    """The CSR as a rectangle: row ``v`` lists ``v``'s edges, padded with -1."""
    counts = np.diff(ptr)
    width = int(counts.max()) if counts.size else 0
    pad = np.full((counts.size, width), -1, dtype=np.int64)
    rows = np.repeat(np.arange(counts.size), counts)
    cols = np.arange(order.size) - np.repeat(ptr[:-1], counts)
    pad[rows, cols] = order
    return pad


def fan_out(pad: IntArray, nodes: IntArray) -> tuple[IntArray, IntArray]:
    """The edges of each of ``nodes``: (position in ``nodes``, edge), flattened.

    ``pad`` is ``Network.out_pad`` or ``in_pad``. Four numpy calls whatever the sizes:
    on small networks the engine's cost is the number of numpy calls, not their work.
    """
    block = pad[nodes]
    owner, col = np.nonzero(block >= 0)
    return owner.astype(np.int64), block[owner, col]


@dataclass(eq=False)
class Network:
    """Routers, directed edges and their attributes as arrays. See the module docstring."""

    options: MetricOptions
    routers: list[str]
    index: dict[str, int]
    router_up: BoolArray
    link_ids: list[str]
    link_index: dict[str, int]
    link_up: BoolArray
    link_present: BoolArray
    src: IntArray
    dst: IntArray
    metric: FloatArray
    capacity: FloatArray
    delay_ms: FloatArray
    srlgs: dict[str, list[int]] = field(default_factory=dict)
    weight: FloatArray = field(init=False)
    out_ptr: IntArray = field(init=False)
    out_edges: IntArray = field(init=False)
    in_ptr: IntArray = field(init=False)
    in_edges: IntArray = field(init=False)
    out_pad: IntArray = field(init=False)
    in_pad: IntArray = field(init=False)

    def __post_init__(self) -> None:
        self.weight = self.usable_weight(np.arange(self.edge_count, dtype=np.int64))
        self.reindex()

    @classmethod
    def from_state(cls, state: State, options: MetricOptions | None = None) -> Network:
        opts = options if options is not None else MetricOptions()
        routers = sorted(state.routers)
        index = {name: i for i, name in enumerate(routers)}
        links = [state.links[k] for k in sorted(state.links)]
        ends = [(index[lk.a], index[lk.b]) for lk in links]
        metrics = [link_metrics(lk, opts) for lk in links]
        net = cls(
            options=opts,
            routers=routers,
            index=index,
            router_up=np.array([state.routers[r].up for r in routers], dtype=np.bool_),
            link_ids=[lk.id for lk in links],
            link_index={lk.id: k for k, lk in enumerate(links)},
            link_up=np.array([lk.up for lk in links], dtype=np.bool_),
            link_present=np.ones(len(links), dtype=np.bool_),
            src=np.array([x for a, b in ends for x in (a, b)], dtype=np.int64),
            dst=np.array([x for a, b in ends for x in (b, a)], dtype=np.int64),
            metric=np.array([x for m in metrics for x in m], dtype=np.float64),
            capacity=np.repeat([lk.capacity_bps for lk in links], 2).astype(np.float64),
            delay_ms=np.repeat([latency_ms(lk, opts) for lk in links], 2).astype(np.float64),
        )
        for k, lk in enumerate(links):
            for group in lk.srlgs:
                net.srlgs.setdefault(group, []).append(k)
        return net

    # --- shape ---------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.routers)

    @property
    def edge_count(self) -> int:
        return int(self.src.size)

    def reindex(self) -> None:
        """Rebuild the out/in adjacency (CSR) after edges were added."""
        self.out_ptr, self.out_edges = _csr(self.src, self.size)
        self.in_ptr, self.in_edges = _csr(self.dst, self.size)
        self.out_pad = _padded(self.out_ptr, self.out_edges)
        self.in_pad = _padded(self.in_ptr, self.in_edges)

    def edges_of_link(self, link: str) -> IntArray:
        k = self.link_index[link]
        return np.array([2 * k, 2 * k + 1], dtype=np.int64)

    def edges_of_router(self, router: int) -> IntArray:
        out = self.out_edges[self.out_ptr[router] : self.out_ptr[router + 1]]
        inc = self.in_edges[self.in_ptr[router] : self.in_ptr[router + 1]]
        return np.unique(np.concatenate([out, inc]))

    def live_edges(self) -> IntArray:
        """Edges of links that exist (present), whatever their state."""
        return np.flatnonzero(np.repeat(self.link_present, 2)).astype(np.int64)

    def describe_edge(self, edge: int) -> tuple[str, str, str]:
        """(link id, from router, to router) of a directed edge."""
        return (
            self.link_ids[edge >> 1],
            self.routers[int(self.src[edge])],
            self.routers[int(self.dst[edge])],
        )

    # --- what an edge weighs -----------------------------------------------------------

    def usable_weight(self, edges: IntArray) -> FloatArray:
        """The weight ``edges`` should have now: their metric if usable, else ``inf``."""
        links = edges >> 1
        ok = (
            self.link_present[links]
            & self.link_up[links]
            & self.router_up[self.src[edges]]
            & self.router_up[self.dst[edges]]
        )
        return np.where(ok, self.metric[edges], INF)

    # --- growth, for events that add things ------------------------------------------

    def add_router(self, name: str, up: bool = True) -> int:
        self.index[name] = len(self.routers)
        self.routers.append(name)
        self.router_up = np.append(self.router_up, up)
        self.reindex()
        return self.index[name]

    def add_link(self, link: Link) -> IntArray:
        """Append ``link`` (down until its weight is set) and return its two edges."""
        k = len(self.link_ids)
        a, b = self.index[link.a], self.index[link.b]
        ab, ba = link_metrics(link, self.options)
        self.link_ids.append(link.id)
        self.link_index[link.id] = k
        self.link_up = np.append(self.link_up, link.up)
        self.link_present = np.append(self.link_present, True)
        self.src = np.append(self.src, [a, b])
        self.dst = np.append(self.dst, [b, a])
        self.metric = np.append(self.metric, [float(ab), float(ba)])
        self.capacity = np.append(self.capacity, [link.capacity_bps] * 2)
        self.delay_ms = np.append(self.delay_ms, [latency_ms(link, self.options)] * 2)
        self.weight = np.append(self.weight, [INF, INF])
        for group in link.srlgs:
            self.srlgs.setdefault(group, []).append(k)
        self.reindex()
        return np.array([2 * k, 2 * k + 1], dtype=np.int64)

    def update_link(self, link: Link) -> IntArray:
        """Refresh metric, capacity, delay and SRLGs of an existing link; its edges."""
        edges = self.edges_of_link(link.id)
        k = int(edges[0]) >> 1
        self.metric[edges] = link_metrics(link, self.options)
        self.capacity[edges] = link.capacity_bps
        self.delay_ms[edges] = latency_ms(link, self.options)
        for members in self.srlgs.values():
            if k in members:
                members.remove(k)
        for group in link.srlgs:
            self.srlgs.setdefault(group, []).append(k)
        return edges


def demand_matrix(state: State, net: Network) -> FloatArray:
    """``state.demands`` as a dense n x n matrix indexed like ``net.routers``."""
    matrix = np.zeros((net.size, net.size), dtype=np.float64)
    for src, row in state.demands.items():
        i = net.index[src]
        for dst, rate in row.items():
            matrix[i, net.index[dst]] = rate
    return matrix
