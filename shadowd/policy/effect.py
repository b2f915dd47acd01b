"""What an IGP metric policy does to the network, as the routing engine sees it. Pure.

- ``apply_changes``: a fork of the state with a policy's metric changes in it;
- ``assess``: route a metric setting and sweep a failure set: the worst case per link
  direction over the failures *and* the no-failure case (``Assessment``);
- ``demands_moved`` / ``newly_disconnected``: what changes for the demands between two
  settings, in the no-failure case;
- ``predicted_utilisation``: the model's utilisation per link direction with a policy
  applied and nothing failed, the figure production's counters are compared with;
- ``gate_sample``: what a rollout gate would measure with some changes applied, as the
  model predicts it (the dry run's gates: ``shadowd.services.monitor.ShadowMonitor``).

Only ``attr == "metric"`` changes are the IGP's; ``local_pref``, ``med`` and ``prepend``
act on BGP routes (``shadowd.policy.bgp``) and are left alone here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

import numpy as np

from shadowd.core.conditions import Sample
from shadowd.core.errors import ShadowdError
from shadowd.core.events import Direction, PolicyChange, PolicyProposed
from shadowd.core.state import Link, State
from shadowd.engine.loads import Routing, route
from shadowd.engine.network import BoolArray, FloatArray, IntArray, Network, demand_matrix
from shadowd.engine.results import Totals, demand_results
from shadowd.engine.schemes import MAX_METRIC
from shadowd.engine.spf import tight_rows
from shadowd.engine.sweep import Failure, SweepResult, single_links, single_routers, srlgs, sweep

OSPF_MAX_METRIC: Final = 65_535

FailureSetKind = Literal["links", "nodes", "srlg"]
FAILURE_SET_KINDS: Final[tuple[str, ...]] = get_args(FailureSetKind)
FAILURE_SET_LABELS: Final[dict[str, str]] = {
    "links": "single links", "nodes": "single routers", "srlg": "srlgs",
}


class InvalidChange(ShadowdError):
    """A policy change that cannot apply to the state: ``change`` and why (``reason``)."""

    def __init__(self, change: PolicyChange, reason: str):
        super().__init__(reason)
        self.change = change
        self.reason = reason

    def __str__(self) -> str:
        c = self.change
        return f"{c.attr} of {c.router} on {c.target} ({c.old} -> {c.new}): {self.reason}"


# --- applying a policy ----------------------------------------------------------------


def apply_changes(state: State, changes: Iterable[PolicyChange]) -> State:
    """A fork of ``state`` with every ``metric`` change applied; ``state`` is untouched.

    ``router == link.a`` sets ``link.metric`` (a->b), ``router == link.b`` sets
    ``link.reverse_metric``. ``old`` is not checked against the state (production may
    have moved since the policy was made). Raises ``InvalidChange`` for an unknown link,
    a router that is not one of its ends, or a metric out of the IGP's range.
    """
    fork = state.fork()
    for change in changes:
        if change.attr == "metric":
            _set_metric(fork, change)
    return fork


def _set_metric(state: State, change: PolicyChange) -> None:
    link = state.links.get(change.target)
    if link is None:
        raise InvalidChange(change, f"no link {change.target!r}")
    if not 1 <= change.new <= MAX_METRIC:
        raise InvalidChange(change, f"metric {change.new} is outside 1..{MAX_METRIC}")
    if change.router == link.a:
        link.metric = change.new
    elif change.router == link.b:
        link.reverse_metric = change.new
    else:
        raise InvalidChange(
            change, f"{change.router!r} is not an end of {link.id} ({link.a}, {link.b})")


def change_for(net: Network, state: State, edge: int, new: int) -> PolicyChange:
    """The change setting directed ``edge``'s metric (its tail's outgoing cost) to ``new``."""
    link_id, src, _ = net.describe_edge(edge)
    link: Link = state.links[link_id]
    old = link.metric if edge & 1 == 0 else link.reverse_metric
    return PolicyChange(router=src, target=link_id, attr="metric", old=old, new=new)


# --- assessing a metric setting -------------------------------------------------------


def failures_of(net: Network, kind: FailureSetKind) -> list[Failure]:
    if kind == "links":
        return single_links(net)
    if kind == "nodes":
        return single_routers(net)
    if kind == "srlg":
        return srlgs(net)
    raise ValueError(f"unknown failure set {kind!r}; expected one of {FAILURE_SET_KINDS}")


def network_of(state: State, demand_scale: float = 1.0) -> tuple[Network, FloatArray]:
    """The state's network with its configured (IGP) metrics, and its demands scaled."""
    net = Network.from_state(state)
    return net, demand_matrix(state, net) * demand_scale


@dataclass(eq=False, slots=True)
class Assessment:
    """One metric setting routed and swept. ``weight`` is kept: the ``Network`` is shared
    by every assessment of a search, and only its arrays of the last one are current."""

    metric: FloatArray
    weight: FloatArray
    routing: Routing
    result: SweepResult

    @property
    def wc(self) -> float:
        return float(self.result.wc_util.max(initial=0.0))

    @property
    def worst_edge(self) -> int:
        return int(np.argmax(self.result.wc_util))

    def objective(self, target: float) -> tuple[float, float, float]:
        """Lower is better: the worst case, then the total excess over ``target``, then
        the five highest worst cases (a slope on the plateaus of a max)."""
        util = np.sort(self.result.wc_util)[::-1]
        excess = float(np.clip(util - target, 0.0, None).sum())
        return float(util[0]), excess, float(util[:5].sum())

    def worst(self) -> tuple[str, str]:
        """The worst link direction ("LINK SRC->DST") and its worst failure's name."""
        edge = self.worst_edge
        return edge_label(self.routing.net, edge), self.result.wc_failure_of(edge).name


def assess(net: Network, demand: FloatArray, metric: FloatArray,
           failures: list[Failure]) -> Assessment:
    """Route ``demand`` with ``metric`` (set on ``net``) and sweep ``failures``."""
    net.metric = metric.copy()
    net.weight = net.usable_weight(np.arange(net.edge_count, dtype=np.int64))
    routing = route(net, demand)
    return Assessment(metric=net.metric.copy(), weight=net.weight.copy(), routing=routing,
                      result=sweep(routing, failures))


def edge_label(net: Network, edge: int) -> str:
    link, src, dst = net.describe_edge(edge)
    return f"{link} {src}->{dst}"


# --- what moves -----------------------------------------------------------------------


def newly_disconnected(before: Assessment, after: Assessment) -> int:
    """Demands with a path before and none after, nothing failed."""
    demand = before.routing.demand > 0.0
    lost = np.isfinite(before.routing.dist) & np.isinf(after.routing.dist) & demand
    return int(lost.sum())


def demands_moved(before: Assessment, after: Assessment) -> int:
    """Demands whose set of ECMP paths differs between ``before`` and ``after`` (nothing
    failed): the edges of their shortest-path DAG from source to destination."""
    net = before.routing.net
    edges = np.arange(net.edge_count, dtype=np.int64)
    tight_before = tight_rows(net, before.routing.dist, before.weight, edges)
    tight_after = tight_rows(net, after.routing.dist, after.weight, edges)
    changed = np.flatnonzero((tight_before != tight_after).any(axis=0))
    moved = 0
    for d in changed.tolist():
        for s in np.flatnonzero(before.routing.demand[:, d] > 0.0).tolist():
            moved += _dag_edges(net, tight_before[:, d], s) != _dag_edges(
                net, tight_after[:, d], s)
    return moved


def _dag_edges(net: Network, tight: BoolArray, source: int) -> frozenset[int]:
    """The edges a demand from ``source`` can use: tight edges reachable from it."""
    used: set[int] = set()
    todo, seen = [source], {source}
    while todo:
        out: IntArray = net.out_pad[todo.pop()]
        for e in out[out >= 0].tolist():
            if tight[e]:
                used.add(e)
                head = int(net.dst[e])
                if head not in seen:
                    seen.add(head)
                    todo.append(head)
    return frozenset(used)


def predicted_utilisation(state: State, policy: PolicyProposed,
                          demand_scale: float | None = None) -> dict[tuple[str, Direction], float]:
    """Per (link, direction) of every existing link, the model's utilisation with the
    policy's metric changes applied, nothing failed, and demands scaled by
    ``demand_scale`` (default: the policy's own ``demand_scale``)."""
    scale = policy.demand_scale if demand_scale is None else demand_scale
    net, demand = network_of(apply_changes(state, policy.changes), scale)
    util = route(net, demand).load / net.capacity
    out: dict[tuple[str, Direction], float] = {}
    for e in net.live_edges().tolist():
        out[(net.link_ids[e >> 1], "ba" if e & 1 else "ab")] = float(util[e])
    return out


def gate_sample(state: State, changes: Iterable[PolicyChange], demand_scale: float) -> Sample:
    """What a gate would measure in production with ``changes`` applied and nothing
    failed, as the model predicts it: demands scaled by ``demand_scale`` and routed;
    ``max_util`` the busiest link direction; ``loss_pct`` the share of all offered traffic
    the overloaded links drop (the scenario runs' fluid model, unroutable demands lost
    whole); ``throughput_bps`` what is delivered in all; ``latency_ms`` the
    traffic-weighted mean one-way delay of the demands that have a path."""
    net, demand = network_of(apply_changes(state, changes), demand_scale)
    routing = route(net, demand)
    totals = Totals.of(demand_results(routing))
    live = net.live_edges()
    return Sample(latency_ms=totals.mean_latency_ms, throughput_bps=totals.delivered_bps,
                  loss_pct=totals.loss_pct,
                  max_util=float((routing.load[live] / net.capacity[live]).max())
                  if live.size else 0.0)
