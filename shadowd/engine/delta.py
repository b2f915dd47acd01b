"""Incremental routing: the exact effect of changed edge weights, for many what-ifs at once.

A link or router going down or up, or a metric change, is a change of edge weights
(``inf`` = unusable). ``reweigh`` computes the effect of one such change per *scenario*,
for a batch of scenarios together, without touching the committed ``Routing``; the
result can be committed (one scenario: an event) or read and dropped (failure sweeps).
Its work follows what each change reaches, not the size of the network:

1. *Distances* (dynamic SPF, vectorised over (scenario, router, destination) keys).
   Raised weights: the keys that lose every ECMP next hop are found by counting
   ``fan`` down from the failed DAG edges upstream (Ramalingam-Reps); they are re-priced
   from their unaffected out-neighbours and relaxed backwards. Lowered weights: a
   closed form per edge (see ``lower_weights``), no iteration.
2. *Next hops* are re-derived only where they can differ: keys whose distance changed,
   their DAG in-neighbours, and the tails of changed edges.
3. *Loads*. Routing is linear: ``through = demand + P^T through``. If the split matrix
   changes from P to P' only at the keys of step 2, the new transit is the old plus the
   push, down the *new* DAGs, of ``q = (P' - P)^T through_old``: what those routers now
   send differently. An edge's load changes by its share of ``q`` plus what the push
   puts on it. Only routers downstream of a change are visited.

Per-scenario scratch copies of ``dist`` and ``fan`` (a ``Workspace``) are written during a
computation and restored before it returns, so a sweep allocates nothing per failure.
Batching matters on small networks, where the cost is the count of numpy calls, not
their work: one batch of 88 failures costs about as many calls as one failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shadowd.engine.arrays import unique
from shadowd.engine.loads import Frame, Routing, push
from shadowd.engine.network import INF, BoolArray, FloatArray, IntArray, Network, fan_out
from shadowd.engine.spf import FanArray, tight_rows

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(eq=False, slots=True)
class Workspace:
    """Scratch ``dist`` and ``fan`` per scenario, equal to the committed ones at rest."""

    dist: FloatArray  # (scenarios, n, n)
    fan: FanArray

    @classmethod
    def of(cls, routing: Routing, scenarios: int = 1) -> Workspace:
        return cls(
            dist=np.repeat(routing.dist[None], scenarios, axis=0),
            fan=np.repeat(routing.fan[None], scenarios, axis=0),
        )

    @property
    def scenarios(self) -> int:
        return int(self.dist.shape[0])

    def restore(self, routing: Routing, keys: IntArray) -> None:
        pairs = keys % routing.dist.size
        self.dist.reshape(-1)[keys] = routing.dist.reshape(-1)[pairs]
        self.fan.reshape(-1)[keys] = routing.fan.reshape(-1)[pairs]


@dataclass(eq=False, slots=True)
class Change:
    """The effect of a batch of changes. Keys as in ``Frame``; load is (scenarios, edges)."""

    scenarios: IntArray
    edges: IntArray
    weights: FloatArray
    dist_keys: IntArray
    dist_values: FloatArray
    fan_keys: IntArray
    fan_values: FanArray
    through_keys: IntArray
    through_amounts: FloatArray
    load: FloatArray
    demand_keys: IntArray
    demand_values: FloatArray

    def destinations(self, n: int) -> int:
        """How many (scenario, destination) routing trees changed."""
        trees = self.fan_keys // (n * n) * n + self.fan_keys % n
        return int(unique(trees).size)


class _Pass:
    """One computation: the network, committed arrays, weights per scenario, scratch."""

    def __init__(
        self, routing: Routing, ws: Workspace, change: tuple[IntArray, IntArray, FloatArray]
    ) -> None:
        scen, edges, weights = change
        net = routing.net
        self.net: Network = net
        self.routing = routing
        self.frame = Frame(net.size, net.edge_count, ws.scenarios)
        self.dist = routing.dist.reshape(-1)
        self.w_old = net.weight
        self.w_new = np.tile(net.weight, ws.scenarios)
        self.w_new[scen * net.edge_count + edges] = weights
        self.w_mid = np.tile(net.weight, ws.scenarios)
        self.w_mid[scen * net.edge_count + edges] = np.maximum(weights, net.weight[edges])
        self.sdist = ws.dist.reshape(-1)
        self.sfan = ws.fan.reshape(-1)
        self.ws = ws
        self.touched: list[IntArray] = []

    # --- tightness, old (committed) and new (scratch) ----------------------------------

    def was_tight(self, tails: IntArray, heads: IntArray, edges: IntArray) -> BoolArray:
        here = self.dist[self.frame.pair(tails)]
        out: BoolArray = np.isfinite(here) & (
            here == self.w_old[edges] + self.dist[self.frame.pair(heads)]
        )
        return out

    def is_tight(self, tails: IntArray, heads: IntArray, edges: IntArray) -> BoolArray:
        here = self.sdist[tails]
        out: BoolArray = np.isfinite(here) & (
            here == self.w_new[self.frame.wkey(tails, edges)] + self.sdist[heads]
        )
        return out

    def neighbours(self, keys: IntArray, inbound: bool) -> tuple[IntArray, IntArray, IntArray]:
        """(key, neighbour key, edge) for every in- or out-edge of each key's router."""
        net, frame = self.net, self.frame
        owner, edges = fan_out(net.in_pad if inbound else net.out_pad, frame.node(keys))
        here = keys[owner]
        other = frame.moved(here, (net.src if inbound else net.dst)[edges])
        return here, other, edges

    # --- step 1: distances ------------------------------------------------------------

    def relax_backwards(self, frontier: IntArray, weight: FloatArray) -> IntArray:
        """Propagate lowered distances at ``frontier`` to in-neighbours; all improved."""
        improved = [frontier]
        while frontier.size:
            here, feeder, edges = self.neighbours(frontier, inbound=True)
            cand = weight[self.frame.wkey(here, edges)] + self.sdist[here]
            better = cand < self.sdist[feeder]
            feeder, cand = feeder[better], cand[better]
            np.minimum.at(self.sdist, feeder, cand)
            frontier = unique(feeder)
            improved.append(frontier)
        return np.concatenate(improved)

    def raise_weights(self, scen: IntArray, raised: IntArray) -> IntArray:
        """Distances after ``raised`` edges get ``w_mid``; returns the keys that grew."""
        if raised.size == 0:
            return _EMPTY
        net, frame = self.net, self.frame
        which, dests = np.nonzero(tight_rows(net, self.routing.dist, self.w_old, raised))
        lost = self._count_down(scen[which] * frame.nn + net.src[raised[which]] * frame.n + dests)
        is_raised = np.zeros(frame.scenarios * frame.edges, dtype=np.bool_)
        is_raised[scen * frame.edges + raised] = True
        frontier, orphans = lost, [lost]
        while frontier.size:
            here, feeder, edges = self.neighbours(frontier, inbound=True)
            feeds = ~is_raised[frame.wkey(here, edges)] & self.was_tight(feeder, here, edges)
            frontier = self._count_down(feeder[feeds])
            orphans.append(frontier)
        grown = np.concatenate(orphans)
        self._reprice(grown)
        return grown

    def _count_down(self, keys: IntArray) -> IntArray:
        """Take one next hop from each key (with repeats); the keys left with none."""
        np.subtract.at(self.sfan, keys, 1)
        self.touched.append(keys)
        distinct = unique(keys)
        lost: IntArray = distinct[self.sfan[distinct] == 0]
        return lost

    def _reprice(self, grown: IntArray) -> None:
        """New distances of keys that lost every next hop: exits first, then relax."""
        self.sdist[grown] = INF
        self.touched.append(grown)
        here, head, edges = self.neighbours(grown, inbound=False)
        cand = self.w_mid[self.frame.wkey(here, edges)] + self.sdist[head]
        np.minimum.at(self.sdist, here, cand)
        exits = grown[np.isfinite(self.sdist[grown])]
        self.touched.append(self.relax_backwards(exits, self.w_mid))

    def lower_weights(self, scen: IntArray, lowered: IntArray) -> IntArray:
        """Distances after ``lowered`` edges get their new weight; the keys that shrank.

        Exact and without iteration, one edge ``u->v`` at a time: a path that gets
        shorter uses the edge once, so ``D'(y, d) = min(D(y, d), D(y, u) + w + D(v, d))``,
        and only rows ``y`` with ``D(y, u) + w < D(y, v)`` and columns ``d`` with
        ``w + D(v, d) < D(u, d)`` can improve.
        """
        shrunk = [_EMPTY]
        for s, edge in zip(scen.tolist(), lowered.tolist(), strict=True):
            shrunk.append(self._lower_one(s, edge))
        grown = np.concatenate(shrunk)
        self.touched.append(grown)
        return grown

    def _lower_one(self, s: int, edge: int) -> IntArray:
        dist, n = self.ws.dist[s], self.frame.n
        u, v = int(self.net.src[edge]), int(self.net.dst[edge])
        w = self.w_new[s * self.frame.edges + edge]
        rows = np.flatnonzero(dist[:, u] + w < dist[:, v])
        cols = np.flatnonzero(w + dist[v] < dist[u])
        if rows.size == 0 or cols.size == 0:
            return _EMPTY
        cand = dist[rows, u][:, None] + w + dist[v, cols][None, :]
        block = dist[np.ix_(rows, cols)]
        better_r, better_c = np.nonzero(cand < block)
        y, d = rows[better_r], cols[better_c]
        dist[y, d] = cand[better_r, better_c]
        return s * self.frame.nn + y * n + d

    # --- step 2: next hops ------------------------------------------------------------

    def candidates(self, scen: IntArray, edges: IntArray, moved: IntArray) -> IntArray:
        """Keys whose next hops may differ: moved keys, their DAG feeders, edge tails."""
        here, feeder, into = self.neighbours(moved, inbound=True)
        feeds = self.was_tight(feeder, here, into) | self.is_tight(feeder, here, into)
        net, frame = self.net, self.frame
        tails = scen[:, None] * frame.nn + net.src[edges, None] * frame.n + np.arange(frame.n)
        heads = tails + ((net.dst[edges] - net.src[edges]) * frame.n)[:, None]
        wide = np.broadcast_to(edges[:, None], tails.shape)
        either = self.was_tight(tails, heads, wide) | self.is_tight(tails, heads, wide)
        return unique(np.concatenate([moved, feeder[feeds], tails[either]]))

    def resplit(self, keys: IntArray) -> tuple[FloatArray, IntArray, FloatArray]:
        """New fan-out at ``keys``; direct load change, and where ``q`` lands, how much."""
        owner, edges = fan_out(self.net.out_pad, self.frame.node(keys))
        here = keys[owner]
        head = self.frame.moved(here, self.net.dst[edges])
        was = self.was_tight(here, head, edges)
        now = self.is_tight(here, head, edges)
        fan_was = np.bincount(owner, was, minlength=keys.size)
        fan_now = np.bincount(owner, now, minlength=keys.size)
        self.sfan[keys] = fan_now
        self.touched.append(keys)
        share = np.where(now, 1.0 / np.maximum(fan_now, 1)[owner], 0.0) - np.where(
            was, 1.0 / np.maximum(fan_was, 1)[owner], 0.0
        )
        shifted = self.routing.through.reshape(-1)[self.frame.pair(here)] * share
        hit = shifted != 0.0
        wkeys = self.frame.wkey(here[hit], edges[hit])
        size = self.frame.scenarios * self.frame.edges
        load = np.bincount(wkeys, shifted[hit], minlength=size).astype(np.float64)
        return load, head[hit], shifted[hit]

    def finish(self) -> None:
        if self.touched:
            self.ws.restore(self.routing, np.concatenate(self.touched))


def reweigh(
    routing: Routing, ws: Workspace, scen: IntArray, edges: IntArray, weights: FloatArray
) -> Change:
    """The effect, per scenario ``scen[i]``, of giving ``edges[i]`` weight ``weights[i]``."""
    run = _Pass(routing, ws, (scen, edges, weights))
    try:
        old = routing.net.weight[edges]
        up, down = weights > old, weights < old
        grown = run.raise_weights(scen[up], edges[up])
        shrunk = run.lower_weights(scen[down], edges[down])
        moved = unique(np.concatenate([grown, shrunk]))
        moved = moved[run.sdist[moved] != run.dist[run.frame.pair(moved)]]
        keys = run.candidates(scen, edges, moved)
        direct, heads, shifted = run.resplit(keys)
        state = (run.sdist, run.sfan, run.w_new)
        pushed = push(routing.net, run.frame, state, heads, shifted)
        return Change(
            scenarios=scen, edges=edges, weights=weights,
            dist_keys=moved, dist_values=run.sdist[moved].copy(),
            fan_keys=keys, fan_values=run.sfan[keys].copy(),
            through_keys=pushed.keys, through_amounts=pushed.amounts,
            load=(direct + pushed.load).reshape(ws.scenarios, -1),
            demand_keys=_EMPTY, demand_values=np.zeros(0),
        )
    finally:
        run.finish()


def redemand(routing: Routing, keys: IntArray, rates: FloatArray) -> Change:
    """The effect of setting the demands at pair keys ``keys`` (``src * n + dst``, each
    once) to ``rates`` (0 removes one): one push for all of them."""
    net = routing.net
    step = rates - routing.demand.reshape(-1)[keys]
    state = (routing.dist.reshape(-1), routing.fan.reshape(-1), net.weight)
    pushed = push(net, Frame(net.size, net.edge_count), state, keys, step)
    return Change(
        scenarios=_EMPTY, edges=_EMPTY, weights=np.zeros(0),
        dist_keys=_EMPTY, dist_values=np.zeros(0),
        fan_keys=_EMPTY, fan_values=np.zeros(0, dtype=np.int32),
        through_keys=pushed.keys, through_amounts=pushed.amounts,
        load=pushed.load[None], demand_keys=keys, demand_values=rates,
    )


def loads_after(routing: Routing, change: Change) -> FloatArray:
    """Per-scenario loads (scenarios, edges) with ``change``; dead edges carry 0."""
    load = routing.load[None] + change.load
    dead = np.isinf(change.weights)
    load[change.scenarios[dead], change.edges[dead]] = 0.0
    return load


def commit(routing: Routing, ws: Workspace, change: Change) -> None:
    """Make a one-scenario ``change`` part of ``routing`` (and keep ``ws`` equal to it)."""
    routing.net.weight[change.edges] = change.weights
    routing.dist.reshape(-1)[change.dist_keys] = change.dist_values
    routing.fan.reshape(-1)[change.fan_keys] = change.fan_values
    np.add.at(routing.through.reshape(-1), change.through_keys, change.through_amounts)
    routing.demand.reshape(-1)[change.demand_keys] = change.demand_values
    routing.load = loads_after(routing, change)[0]
    ws.restore(routing, np.concatenate([change.dist_keys, change.fan_keys]))
