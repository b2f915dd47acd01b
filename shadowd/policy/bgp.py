"""The BGP egress model: which external peer each router's traffic to a prefix leaves by.

Pure: a ``State`` (peers, external demands, the IGP), a ``BgpPolicy`` (what the route-maps
on the egress routers set) and the IGP's distances in, choices and loads out.

The network is one AS in an iBGP full mesh; every peer's routes are learnt by eBGP on its
egress router, which applies the peer's inbound route-map (``PEER-<peer>-in``: local
preference, MED, AS-path prepend) and passes them on with next-hop-self, so every router
sees every peer's route with the same attributes. A router picks, per prefix (the most
specific announced prefix holding the demand's prefix), as FRR's bgpd does:

1. the highest local preference (default 100, or the policy's);
2. the shortest AS path (the peer's ``as_path_len`` plus the policy's prepends);
3. (origin: every route is IGP-originated here, so it never decides)
4. the lowest MED, compared only between routes from the same neighbouring AS (RFC 4271
   9.1.2.2 (c); the lab runs ``bgp deterministic-med`` so FRR does the same regardless of
   arrival order): a route is dropped if another one from the same AS has a lower MED;
5. eBGP over iBGP: the egress router prefers its own peer's route, but only here, after
   local preference: an egress router whose own route has a lower local preference than
   another egress's uses the other one through the IGP, as FRR does;
6. the lowest IGP cost to the egress router (hot potato), from the engine's SPF distances;
7. the lowest egress router name (the lab hands out loopbacks, FRR's router ids, in name
   order), then the lowest peer name.

A route whose egress router is down or unreachable over the IGP is not a candidate.
External traffic becomes internal demand from its source to its egress router (an egress
router's own traffic leaves directly), routed with the internal demands; each peer link
carries the external traffic that leaves by it, against the peer's ``capacity_bps``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Final, Literal, TypeAlias

import numpy as np

from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.state import Peer, State
from shadowd.engine.loads import Frame, push
from shadowd.engine.network import INF, FloatArray, Network, demand_matrix
from shadowd.engine.spf import FanArray, distance_matrix, fanout_matrix
from shadowd.predict.records import Stamp

DEFAULT_LOCAL_PREF: Final = 100
BgpAttr: TypeAlias = Literal["local_pref", "med", "prepend"]
BGP_ATTRS: Final[tuple[BgpAttr, ...]] = ("local_pref", "med", "prepend")
MAX_RATIO: Final = 1e6  # the schema's Ratio bound


@dataclass(frozen=True, slots=True)
class PeerPolicy:
    """What the egress router's inbound route-map sets on one peer's routes;
    ``med`` None keeps the MED the peer sends."""

    local_pref: int = DEFAULT_LOCAL_PREF
    med: int | None = None
    prepend: int = 0


BgpPolicy: TypeAlias = Mapping[str, PeerPolicy]  # peer name -> its route-map's settings
Choices: TypeAlias = dict[tuple[str, str], str]  # (source router, prefix) -> peer


@dataclass(frozen=True, slots=True)
class Route:
    """One peer's route to a prefix, as every router of the AS sees it."""

    peer: str
    egress: str
    asn: int
    local_pref: int
    path_len: int
    med: int


@dataclass(eq=False)
class IgpCosts:
    """The IGP as BGP sees it: the network, its SPF distances and ECMP fan-out."""

    net: Network
    dist: FloatArray

    @classmethod
    def of(cls, state: State) -> IgpCosts:
        net = Network.from_state(state)
        return cls(net, distance_matrix(net))

    @cached_property
    def fan(self) -> FanArray:
        return fanout_matrix(self.net, self.dist)

    def cost(self, src: str, dst: str) -> float:
        i, j = self.net.index.get(src), self.net.index.get(dst)
        if i is None or j is None or not self.net.router_up[i] or not self.net.router_up[j]:
            return INF
        return float(self.dist[i, j])


def route_of(peer: Peer, policy: BgpPolicy) -> Route:
    settings = policy.get(peer.name, PeerPolicy())
    med = settings.med if settings.med is not None else peer.med
    return Route(peer=peer.name, egress=peer.router, asn=peer.asn,
                 local_pref=settings.local_pref, path_len=peer.as_path_len + settings.prepend,
                 med=med)


def candidates(state: State, policy: BgpPolicy, prefix: str) -> list[Route]:
    """The routes toward ``prefix``: every peer announcing the most specific announced
    prefix that holds it (longest match); none if no announcement holds it."""
    want = ipaddress.IPv4Network(prefix)
    best_len, found = -1, list[Route]()
    for peer in state.peers.values():
        lengths = [n.prefixlen for n in map(ipaddress.IPv4Network, peer.prefixes)
                   if want.subnet_of(n)]
        if not lengths or max(lengths) < best_len:
            continue
        if max(lengths) > best_len:
            best_len, found = max(lengths), []
        found.append(route_of(peer, policy))
    return found


def best_route(routes: Iterable[Route], src: str, costs: IgpCosts) -> Route | None:
    """The route ``src`` selects, by the decision process in the module docstring."""
    usable = [r for r in routes if costs.cost(src, r.egress) < INF]
    if not usable:
        return None
    top = max(r.local_pref for r in usable)
    usable = [r for r in usable if r.local_pref == top]
    shortest = min(r.path_len for r in usable)
    usable = [r for r in usable if r.path_len == shortest]
    lowest_med: dict[int, int] = {}
    for r in usable:
        lowest_med[r.asn] = min(r.med, lowest_med.get(r.asn, r.med))
    usable = [r for r in usable if r.med == lowest_med[r.asn]]
    return min(usable, key=lambda r: (r.egress != src, costs.cost(src, r.egress), r.egress,
                                      r.peer))


def choose_egress(state: State, policy: BgpPolicy, costs: IgpCosts) -> Choices:
    """The peer each (source, prefix) external demand leaves by; a demand with no usable
    route (or from a router that is down) has no entry."""
    out: Choices = {}
    by_prefix: dict[str, list[Route]] = {}
    for src, row in sorted(state.ext_demands.items()):
        if not state.routers[src].up:
            continue
        for prefix in sorted(row):
            routes = by_prefix.get(prefix)
            if routes is None:
                routes = by_prefix[prefix] = candidates(state, policy, prefix)
            chosen = best_route(routes, src, costs)
            if chosen is not None:
                out[(src, prefix)] = chosen.peer
    return out


def egress_demands(state: State, choices: Choices, net: Network) -> FloatArray:
    """External traffic as internal demand, source -> egress router, indexed like
    ``net.routers`` (to add to ``demand_matrix``); an egress router's own leaves directly."""
    matrix = np.zeros((net.size, net.size), dtype=np.float64)
    for (src, prefix), peer in choices.items():
        egress = state.peers[peer].router
        if egress != src:
            matrix[net.index[src], net.index[egress]] += state.ext_demands[src][prefix]
    return matrix


def peer_loads(state: State, choices: Choices) -> dict[str, float]:
    """bit/s leaving by each peer (every peer listed, 0 when unused)."""
    loads = dict.fromkeys(state.peers, 0.0)
    for (src, prefix), peer in choices.items():
        loads[peer] += state.ext_demands[src][prefix]
    return loads


def apply_changes(policy: BgpPolicy, changes: Iterable[PolicyChange]) -> dict[str, PeerPolicy]:
    """``policy`` with the BGP ``changes`` made (IGP metric changes are ignored)."""
    out = dict(policy)
    for change in changes:
        if change.attr in BGP_ATTRS:
            old = out.get(change.target, PeerPolicy())
            out[change.target] = replace(old, **{change.attr: change.new})
    return out


def policy_of(deployed: Iterable[PolicyProposed]) -> dict[str, PeerPolicy]:
    """The BGP settings production runs once ``deployed`` (in deployment order) are in."""
    policy: dict[str, PeerPolicy] = {}
    for proposal in deployed:
        policy = apply_changes(policy, proposal.changes)
    return policy


# --- what a policy does: loads inside and on the peer links --------------------------


@dataclass(frozen=True, slots=True)
class Effect:
    """A policy's outcome: its egress choices, the highest utilisation over internal link
    directions and peer links (and which, "LINK SRC->DST" or "peer NAME")."""

    choices: Choices
    worst_util: float
    worst: str
    peer_util: dict[str, float]

    def moved(self, other: Effect) -> int:
        """External demands that leave by another peer in ``other`` (or lose their exit)."""
        return sum(other.choices.get(key) != peer for key, peer in self.choices.items())


def evaluate(state: State, policy: BgpPolicy, costs: IgpCosts) -> Effect:
    choices = choose_egress(state, policy, costs)
    net = costs.net
    demand = demand_matrix(state, net) + egress_demands(state, choices, net)
    load = _route(costs, demand)
    util = np.divide(load, net.capacity, out=np.zeros_like(load), where=net.capacity > 0)
    worst_util, worst = 0.0, "none"
    if util.size:
        e = int(np.argmax(util))
        link, a, b = net.describe_edge(e)
        worst_util, worst = float(util[e]), f"{link} {a}->{b}"
    loads = peer_loads(state, choices)
    peer_util = {p: loads[p] / state.peers[p].capacity_bps for p in sorted(loads)}
    for peer, value in peer_util.items():
        if value > worst_util:
            worst_util, worst = value, f"peer {peer}"
    return Effect(choices=choices, worst_util=worst_util, worst=worst, peer_util=peer_util)


def _route(costs: IgpCosts, demand: FloatArray) -> FloatArray:
    net = costs.net
    src, dst = np.nonzero(demand)
    frame = Frame(net.size, net.edge_count)
    state = (costs.dist.reshape(-1), costs.fan.reshape(-1), net.weight)
    return push(net, frame, state, src * net.size + dst, demand[src, dst]).load


# --- proposing: one route-map setting at a time, the one that helps most ------------

LOCAL_PREF_STEP: Final = 10
MED_STEP: Final = 10
MAX_PREPEND: Final = 10  # FRR: "set as-path prepend last-as N" takes 1..10
MAX_CHANGES: Final = 3
NO_FAILURE: Final = "none"
_RANK: Final = {"local_pref": 0, "prepend": 1, "med": 2}
_EPSILON: Final = 1e-9


def propose_bgp(state: State, *, target_util: float, policy_id: str, reason: str,
                stamp: Stamp, current: BgpPolicy | None = None,
                max_changes: int = MAX_CHANGES) -> PolicyProposed | None:
    """A route-map change that moves external traffic off an egress over ``target_util``,
    or None when nothing is over target or no BGP setting lowers the worst case.

    Greedy, at most ``max_changes`` settings: each round tries, for every peer carrying
    traffic, raising a competing peer's local preference just above every route it
    competes with (preferred: the strongest, most predictable knob, and it stays inside
    the AS), prepending the loaded peer's AS path just past its best rival's, and, against
    a rival of the same AS, a MED just above the rival's; it keeps the one with the lowest
    worst case (then fewest demands moved), as long as it lowers the worst case and
    leaves no demand without an exit. The worst case is the highest utilisation over the
    internal link directions and the peer links with no failure (``failure_set`` "none").
    """
    costs = IgpCosts.of(state)
    policy = dict(current or {})
    before = now = evaluate(state, policy, costs)
    changes: list[PolicyChange] = []
    while now.worst_util > target_util and len(changes) < max_changes:
        step = _best_step(state, policy, costs, now, before)
        if step is None:
            break
        change, now = step
        policy = apply_changes(policy, [change])
        changes = _merged(changes, change)
    if not changes:
        return None
    return PolicyProposed(
        source=stamp.source, seq=stamp.seq, ts=stamp.ts, policy_id=policy_id, kind="bgp",
        reason=reason[:160], changes=tuple(changes), target_util=_ratio(target_util),
        wc_before=_ratio(before.worst_util), wc_after=_ratio(now.worst_util),
        wc_link_before=before.worst[:160], wc_link_after=now.worst[:160],
        wc_failure_before=NO_FAILURE, wc_failure_after=NO_FAILURE, failure_set=NO_FAILURE,
        demands_moved=before.moved(now),
        disconnected=max(0, len(before.choices) - len(now.choices)), at_lsn=state.lsn)


def _best_step(state: State, policy: dict[str, PeerPolicy], costs: IgpCosts, now: Effect,
               before: Effect) -> tuple[PolicyChange, Effect] | None:
    scored = []
    for change in _options(state, policy, now):
        effect = evaluate(state, apply_changes(policy, [change]), costs)
        if effect.worst_util < now.worst_util - _EPSILON \
                and len(effect.choices) >= len(now.choices):
            key = (effect.worst_util, before.moved(effect), _RANK[change.attr], change.target)
            scored.append((key, change, effect))
    if not scored:
        return None
    _, change, effect = min(scored, key=lambda s: s[0])
    return change, effect


def _options(state: State, policy: BgpPolicy, now: Effect) -> list[PolicyChange]:
    out: list[PolicyChange] = []
    for name in sorted(p for p, util in now.peer_util.items() if util > 0.0):
        mine = route_of(state.peers[name], policy)
        prefixes = {prefix for (_, prefix), peer in now.choices.items() if peer == name}
        rivals = {r.peer: r for prefix in sorted(prefixes)
                  for r in candidates(state, policy, prefix) if r.peer != name}
        if not rivals:
            continue
        top = max(mine.local_pref, *(r.local_pref for r in rivals.values()))
        out += [_change(state, r, "local_pref", r.local_pref, top + LOCAL_PREF_STEP)
                for r in rivals.values() if r.local_pref <= top]
        out += _demotions(state, policy, mine, list(rivals.values()))
    return out


def _demotions(state: State, policy: BgpPolicy, mine: Route,
               rivals: list[Route]) -> list[PolicyChange]:
    """Make ``mine`` lose to its best rival on AS-path length, or on MED (same AS)."""
    out = []
    equal = [r for r in rivals if r.local_pref == mine.local_pref]
    prepend = policy.get(mine.peer, PeerPolicy()).prepend
    if equal:
        need = min(r.path_len for r in equal) - mine.path_len + 1
        if need > 0 and prepend + need <= MAX_PREPEND:
            out.append(_change(state, mine, "prepend", prepend, prepend + need))
    same_as = [r for r in equal if r.asn == mine.asn and r.path_len == mine.path_len]
    if same_as:
        out.append(_change(state, mine, "med", mine.med,
                           max(r.med for r in same_as) + MED_STEP))
    return out


def _change(state: State, route: Route, attr: BgpAttr, old: int, new: int) -> PolicyChange:
    return PolicyChange(router=state.peers[route.peer].router, target=route.peer,
                        attr=attr, old=old, new=new)


def _merged(changes: list[PolicyChange], change: PolicyChange) -> list[PolicyChange]:
    """``changes`` plus ``change``; a second setting of the same attribute on the same
    peer replaces the first (keeping its ``old``, what production runs)."""
    for i, earlier in enumerate(changes):
        if (earlier.target, earlier.attr) == (change.target, change.attr):
            return [*changes[:i], replace(change, old=earlier.old), *changes[i + 1:]]
    return [*changes, change]


def _ratio(value: float) -> float:
    return 0.0 if math.isnan(value) else min(max(value, 0.0), MAX_RATIO)
