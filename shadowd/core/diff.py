"""What changed between two views of the network, as events: ``diff(previous, current)``.

Folding ``diff(a, b)`` onto ``a`` gives ``b``'s view (routers, links with their status,
metrics, capacities and counters, demands). Events come out unstamped (``source=""``,
``seq=0``, ``ts=0``): ``stamp`` gives them the agent's source, sequence and time.

The fold has a few habits the diff must follow: re-adding a router resets its health,
re-adding a link keeps its status but resets its counters, and removing a router takes
its links and demands with it. Demand rates of 0 are absent demands.

``util_deadband`` (relative, 0 = off) suppresses a link's counters update while both
directions moved by at most that share of what was last sent, and drops/errors are
unchanged; ``demand_deadband`` does the same for demand rates. The suppressed change is
not lost: the next diff compares against what was *sent*, so drift adds up until it
crosses the band. With a deadband, ``fold(diff(a, b), a)`` is ``b`` within the band.

With ``removals=False`` nothing is removed (no router, link or demand that ``current``
lacks), except a link whose ends changed, which must be removed to be added again: that
is how a snapshot from one of several sources reconciles (``core.resync``), since the
state does not record which source said what.

The agent sends these events as deltas; the daemon logs them to reconcile a snapshot.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
)
from shadowd.core.state import Link, Router, State

_NO: Final[dict[str, Any]] = {"source": "", "seq": 0, "ts": 0.0}  # unstamped


class Deadband(msgspec.Struct, frozen=True, kw_only=True):
    util: float = 0.0  # relative change of a link's rates below which nothing is sent
    demand: float = 0.0  # the same for demand rates


NO_DEADBAND: Final = Deadband()


def diff(
    previous: State, current: State, deadband: Deadband = NO_DEADBAND, *, removals: bool = True
) -> list[AnyEvent]:
    """The events that turn ``previous``'s view into ``current``'s, in an order that
    validates: removals first, then routers, links, their attributes, demands."""
    out: list[AnyEvent] = []
    out += _removed(previous, current, removals)
    out += _routers(previous, current)
    out += _links(previous, current, deadband.util)
    out += _demands(previous, current, deadband.demand, removals)
    return out


def snapshot_events(state: State) -> list[AnyEvent]:
    """The whole view of ``state`` as unstamped events that rebuild it from nothing."""
    return diff(State(), state)


# --- removals ----------------------------------------------------------------------------


def _same_ends(old: Link, new: Link) -> bool:
    return (old.a, old.b) == (new.a, new.b)


def _removed(previous: State, current: State, removals: bool) -> list[AnyEvent]:
    """Links and routers that are gone (only with ``removals``), and links whose ends
    changed (always: a link can only move by being removed and added again)."""
    out: list[AnyEvent] = []
    for link_id, old in previous.links.items():
        new = current.links.get(link_id)
        gone = new is None and removals
        if gone or (new is not None and not _same_ends(old, new)):
            out.append(LinkRemoved(**_NO, link=link_id))
    if removals:
        out += [RouterRemoved(**_NO, router=name) for name in previous.routers
                if name not in current.routers]
    return out


# --- routers -----------------------------------------------------------------------------


def _routers(previous: State, current: State) -> list[AnyEvent]:
    out: list[AnyEvent] = []
    for name, new in current.routers.items():
        old = previous.routers.get(name)
        if old is None or (old.pos, old.loopback) != (new.pos, new.loopback):
            out.append(RouterAdded(**_NO, router=name, pos=new.pos, loopback=new.loopback))
            old = Router(name=name, up=old.up if old is not None else True)
        if (old.up, old.cpu_pct, old.mem_pct) != (new.up, new.cpu_pct, new.mem_pct):
            out.append(RouterHealth(**_NO, router=name, up=new.up, cpu_pct=new.cpu_pct,
                                    mem_pct=new.mem_pct))
    return out


# --- links -------------------------------------------------------------------------------


def _reverse(link: Link) -> int | None:
    return None if link.reverse_metric == link.metric else link.reverse_metric


def _static(link: Link) -> tuple[object, ...]:
    return (link.a, link.b, link.delay_ms, link.srlgs)


def _links(previous: State, current: State, util_band: float) -> list[AnyEvent]:
    out: list[AnyEvent] = []
    for link_id, new in current.links.items():
        old = previous.links.get(link_id)
        if old is None or _static(old) != _static(new):
            out.append(LinkAdded(**_NO, link=link_id, a=new.a, b=new.b, metric=new.metric,
                                 reverse_metric=_reverse(new), capacity_bps=new.capacity_bps,
                                 delay_ms=new.delay_ms, srlgs=new.srlgs))
            keep_up = old.up if old is not None and _same_ends(old, new) else True
            old = msgspec.structs.replace(new, up=keep_up, ab_bps=0.0, ba_bps=0.0,
                                          drops=0, errors=0)
        out += _link_changes(link_id, old, new, util_band)
    return out


def _link_changes(link_id: str, old: Link, new: Link, util_band: float) -> list[AnyEvent]:
    out: list[AnyEvent] = []
    if old.up != new.up:
        out.append(LinkStatus(**_NO, link=link_id, up=new.up))
    if (old.metric, old.reverse_metric) != (new.metric, new.reverse_metric):
        out.append(LinkMetric(**_NO, link=link_id, metric=new.metric,
                              reverse_metric=_reverse(new)))
    if old.capacity_bps != new.capacity_bps:
        out.append(LinkCapacity(**_NO, link=link_id, capacity_bps=new.capacity_bps))
    if _counters_moved(old, new, util_band):
        out.append(LinkUtilization(**_NO, link=link_id, ab_bps=new.ab_bps, ba_bps=new.ba_bps,
                                   drops=new.drops, errors=new.errors))
    return out


def _counters_moved(old: Link, new: Link, band: float) -> bool:
    if (old.drops, old.errors) != (new.drops, new.errors):
        return True
    return _moved(old.ab_bps, new.ab_bps, band) or _moved(old.ba_bps, new.ba_bps, band)


def _moved(old: float, new: float, band: float) -> bool:
    """Changed by more than ``band`` of the old value (any change when ``band`` is 0)."""
    if band <= 0.0 or old == 0.0 or new == 0.0:
        return old != new
    return abs(new - old) > band * abs(old)


# --- demands -----------------------------------------------------------------------------


def _demands(previous: State, current: State, band: float, removals: bool) -> list[AnyEvent]:
    out: list[AnyEvent] = []
    for src, row in current.demands.items():
        old_row = previous.demands.get(src, {})
        for dst, rate in row.items():
            if rate > 0.0 and _moved(old_row.get(dst, 0.0), rate, band):
                out.append(DemandSet(**_NO, src=src, dst=dst, rate_bps=rate))
    if not removals:
        return out
    for src, old_row in previous.demands.items():
        if src not in current.routers:
            continue  # its RouterRemoved drops the row
        row = current.demands.get(src, {})
        for dst in old_row:
            if dst in current.routers and row.get(dst, 0.0) <= 0.0:
                out.append(DemandSet(**_NO, src=src, dst=dst, rate_bps=0.0))
    return out
