"""May this event join the log? Each event type's check against the state it would apply
to (``validate``), and ingest's hot path that checks and applies in one loop
(``apply_valid``). The checks run before an event is appended, so ``apply`` in
``shadowd.core.state`` may assume referential integrity.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, Final

from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
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
    PolicyFeedback,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
    ScenarioRan,
    SpikePredicted,
    tag_of,
)
from shadowd.core.state import APPLY_BY_TYPE, SourcePosition, State


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
    PolicyValidated: lambda s, e: _require_policy(s, e.policy_id),
    RolloutStep: lambda s, e: _require_policy(s, e.policy_id),
    PolicyFeedback: lambda s, e: _require_policy(s, e.policy_id),
    SpikePredicted: lambda s, e: None,  # what shadowd found: always joins
    ScenarioRan: lambda s, e: None,
    PolicyProposed: lambda s, e: None,
}


def _require_policy(state: State, policy_id: str) -> None:
    if policy_id not in state.policies:
        raise InvalidEvent(f"unknown policy {policy_id!r}")


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


def apply_valid(
    state: State, events: Iterable[AnyEvent]
) -> tuple[list[AnyEvent], list[tuple[AnyEvent, InvalidEvent]]]:
    """``validate`` then ``apply`` each event in order, as one tight loop (ingest's hot
    path); return the applied events and the rejected ones with their reasons."""
    checks, handlers, sources = _CHECKS, APPLY_BY_TYPE, state.sources
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
