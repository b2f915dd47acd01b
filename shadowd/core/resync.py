"""Resync: turn the shadow's view into a source's snapshot, and the per-source sync session.

``reconcile(state, snapshot)`` computes the events that take the network view of ``state``
(routers, links with counters, demands) to the snapshot's: removals first (links, demands,
then routers), then additions and updates, each the narrowest event that says it
(``link_metric`` rather than a new ``link_added`` when only the metric moved). Every event
is stamped ``source=snapshot.source, seq=snapshot.seq, ts=snapshot.ts``; they go to the log
like any other, so a replay needs nothing special.

``SyncSession`` is one source's differential-sync bookkeeping, as pure decisions: which
delta batch may be admitted now, which waits for the missing ones before it (held, bounded),
when to ask the source for a resync (rate-limited; ``now`` is an argument), and which of the
source's digests are due for comparison. The caller owns the state and does the admitting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final, Protocol

import msgspec

from shadowd.core.errors import InvalidEvent
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
from shadowd.core.state import Link, Router, State, apply, validate

REASON_GAP: Final = "gap"  # the same words as ``shadowd.ingest.wire``'s REASON_*
REASON_STARTUP: Final = "startup"
REASON_DIGEST_MISMATCH: Final = "digest_mismatch"


class SnapshotLike(Protocol):
    """What ``reconcile`` reads of a snapshot (``shadowd.ingest.wire.Snapshot`` has it)."""

    @property
    def source(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def ts(self) -> float: ...
    @property
    def events(self) -> Sequence[AnyEvent]: ...


class Reconciliation(msgspec.Struct, kw_only=True):
    events: list[AnyEvent] = msgspec.field(default_factory=list)
    # snapshot events that could not build the snapshot's own view (a link to nowhere)
    rejected: list[tuple[AnyEvent, InvalidEvent]] = msgspec.field(default_factory=list)


def target_view(snapshot: SnapshotLike) -> tuple[State, list[tuple[AnyEvent, InvalidEvent]]]:
    """Fold the snapshot's events into an empty state, skipping those that cannot apply."""
    target, rejected = State(), []
    for event in snapshot.events:
        try:
            validate(target, event)
        except InvalidEvent as err:
            rejected.append((event, err))
            continue
        apply(target, event)
    return target, rejected


def plan(state: State, snapshot: SnapshotLike) -> Reconciliation:
    """The reconciliation of ``state`` with ``snapshot``.

    The state does not record which source said what, so a snapshot may remove things
    only while its source is the only one the shadow holds; with other sources present
    it adds and updates, and what it no longer has stays (another source may own it).
    """
    target, rejected = target_view(snapshot)
    stamp: dict[str, Any] = {"source": snapshot.source, "seq": snapshot.seq, "ts": snapshot.ts}
    alone = not set(state.sources) - {snapshot.source}
    removed_links = set(_stale_links(state, target, moved_only=not alone))
    events: list[AnyEvent] = [LinkRemoved(**stamp, link=k) for k in sorted(removed_links)]
    if alone:
        events += _demand_removals(state, target, stamp)
        events += [RouterRemoved(**stamp, router=r) for r in sorted(state.routers)
                   if r not in target.routers]
    for name in sorted(target.routers):
        events += _router_updates(state.routers.get(name), target.routers[name], stamp)
    for link_id in sorted(target.links):
        old = None if link_id in removed_links else state.links.get(link_id)
        events += _link_updates(old, target.links[link_id], stamp)
    events += _demand_updates(state, target, stamp)
    return Reconciliation(events=events, rejected=rejected)


def reconcile(state: State, snapshot: SnapshotLike) -> list[AnyEvent]:
    """The events that turn ``state``'s network view into ``snapshot``'s."""
    return plan(state, snapshot).events


def _stale_links(state: State, target: State, *, moved_only: bool) -> Iterator[str]:
    """Links that are gone (unless ``moved_only``), or now join other routers
    (``link_added`` cannot move them)."""
    for link_id, link in state.links.items():
        new = target.links.get(link_id)
        gone = new is None and not moved_only
        moved = new is not None and {new.a, new.b} != {link.a, link.b}
        if gone or moved:
            yield link_id


def _demand_removals(state: State, target: State, stamp: dict[str, Any]) -> list[AnyEvent]:
    return [DemandSet(**stamp, src=src, dst=dst, rate_bps=0.0)
            for src in sorted(state.demands) for dst in sorted(state.demands[src])
            if dst not in target.demands.get(src, {})]


def _demand_updates(state: State, target: State, stamp: dict[str, Any]) -> list[AnyEvent]:
    return [DemandSet(**stamp, src=src, dst=dst, rate_bps=rate)
            for src in sorted(target.demands) for dst, rate in sorted(target.demands[src].items())
            if state.demands.get(src, {}).get(dst) != rate]


def _router_updates(old: Router | None, new: Router, stamp: dict[str, Any]) -> list[AnyEvent]:
    events: list[AnyEvent] = []
    health = (old.up, old.cpu_pct, old.mem_pct) if old is not None else (True, 0.0, 0.0)
    if old is None or (old.pos, old.loopback) != (new.pos, new.loopback):
        events.append(RouterAdded(**stamp, router=new.name, pos=new.pos, loopback=new.loopback))
        health = (health[0], 0.0, 0.0)  # router_added keeps `up`, resets the load figures
    if health != (new.up, new.cpu_pct, new.mem_pct):
        events.append(RouterHealth(**stamp, router=new.name, up=new.up, cpu_pct=new.cpu_pct,
                                   mem_pct=new.mem_pct))
    return events


def _link_updates(old: Link | None, new: Link, stamp: dict[str, Any]) -> list[AnyEvent]:
    events: list[AnyEvent] = []
    up = old.up if old is not None else True
    counters = (old.ab_bps, old.ba_bps, old.drops, old.errors) if old is not None else None
    if old is None or (old.a, old.b, old.delay_ms, old.srlgs) != (new.a, new.b, new.delay_ms,
                                                                   new.srlgs):
        events.append(LinkAdded(**stamp, link=new.id, a=new.a, b=new.b, metric=new.metric,
                                reverse_metric=new.reverse_metric, capacity_bps=new.capacity_bps,
                                delay_ms=new.delay_ms, srlgs=new.srlgs))
        counters = None  # link_added starts the counters afresh
    else:
        if (old.metric, old.reverse_metric) != (new.metric, new.reverse_metric):
            events.append(LinkMetric(**stamp, link=new.id, metric=new.metric,
                                     reverse_metric=new.reverse_metric))
        if old.capacity_bps != new.capacity_bps:
            events.append(LinkCapacity(**stamp, link=new.id, capacity_bps=new.capacity_bps))
    if up != new.up:
        events.append(LinkStatus(**stamp, link=new.id, up=new.up))
    if (counters or (0.0, 0.0, 0, 0)) != (new.ab_bps, new.ba_bps, new.drops, new.errors):
        events.append(LinkUtilization(**stamp, link=new.id, ab_bps=new.ab_bps,
                                      ba_bps=new.ba_bps, drops=new.drops, errors=new.errors))
    return events


# --- the per-source session ------------------------------------------------------------


class ResyncNeed(msgspec.Struct, frozen=True, kw_only=True):
    """Ask ``source`` to send again from ``from_seq`` (the caller publishes the request)."""

    source: str
    from_seq: int
    reason: str
    detail: str = ""


class SyncSession:
    """One source's held batches, outstanding resync and held digests.

    ``last`` is always the source's applied position, as the caller reads it.
    """

    def __init__(self, source: str, *, max_held: int = 1024, retry_s: float = 5.0,
                 max_digests: int = 16) -> None:
        self.source = source
        self._max_held = max_held
        self._retry_s = retry_s
        self._max_digests = max_digests
        self.held: dict[int, list[AnyEvent]] = {}  # first seq -> batch, waiting for a gap
        self.digests: dict[int, str] = {}  # seq -> digest, until the shadow gets there
        self.asked_at: float | None = None  # when the outstanding resync was requested
        self.discarded = 0  # batches past a gap not held (full): the snapshot brings them

    def batch(self, last: int, events: list[AnyEvent], now: float) -> tuple[
            list[AnyEvent] | None, ResyncNeed | None]:
        """``events`` to admit now (None: held or discarded), and a resync to ask for."""
        first = events[0].seq
        if first <= last + 1:
            return events, None
        if len(self.held) < self._max_held:
            self.held.setdefault(first, events)
        else:
            self.discarded += 1
        reason = REASON_STARTUP if last == 0 else REASON_GAP
        return None, self.ask(last, now, reason, f"expected seq {last + 1}, got {first}")

    def ready(self, last: int) -> list[AnyEvent] | None:
        """The held batch that now follows on, if any; held batches already covered go."""
        for first in sorted(self.held):
            batch = self.held[first]
            if batch[-1].seq <= last:
                del self.held[first]
            elif first <= last + 1:
                return self.held.pop(first)
            else:
                return None
        return None

    def ask(self, last: int, now: float, reason: str, detail: str = "") -> ResyncNeed | None:
        """A resync request, unless one was asked less than ``retry_s`` ago."""
        if self.asked_at is not None and now - self.asked_at < self._retry_s:
            return None
        self.asked_at = now
        return ResyncNeed(source=self.source, from_seq=last + 1, reason=reason, detail=detail)

    def resynced(self) -> None:
        self.asked_at = None

    def hold_digest(self, seq: int, digest: str) -> None:
        self.digests[seq] = digest
        while len(self.digests) > self._max_digests:
            del self.digests[min(self.digests)]

    def due_digests(self, last: int) -> tuple[str | None, int]:
        """The held digest taken exactly at ``last`` (if any), and how many were passed by."""
        due = self.digests.pop(last, None)
        passed = [seq for seq in self.digests if seq < last]
        for seq in passed:
            del self.digests[seq]
        return due, len(passed)
