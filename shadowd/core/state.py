"""The shadow's state and the fold that builds it: ``state = fold(apply, events)``.

``apply`` is deterministic and does no I/O; it is the only code that changes a ``State``.
It updates the state it is given and returns it: the state is the fold's accumulator,
owned by whoever runs the fold. That is what lets a replay apply a million events a
second; ``fork()`` gives an independent copy for "fork at t, fail X, compare".

``validate`` runs *before* an event is appended to the log, so the log only ever holds
events that apply cleanly; ``apply`` may therefore assume referential integrity.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec

from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    DAEMON_SOURCE,
    RECORD_TYPES,
    AnyEvent,
    DemandSet,
    Event,
    ExternalDemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    LinkUtilization,
    PeerAdded,
    PeerRemoved,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
    tag_of,
)


class Router(msgspec.Struct, kw_only=True, gc=False):
    name: str
    up: bool = True
    cpu_pct: float = 0.0
    mem_pct: float = 0.0
    pos: tuple[float, float] | None = None
    loopback: str | None = None


class Link(msgspec.Struct, kw_only=True, gc=False):
    id: str
    a: str
    b: str
    metric: int
    reverse_metric: int
    capacity_bps: float
    delay_ms: float = 0.0
    srlgs: tuple[str, ...] = ()
    up: bool = True
    ab_bps: float = 0.0
    ba_bps: float = 0.0
    drops: int = 0
    errors: int = 0


class Peer(msgspec.Struct, kw_only=True, gc=False):
    """An external BGP neighbour of the egress ``router``."""

    name: str
    router: str
    asn: int
    prefixes: tuple[str, ...]
    capacity_bps: float
    as_path_len: int = 1
    med: int = 0


class SourcePosition(msgspec.Struct, kw_only=True, gc=False):
    """How far one source has been applied: its last ``seq`` and when it was stamped."""

    seq: int = 0
    ts: float = 0.0


class State(msgspec.Struct, kw_only=True):
    """Everything the log says, as of log sequence number ``lsn`` (events applied)."""

    lsn: int = 0
    routers: dict[str, Router] = msgspec.field(default_factory=dict)
    links: dict[str, Link] = msgspec.field(default_factory=dict)
    demands: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)
    sources: dict[str, SourcePosition] = msgspec.field(default_factory=dict)
    peers: dict[str, Peer] = msgspec.field(default_factory=dict)
    ext_demands: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)  # src->prefix

    def fork(self) -> State:
        return STATE_DECODER.decode(STATE_ENCODER.encode(self))

    def demand_count(self) -> int:
        return sum(len(row) for row in self.demands.values())


STATE_ENCODER: Final = msgspec.msgpack.Encoder(order="deterministic")

STATE_DECODER: Final = msgspec.msgpack.Decoder(State)


class _WithoutBgp(msgspec.Struct, kw_only=True):
    """``State`` as it was before BGP: a state without peers digests as it always did, so
    producers and daemons of different versions still agree on it."""

    lsn: int
    routers: dict[str, Router]
    links: dict[str, Link]
    demands: dict[str, dict[str, float]]
    sources: dict[str, SourcePosition]


def digest(state: State) -> str:
    """A stable fingerprint: same state, same digest, on any machine and Python."""
    encodable: State | _WithoutBgp = state
    if not state.peers and not state.ext_demands:
        encodable = _WithoutBgp(lsn=state.lsn, routers=state.routers, links=state.links,
                                demands=state.demands, sources=state.sources)
    return hashlib.blake2b(STATE_ENCODER.encode(encodable), digest_size=16).hexdigest()


def view_sources(state: State) -> set[str]:
    """The sources that shaped the network view: every one but shadowd's own records
    (``DAEMON_SOURCE``), which change nothing in it."""
    return set(state.sources) - {DAEMON_SOURCE}


def view_digest(state: State) -> str:
    """The digest of the network view alone (routers, links with counters, demands).

    Leaves out ``lsn`` and ``sources``, which say how the state was reached, so that a
    producer folding what it sent into a ``State`` of its own gets the same value.
    """
    return digest(State(routers=state.routers, links=state.links, demands=state.demands,
                        peers=state.peers, ext_demands=state.ext_demands))


# --- validation: may this event join the log? ---------------------------------------


def _require_router(state: State, name: str, what: str = "router") -> None:
    if name not in state.routers:
        raise InvalidEvent(f"unknown {what} {name!r}")


def _require_link(state: State, link: str) -> None:
    if link not in state.links:
        raise InvalidEvent(f"unknown link {link!r}")


def _check_link_added(state: State, e: LinkAdded) -> None:
    if e.a == e.b:
        raise InvalidEvent(f"link {e.link!r} loops on router {e.a!r}")
    _require_router(state, e.a, "router (link end a)")
    _require_router(state, e.b, "router (link end b)")
    old = state.links.get(e.link)
    if old is not None and {old.a, old.b} != {e.a, e.b}:
        raise InvalidEvent(f"link {e.link!r} already joins {old.a!r} and {old.b!r}")


def _check_peer(state: State, e: PeerAdded) -> None:
    _require_router(state, e.router, "egress router")
    if not e.prefixes:
        raise InvalidEvent(f"peer {e.peer!r} announces no prefix")
    for prefix in e.prefixes:
        _check_prefix(prefix)


def _check_prefix(prefix: str) -> None:
    try:
        ipaddress.IPv4Network(prefix)
    except ValueError as err:
        raise InvalidEvent(f"bad prefix {prefix!r}: {err}") from None


def _check_ext_demand(state: State, e: ExternalDemandSet) -> None:
    _require_router(state, e.src, "demand source")
    _check_prefix(e.prefix)


def _check_demand(state: State, e: DemandSet) -> None:
    if e.src == e.dst:
        raise InvalidEvent(f"demand from {e.src!r} to itself")
    _require_router(state, e.src, "demand source")
    _require_router(state, e.dst, "demand destination")


_CHECKS: Final[dict[type[Event], Callable[[State, Any], None]]] = {
    RouterAdded: lambda s, e: None,
    RouterRemoved: lambda s, e: _require_router(s, e.router),
    RouterHealth: lambda s, e: _require_router(s, e.router),
    LinkAdded: _check_link_added,
    LinkRemoved: lambda s, e: _require_link(s, e.link),
    LinkStatus: lambda s, e: _require_link(s, e.link),
    LinkMetric: lambda s, e: _require_link(s, e.link),
    LinkCapacity: lambda s, e: _require_link(s, e.link),
    LinkUtilization: lambda s, e: _require_link(s, e.link),
    DemandSet: _check_demand,
    PeerAdded: _check_peer,
    PeerRemoved: lambda s, e: _require_peer(s, e.peer),
    ExternalDemandSet: _check_ext_demand,
    **{kind: lambda s, e: None for kind in RECORD_TYPES},  # what shadowd found: always joins
}


def _require_peer(state: State, peer: str) -> None:
    if peer not in state.peers:
        raise InvalidEvent(f"unknown peer {peer!r}")


def validate(state: State, event: AnyEvent) -> None:
    """Raise ``InvalidEvent`` naming what is wrong if ``event`` cannot apply to ``state``."""
    try:
        _CHECKS[type(event)](state, event)
    except InvalidEvent as err:
        raise _named(err, event) from None


def _named(err: InvalidEvent, event: AnyEvent) -> InvalidEvent:
    return InvalidEvent(err.reason, event_type=tag_of(event), source=event.source,
                        seq=event.seq)


# --- the fold ------------------------------------------------------------------------


def _router_added(s: State, e: RouterAdded) -> None:
    old = s.routers.get(e.router)
    up = old.up if old is not None else True
    s.routers[e.router] = Router(name=e.router, up=up, pos=e.pos, loopback=e.loopback)


def _router_removed(s: State, e: RouterRemoved) -> None:
    del s.routers[e.router]
    for link_id in [k for k, lk in s.links.items() if e.router in (lk.a, lk.b)]:
        del s.links[link_id]
    s.demands.pop(e.router, None)
    for src in list(s.demands):
        _drop_demand(s, src, e.router)
    s.ext_demands.pop(e.router, None)
    for peer in [k for k, p in s.peers.items() if p.router == e.router]:
        del s.peers[peer]


def _router_health(s: State, e: RouterHealth) -> None:
    r = s.routers[e.router]
    r.up, r.cpu_pct, r.mem_pct = e.up, e.cpu_pct, e.mem_pct


def _link_added(s: State, e: LinkAdded) -> None:
    reverse = e.reverse_metric if e.reverse_metric is not None else e.metric
    old = s.links.get(e.link)
    link = Link(
        id=e.link, a=e.a, b=e.b, metric=e.metric, reverse_metric=reverse,
        capacity_bps=e.capacity_bps, delay_ms=e.delay_ms, srlgs=e.srlgs,
    )
    if old is not None:
        link.up = old.up
    s.links[e.link] = link


def _link_removed(s: State, e: LinkRemoved) -> None:
    del s.links[e.link]


def _link_status(s: State, e: LinkStatus) -> None:
    s.links[e.link].up = e.up


def _link_metric(s: State, e: LinkMetric) -> None:
    link = s.links[e.link]
    link.metric = e.metric
    link.reverse_metric = e.reverse_metric if e.reverse_metric is not None else e.metric


def _link_capacity(s: State, e: LinkCapacity) -> None:
    s.links[e.link].capacity_bps = e.capacity_bps


def _link_util(s: State, e: LinkUtilization) -> None:
    link = s.links[e.link]
    link.ab_bps, link.ba_bps, link.drops, link.errors = e.ab_bps, e.ba_bps, e.drops, e.errors


def _demand_set(s: State, e: DemandSet) -> None:
    if e.rate_bps > 0.0:
        s.demands.setdefault(e.src, {})[e.dst] = e.rate_bps
    else:
        _drop_demand(s, e.src, e.dst)


def _drop_demand(s: State, src: str, dst: str) -> None:
    """Remove one demand; an emptied row goes too, so equal matrices digest equally."""
    row = s.demands.get(src)
    if row is not None and row.pop(dst, None) is not None and not row:
        del s.demands[src]


def _peer_added(s: State, e: PeerAdded) -> None:
    s.peers[e.peer] = Peer(name=e.peer, router=e.router, asn=e.asn, prefixes=e.prefixes,
                           capacity_bps=e.capacity_bps, as_path_len=e.as_path_len, med=e.med)


def _ext_demand_set(s: State, e: ExternalDemandSet) -> None:
    if e.rate_bps > 0.0:
        s.ext_demands.setdefault(e.src, {})[e.prefix] = e.rate_bps
        return
    row = s.ext_demands.get(e.src)
    if row is not None and row.pop(e.prefix, None) is not None and not row:
        del s.ext_demands[e.src]


def _record(s: State, e: Event) -> None:
    """Records change nothing in the network view; only the source position advances."""


_APPLY: Final[dict[type[Event], Callable[[State, Any], None]]] = {
    RouterAdded: _router_added,
    RouterRemoved: _router_removed,
    RouterHealth: _router_health,
    LinkAdded: _link_added,
    LinkRemoved: _link_removed,
    LinkStatus: _link_status,
    LinkMetric: _link_metric,
    LinkCapacity: _link_capacity,
    LinkUtilization: _link_util,
    DemandSet: _demand_set,
    PeerAdded: _peer_added,
    PeerRemoved: lambda s, e: s.peers.__delitem__(e.peer),
    ExternalDemandSet: _ext_demand_set,
    **{kind: _record for kind in RECORD_TYPES},
}


def apply(state: State, event: AnyEvent) -> State:
    """Fold one logged event into ``state`` (in place) and return it."""
    return fold((event,), state)


def apply_valid(
    state: State, events: Iterable[AnyEvent]
) -> tuple[list[AnyEvent], list[tuple[AnyEvent, InvalidEvent]]]:
    """``validate`` then ``apply`` each event in order, as one tight loop (ingest's hot
    path); return the applied events and the rejected ones with their reasons."""
    checks, handlers, sources = _CHECKS, _APPLY, state.sources
    accepted: list[AnyEvent] = []
    rejected: list[tuple[AnyEvent, InvalidEvent]] = []
    for event in events:
        kind = type(event)
        try:
            checks[kind](state, event)
        except InvalidEvent as err:
            rejected.append((event, _named(err, event)))
            continue
        handlers[kind](state, event)
        pos = sources.get(event.source)
        if pos is None:
            sources[event.source] = SourcePosition(seq=event.seq, ts=event.ts)
        else:
            pos.seq, pos.ts = event.seq, event.ts
        accepted.append(event)
    state.lsn += len(accepted)
    return accepted, rejected


def fold(events: Iterable[AnyEvent], state: State | None = None) -> State:
    """Apply ``events`` in order, starting from ``state`` (or the empty state)."""
    acc = State() if state is None else state
    handlers, sources = _APPLY, acc.sources
    n = 0
    for event in events:
        handlers[type(event)](acc, event)
        pos = sources.get(event.source)
        if pos is None:
            sources[event.source] = SourcePosition(seq=event.seq, ts=event.ts)
        else:
            pos.seq, pos.ts = event.seq, event.ts
        n += 1
    acc.lsn += n
    return acc
