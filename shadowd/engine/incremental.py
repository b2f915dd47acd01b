"""The ``Engine``: a routed model of the network that absorbs events one at a time.

It keeps its own copy of the state (folding each event with ``core.state.apply``) and a
``Routing``. Each event recomputes only what it can change:

- link down/up/removed/added, router health, metric change: the edge weights that
  change go through ``delta.reweigh`` (only the routing trees that used or now use them);
- capacity change: utilisation only, unless the metric scheme derives metrics from
  capacity (``inverse-capacity``), then also the changed weights;
- demand set: that one demand, pushed down the existing DAG (``absorb_all``: each run of
  demand sets at once, in one push: a telemetry batch sets every demand);
- router added: the matrices grow by one isolated router;
- router removed, or a link re-added with its ends swapped: a full rebuild (rare).

Results equal a full recompute (``Engine(engine.state)``) up to float rounding; the
property tests check that over random event sequences.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from shadowd.core.events import (
    RECORD_TYPES,
    AnyEvent,
    DemandSet,
    ExternalDemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    PeerAdded,
    PeerRemoved,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
)
from shadowd.core.state import State, apply
from shadowd.engine.delta import Workspace, commit, redemand, reweigh
from shadowd.engine.loads import Routing, route
from shadowd.engine.network import IntArray, Network, demand_matrix
from shadowd.engine.results import DemandResult, EdgeLoad, demand_results, edge_loads, top_loads
from shadowd.engine.schemes import MetricOptions
from shadowd.engine.spf import NextHop, next_hops, unreachable
from shadowd.engine.sweep import (
    DEFAULT_MEMORY_BYTES,
    Progress,
    SweepKind,
    SweepResult,
    failure_set,
    sweep,
)


@dataclass(frozen=True, slots=True)
class Impact:
    """What absorbing an event did: ``how`` (none, loads, routes, rebuild) and its reach."""

    how: str
    trees: int = 0


class Engine:
    """Routed model of one network. Build with ``Engine(state)``; feed ``absorb(event)``."""

    def __init__(self, state: State, options: MetricOptions | None = None) -> None:
        self.options = options if options is not None else MetricOptions()
        self._state = state.fork()
        self._build()
        self.changed_lsn = self._state.lsn  # of the last event that moved routes or loads

    def _build(self) -> None:
        net = Network.from_state(self._state, self.options)
        self.routing: Routing = route(net, demand_matrix(self._state, net))
        self._ws = Workspace.of(self.routing)

    @property
    def net(self) -> Network:
        return self.routing.net

    @property
    def state(self) -> State:
        """The engine's own copy of the state it models (do not mutate)."""
        return self._state

    # --- events --------------------------------------------------------------------

    def absorb(self, event: AnyEvent) -> Impact:
        """Fold ``event`` (already validated) into the model; say what it recomputed."""
        apply(self._state, event)
        handler = _HANDLERS.get(type(event))
        impact = handler(self, event) if handler is not None else Impact("none")
        if impact.how != "none":
            self.changed_lsn = self._state.lsn
        return impact

    def absorb_all(self, events: Iterable[AnyEvent]) -> None:
        """``absorb`` each of ``events`` in order, each run of demand sets in one push."""
        run: dict[int, float] = {}  # pair key -> rate; the last set of a pair wins
        for event in events:
            if type(event) is DemandSet:
                apply(self._state, event)
                run[self._pair(event)] = event.rate_bps
                continue
            self._set_demands(run)
            self.absorb(event)
        self._set_demands(run)

    def _set_demands(self, run: dict[int, float]) -> None:
        if run:
            keys = np.fromiter(run, dtype=np.int64, count=len(run))
            rates = np.fromiter(run.values(), dtype=np.float64, count=len(run))
            commit(self.routing, self._ws, redemand(self.routing, keys, rates))
            self.changed_lsn = self._state.lsn
            run.clear()

    def _pair(self, e: DemandSet) -> int:
        return self.net.index[e.src] * self.net.size + self.net.index[e.dst]

    def rebuild(self) -> Impact:
        self._build()
        return Impact("rebuild", self.net.size)

    def _reweigh(self, edges: IntArray) -> Impact:
        target = self.net.usable_weight(edges)
        moved = target != self.net.weight[edges]
        if not moved.any():
            return Impact("loads")
        edges, target = edges[moved], target[moved]
        scen = np.zeros(edges.size, dtype=np.int64)
        change = reweigh(self.routing, self._ws, scen, edges, target)
        commit(self.routing, self._ws, change)
        return Impact("routes", change.destinations(self.net.size))

    def _link_added(self, e: LinkAdded) -> Impact:
        link = self._state.links[e.link]
        k = self.net.link_index.get(e.link)
        if k is None:
            edges = self.net.add_link(link)
            self.routing.load = np.append(self.routing.load, [0.0, 0.0])
            return self._reweigh(edges)
        if self.net.routers[int(self.net.src[2 * k])] != e.a:
            return self.rebuild()
        if not self.net.link_present[k]:
            self.net.link_present[k], self.net.link_up[k] = True, link.up
        return self._reweigh(self.net.update_link(link))

    def _link_changed(self, e: LinkMetric | LinkCapacity) -> Impact:
        return self._reweigh(self.net.update_link(self._state.links[e.link]))

    def _link_status(self, e: LinkStatus) -> Impact:
        self.net.link_up[self.net.link_index[e.link]] = e.up
        return self._reweigh(self.net.edges_of_link(e.link))

    def _link_removed(self, e: LinkRemoved) -> Impact:
        self.net.link_present[self.net.link_index[e.link]] = False
        return self._reweigh(self.net.edges_of_link(e.link))

    def _router_health(self, e: RouterHealth) -> Impact:
        r = self.net.index[e.router]
        self.net.router_up[r] = e.up
        return self._reweigh(self.net.edges_of_router(r))

    def _router_added(self, e: RouterAdded) -> Impact:
        if e.router in self.net.index:
            return Impact("none")
        self.net.add_router(e.router, self._state.routers[e.router].up)
        self.routing = _grown(self.routing)
        self._ws = Workspace.of(self.routing)
        return Impact("routes", 1)

    def _demand_set(self, e: DemandSet) -> Impact:
        self._set_demands({self._pair(e): e.rate_bps})
        return Impact("loads")

    # --- reading -------------------------------------------------------------------

    def routes(self, router: str) -> dict[str, list[NextHop]]:
        """``router``'s next-hop table: destination -> ECMP next hops."""
        return next_hops(self.net, self.routing.dist, router)

    def unreachable(self, router: str) -> list[str]:
        return unreachable(self.net, self.routing.dist, router)

    def loads(self) -> list[EdgeLoad]:
        return edge_loads(self.net, self.routing.load)

    def top(self, n: int = 10) -> list[EdgeLoad]:
        return top_loads(self.net, self.routing.load, n)

    def demands(self) -> list[DemandResult]:
        return demand_results(self.routing)

    def sweep(
        self,
        kind: SweepKind,
        *,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        progress: Progress | None = None,
    ) -> SweepResult:
        """Worst case per link over a failure set (``links``, ``nodes``, ``srlg``, ``links2``)."""
        failures, mode = failure_set(self.routing, kind)
        return sweep(
            self.routing, failures, mode=mode, memory_bytes=memory_bytes, progress=progress
        )


def _grown(routing: Routing) -> Routing:
    """``routing`` with room for one more (isolated) router."""
    n = routing.dist.shape[0]

    def pad(matrix: Any, fill: float) -> Any:
        out = np.full((n + 1, n + 1), fill, dtype=matrix.dtype)
        out[:n, :n] = matrix
        return out

    dist = pad(routing.dist, np.inf)
    dist[n, n] = 0.0
    return Routing(
        net=routing.net, dist=dist, fan=pad(routing.fan, 0),
        demand=pad(routing.demand, 0.0), through=pad(routing.through, 0.0), load=routing.load,
    )


_HANDLERS: Final[dict[type, Callable[[Engine, Any], Impact]]] = {
    RouterAdded: Engine._router_added,
    RouterRemoved: lambda engine, e: engine.rebuild(),
    RouterHealth: Engine._router_health,
    LinkAdded: Engine._link_added,
    LinkRemoved: Engine._link_removed,
    LinkStatus: Engine._link_status,
    LinkMetric: Engine._link_changed,
    LinkCapacity: Engine._link_changed,
    DemandSet: Engine._demand_set,
    # BGP's external traffic is routed by shadowd.policy.bgp, on demand; records route nothing
    **{kind: lambda engine, e: Impact("none")
       for kind in (PeerAdded, PeerRemoved, ExternalDemandSet, *RECORD_TYPES)},
}


def next_hop_links(engine: Engine) -> dict[str, dict[str, frozenset[str]]]:
    """The links every running router forwards over towards every other: router ->
    destination -> its ECMP next hops' link ids (what the lab's RIBs must show)."""
    return {
        name: {dst: frozenset(hop.link for hop in hops)
               for dst, hops in engine.routes(name).items()}
        for name, router in engine.state.routers.items() if router.up
    }
