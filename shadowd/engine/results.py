"""What operators read off a routed network: loads, utilisation, latency, loss, throughput.

Per directed link: load and utilisation (load / capacity; above 1 means overloaded).

Per demand, over its per-hop even ECMP split:
- ``latency_ms``: the *expected* one-way latency, i.e. the traffic-weighted mean over the
  ECMP paths (what an average packet sees); ``worst_latency_ms``: the slowest ECMP path.
- loss estimate: an overloaded link drops the excess proportionally, fraction
  ``1 - capacity / load`` of what crosses it. Drops compound along a path, each link
  judged on its *offered* load (upstream drops do not relieve downstream links: a
  deliberately pessimistic, order-independent estimate). ``delivered_bps`` is the
  demand times the expected surviving fraction; unreachable demands deliver nothing.

Both are dynamic programmes over each destination's ECMP DAG, ``V[u] = mean over next
hops e of (add_e + mul_e * V[head_e])``, solved for all destinations at once by
iterating to the fixpoint (as many rounds as the longest ECMP path has hops).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shadowd.engine.loads import Routing
from shadowd.engine.network import FloatArray, Network
from shadowd.engine.spf import tight_rows


@dataclass(frozen=True, slots=True)
class EdgeLoad:
    link: str
    src: str
    dst: str
    load: float
    capacity: float
    utilization: float


@dataclass(frozen=True, slots=True)
class DemandResult:
    src: str
    dst: str
    rate_bps: float
    delivered_bps: float
    latency_ms: float | None
    worst_latency_ms: float | None

    @property
    def lost_bps(self) -> float:
        return self.rate_bps - self.delivered_bps


@dataclass(frozen=True, slots=True)
class Totals:
    """A set of demands summed up: offered and delivered bit/s, the share lost, how many
    have no path, and the traffic-weighted mean latency of those that have one."""

    offered_bps: float
    delivered_bps: float
    unreachable: int
    mean_latency_ms: float

    @property
    def loss_pct(self) -> float:
        return 100.0 * (1.0 - self.delivered_bps / self.offered_bps) \
            if self.offered_bps > 0.0 else 0.0

    @classmethod
    def of(cls, demands: Iterable[DemandResult]) -> Totals:
        offered = delivered = weight = weighted = 0.0
        unreachable = 0
        for d in demands:
            offered += d.rate_bps
            delivered += d.delivered_bps
            if d.latency_ms is None:
                unreachable += 1
            else:
                weight += d.rate_bps
                weighted += d.rate_bps * d.latency_ms
        return cls(offered_bps=offered, delivered_bps=delivered, unreachable=unreachable,
                   mean_latency_ms=weighted / weight if weight > 0.0 else 0.0)


def edge_loads(net: Network, load: FloatArray) -> list[EdgeLoad]:
    """Every directed edge of every existing link, in link order."""
    util = load / net.capacity
    out = []
    for e in net.live_edges().tolist():
        link, src, dst = net.describe_edge(e)
        cap = float(net.capacity[e])
        out.append(EdgeLoad(link, src, dst, float(load[e]), cap, float(util[e])))
    return out


def top_loads(net: Network, load: FloatArray, n: int) -> list[EdgeLoad]:
    """The ``n`` most utilised directed edges, highest first."""
    ranked = sorted(edge_loads(net, load), key=lambda x: (-x.utilization, x.link, x.src))
    return ranked[:n]


def drop_fraction(net: Network, load: FloatArray) -> FloatArray:
    """Per edge, the share of offered traffic an overloaded edge drops."""
    over = load > net.capacity
    frac: FloatArray = np.where(over, 1.0 - net.capacity / np.where(over, load, 1.0), 0.0)
    return frac


def _dag_fixpoint(
    routing: Routing,
    add: FloatArray,
    mul: FloatArray,
    at_dest: float,
    how: Literal["mean", "max"],
) -> FloatArray:
    """Solve ``V[u, d] = mean|max over next hops e (add_e + mul_e * V[head_e, d])``."""
    net, n = routing.net, routing.net.size
    edges, dests = np.nonzero(tight_rows(net, routing.dist, net.weight, np.arange(net.edge_count)))
    tails, heads = net.src[edges] * n + dests, net.dst[edges] * n + dests
    base = np.zeros(n * n)
    base[np.arange(n) * (n + 1)] = at_dest
    value = base.copy()
    fan = routing.fan.reshape(-1)
    for _ in range(n + 1):
        step = add[edges] + mul[edges] * value[heads]
        if how == "mean":
            nxt = base + np.bincount(tails, step / fan[tails], minlength=n * n)
        else:
            nxt = base.copy()
            np.maximum.at(nxt, tails, step)
        if np.array_equal(nxt, value):
            break
        value = nxt
    value[np.isinf(routing.dist.reshape(-1))] = np.nan
    return value.reshape(n, n)


def demand_results(routing: Routing) -> list[DemandResult]:
    """Latency, worst-path latency and delivered throughput of every demand."""
    net = routing.net
    ones, zeros = np.ones(net.edge_count), np.zeros(net.edge_count)
    mean_lat = _dag_fixpoint(routing, net.delay_ms, ones, 0.0, "mean")
    worst_lat = _dag_fixpoint(routing, net.delay_ms, ones, 0.0, "max")
    survive = _dag_fixpoint(routing, zeros, 1.0 - drop_fraction(net, routing.load), 1.0, "mean")
    out = []
    for s, d in zip(*np.nonzero(routing.demand), strict=True):
        rate = float(routing.demand[s, d])
        ok = bool(np.isfinite(routing.dist[s, d]))
        out.append(
            DemandResult(
                src=net.routers[s], dst=net.routers[d], rate_bps=rate,
                delivered_bps=rate * float(survive[s, d]) if ok else 0.0,
                latency_ms=float(mean_lat[s, d]) if ok else None,
                worst_latency_ms=float(worst_lat[s, d]) if ok else None,
            )
        )
    return out
