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

from collections.abc import Sequence
from typing import Final, Protocol

import msgspec

from shadowd.core.checks import validate
from shadowd.core.diff import diff
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    AnyEvent,
)
from shadowd.core.state import State, apply, view_sources

REASON_GAP: Final = "gap"  # the same words as ``shadowd.core.wire``'s REASON_*
REASON_STARTUP: Final = "startup"
REASON_DIGEST_MISMATCH: Final = "digest_mismatch"
REASON_RESET: Final = "reset"  # the source numbers from an old seq again


class SnapshotLike(Protocol):
    """What ``reconcile`` reads of a snapshot (``shadowd.core.wire.Snapshot`` has it)."""

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
    """The reconciliation of ``state`` with ``snapshot``: ``core.diff`` to its view, stamped.

    The state does not record which source said what, so a snapshot may remove things
    only while its source is the only one the shadow holds; with other sources present
    it adds and updates, and what it no longer has stays (another source may own it).
    """
    target, rejected = target_view(snapshot)
    alone = not view_sources(state) - {snapshot.source}
    stamp = {"source": snapshot.source, "seq": snapshot.seq, "ts": snapshot.ts}
    events = [msgspec.structs.replace(e, **stamp) for e in diff(state, target, removals=alone)]
    return Reconciliation(events=events, rejected=rejected)


def reconcile(state: State, snapshot: SnapshotLike) -> list[AnyEvent]:
    """The events that turn ``state``'s network view into ``snapshot``'s."""
    return plan(state, snapshot).events


# --- the per-source session ------------------------------------------------------------


class ResyncNeed(msgspec.Struct, frozen=True, kw_only=True):
    """Ask ``source`` to send again from ``from_seq`` (the caller publishes the request)."""

    source: str
    from_seq: int
    reason: str
    detail: str = ""


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    expected: int
    got: int


def gap_after(source: str, last: int, first: int) -> Gap | None:
    """The one gap rule, for every feed: after ``last``, a source's next seq is
    ``last + 1``; a batch starting beyond it leaves a gap."""
    return Gap(source=source, expected=last + 1, got=first) if first > last + 1 else None


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
        if gap_after(self.source, last, first) is None:
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
