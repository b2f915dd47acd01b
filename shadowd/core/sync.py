"""Differential sync rules: which incoming deltas join the log.

Each source numbers its deltas with a strictly increasing ``seq``. A delta whose ``seq`` is
not above the source's last applied one is a duplicate and is dropped; one that skips
ahead reveals a gap (the caller asks the source to resync); one that fails validation is
rejected with its reason. Everything else is applied, in order, and returned for the log.

A snapshot (the answer to a resync) is admitted whole by ``admit_snapshot``: the events
``shadowd.core.resync.reconcile`` computes are applied without the per-event dedupe (they
all carry the snapshot's ``seq``), and the source's position becomes that ``seq``. A
snapshot behind the source's position is stale: dropped and counted.

Pure: no I/O, no clock. Counters live beside the state, not in it, because they describe
the feed rather than the network (a replay of the log would not reproduce them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from shadowd.core.checks import apply_valid, validate
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import AnyEvent, tag_of
from shadowd.core.resync import Gap, SnapshotLike, gap_after, plan
from shadowd.core.state import State, apply


class SourceCounters(msgspec.Struct, kw_only=True, gc=False):
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    gaps: int = 0
    last_seen: int = 0  # highest seq seen, applied or rejected: a rejection is not a gap
    last_ts: float = 0.0  # latest time stamped on an event taken (applied or refused)
    # The seq of the last snapshot admitted: the source's position even when the snapshot
    # changed nothing (so logged no event to carry its seq).
    resynced_to: int = 0
    snapshots: int = 0
    stale_snapshots: int = 0
    resyncs: int = 0  # resync requests sent
    held: int = 0  # delta batches held back until the seqs before them arrive
    digests_ok: int = 0
    digest_mismatches: int = 0
    digests_passed: int = 0  # digests of a position the shadow had already moved past
    dead_letters: int = 0


class Admission(msgspec.Struct, kw_only=True):
    """What ``admit`` did with one batch."""

    accepted: list[AnyEvent] = msgspec.field(default_factory=list)
    rejected: list[tuple[AnyEvent, InvalidEvent]] = msgspec.field(default_factory=list)
    duplicates: int = 0
    gaps: list[Gap] = msgspec.field(default_factory=list)


class SnapshotAdmission(msgspec.Struct, kw_only=True):
    """What ``admit_snapshot`` did: the events it applied, or ``stale``."""

    accepted: list[AnyEvent] = msgspec.field(default_factory=list)
    rejected: list[tuple[AnyEvent, InvalidEvent]] = msgspec.field(default_factory=list)
    stale: bool = False


def position(state: State, counters: Mapping[str, SourceCounters], source: str) -> int:
    """The last seq of ``source`` that the shadow has taken: applied, or refused (a refused
    event was received: its seq is used up, and the next one follows on), deltas and
    snapshots alike. After a restart only what the log holds counts, so a refusal just
    before it costs one resync, not a stall."""
    pos = state.sources.get(source)
    count = counters.get(source)
    return max(pos.seq if pos is not None else 0, count.last_seen if count else 0)


def _counters(counters: dict[str, SourceCounters], source: str) -> SourceCounters:
    count = counters.get(source)
    if count is None:
        count = counters[source] = SourceCounters()
    return count


def admit_snapshot(
    state: State, snapshot: SnapshotLike, counters: dict[str, SourceCounters]
) -> SnapshotAdmission:
    """Reconcile ``state`` with ``snapshot`` and move the source's position to its seq.

    A snapshot at the source's current position is admitted too (its diff is empty unless
    the views diverged: that is how a digest mismatch heals while the source is idle).
    """
    count = _counters(counters, snapshot.source)
    if snapshot.seq < 1 or snapshot.seq < position(state, counters, snapshot.source):
        count.stale_snapshots += 1
        return SnapshotAdmission(stale=True)
    recon = plan(state, snapshot)
    result = SnapshotAdmission(rejected=recon.rejected)
    for event in recon.events:
        try:
            validate(state, event)
        except InvalidEvent as err:  # reconcile orders its events to apply: a bug if here
            result.rejected.append((event, err))
            continue
        apply(state, event)
        result.accepted.append(event)
    count.snapshots += 1
    count.rejected += len(result.rejected)
    count.resynced_to = snapshot.seq
    count.last_seen = max(count.last_seen, snapshot.seq)
    count.last_ts = max(count.last_ts, snapshot.ts)
    return result


def admit(
    state: State, events: list[AnyEvent], counters: dict[str, SourceCounters], *,
    not_after: float = math.inf,
) -> Admission:
    """Apply the acceptable events of ``events`` to ``state`` and say what happened.

    Events come in runs: one source, consecutive seqs. Only a run's first event needs the
    duplicate and gap checks; the rest go straight through ``apply_valid``. An event
    stamped after ``not_after`` (the receiving clock plus the skew allowed) is refused: a
    time in the future would carry the forecaster's clock there.
    """
    result = Admission()
    i = 0
    while i < len(events):
        event = events[i]
        count = _counters(counters, event.source)
        last = position(state, counters, event.source)
        if event.seq <= last:
            result.duplicates += 1
            count.duplicates += 1
            i += 1
            continue
        gap = gap_after(event.source, last, event.seq) if last else None
        if gap is not None:  # a replay goes on past it; a broker feed held it (resync)
            result.gaps.append(gap)
            count.gaps += 1
        end = _run_end(events, i)
        run = events[i:end]
        newest = max(e.ts for e in run)
        if newest > not_after:
            run, early = _in_time(run, not_after)
        else:
            early = []
        accepted, rejected = apply_valid(state, run)
        rejected += early
        result.accepted += accepted
        result.rejected += rejected
        count.accepted += len(accepted)
        count.rejected += len(rejected)
        count.last_seen = max(count.last_seen, events[end - 1].seq)
        count.last_ts = max(count.last_ts, newest)
        i = end
    return result


def _in_time(events: list[AnyEvent], not_after: float) -> tuple[
        list[AnyEvent], list[tuple[AnyEvent, InvalidEvent]]]:
    """``events`` stamped up to ``not_after``, and the others refused with the reason."""
    early = [(e, InvalidEvent(f"ts {e.ts:.3f} is {e.ts - not_after:.0f} s beyond the "
                              "receiving clock's allowance (max_skew_s)",
                              event_type=tag_of(e), source=e.source, seq=e.seq))
             for e in events if e.ts > not_after]
    return [e for e in events if e.ts <= not_after], early


def _run_end(events: list[AnyEvent], start: int) -> int:
    """One past the end of the run of ``events[start]``: same source, seq + 1 each."""
    source, seq = events[start].source, events[start].seq
    end = start + 1
    while end < len(events) and events[end].seq == seq + 1 and events[end].source == source:
        seq += 1
        end += 1
    return end
