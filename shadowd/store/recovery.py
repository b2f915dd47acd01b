"""Rebuilding the state from a state directory: newest usable snapshot + the log after it.

The one place the daemon and the tools get their state from. Layout: ``DIR/log/*.seg``
and ``DIR/snapshots/*.snap``. A missing directory is an empty shadow.

A ``Follower`` rebuilds a projection of the log alongside: it is told the state recovery
starts from (a snapshot's, or the empty state), then each run of one source's events
right after they are folded, as the daemon's accepted-events hook was told them live.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import Final, Literal, Protocol, TypeAlias

from shadowd.core.errors import LogCorrupt
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, fold
from shadowd.store.log import EventLog, SealedDamage, Truncation
from shadowd.store.snapshot import Offsets, SnapshotProblem, SnapshotStore

LOG_DIR: Final = "log"
SNAPSHOT_DIR: Final = "snapshots"

ProblemKind: TypeAlias = Literal["log_truncated", "log_damaged", "snapshot_skipped"]

_SOURCE: Final = attrgetter("source")


class Follower(Protocol):
    def start(self, state: State) -> None:
        """Recovery starts from ``state`` (at ``state.lsn``), and folds into it in place."""

    def note(self, events: list[AnyEvent]) -> None:
        """``events``, one source's, were just folded into the state."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Something recovery found and worked around: log it as a warning, with ``fields``."""

    kind: ProblemKind
    message: str
    fields: dict[str, object]
    severity: Literal["warning", "critical"] = "warning"


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    snapshot_lsn: int  # 0 when folded from the start of the log
    replayed: int  # events folded from the log on top of the snapshot
    log_end: int  # lsn of the last intact event in the log
    truncation: Truncation | None
    skipped_snapshots: tuple[SnapshotProblem, ...]
    offsets: Offsets = field(default_factory=dict)  # broker offsets the snapshot recorded
    damaged: tuple[SealedDamage, ...] = ()  # in segments the start did not read

    def problems(self) -> list[Problem]:
        """Nothing recovery works around is silently accepted: here is all of it."""
        found = [Problem("snapshot_skipped", str(p), {"path": str(p.path), "reason": p.reason})
                 for p in self.skipped_snapshots]
        if self.truncation is not None:
            t = self.truncation
            fields: dict[str, object] = {
                "segment": t.segment, "offset": t.offset, "dropped_bytes": t.dropped_bytes,
                "reason": t.reason, "applied": t.applied,
            }
            found.insert(0, Problem("log_truncated", str(t), fields))
        found += [Problem("log_damaged", str(d), {"segment": d.segment, "offset": d.offset,
                                                  "reason": d.reason, "first_lsn": d.lsns[0],
                                                  "last_lsn": d.lsns[1]}, "critical")
                  for d in self.damaged]
        return found


class LogLost(LogCorrupt):
    """Snapshots prove events the log no longer holds: not a torn write but lost history.
    ``log_end`` is where the log ends, ``proven`` the newest snapshot's lsn."""

    def __init__(self, message: str, *, log_end: int, proven: int) -> None:
        super().__init__(message)
        self.log_end, self.proven = log_end, proven


def recover(state_dir: str | Path, until: int | None = None, *,
            repair: bool = False, use_snapshots: bool = True,
            follower: Follower | None = None, accept_loss: bool = False,
            ) -> tuple[State, RecoveryReport]:
    """The state as of lsn ``until`` (default: the end of the log).

    Read-only unless ``repair``: then a torn log tail is cut off, as the daemon must before
    it appends again. A torn tail is the last write cut short: a snapshot past the end of
    the log proves more was lost than that, and ``repair`` then refuses (``LogLost``),
    changing nothing, unless ``accept_loss`` (``shadowd log repair``): the log is kept as
    far as it is intact and the later snapshots are set aside (``*.orphan``). Without
    ``use_snapshots`` the whole log is folded from the first event (a cross-check).
    ``repair`` (the daemon's start) also checks the segments it did not read against
    their seals (``EventLog.check_sealed``): damage there is reported, not refused, since
    the snapshot it lies under stands in for it.
    """
    root = Path(state_dir)
    snapshots = SnapshotStore(root / SNAPSHOT_DIR)
    if repair and not accept_loss:
        _refuse_lost_history(root, snapshots)
    with EventLog.open(root / LOG_DIR, readonly=not repair) as log:
        orphans = snapshots.beyond(log.last_lsn, set_aside=repair) if until is None else []
        state, report = _replay(log, snapshots if use_snapshots else None, until, orphans,
                                follower)
        if repair:
            report = dataclasses.replace(report, damaged=tuple(log.check_sealed()))
        return state, report


def _refuse_lost_history(root: Path, snapshots: SnapshotStore) -> None:
    with EventLog.open(root / LOG_DIR, readonly=True) as log:
        end = log.last_lsn
    beyond = snapshots.beyond(end)
    if not beyond:
        return
    newest = max(p.lsn for p in beyond)
    raise LogLost(
        f"{root}: the log ends at lsn {end}, but {len(beyond)} snapshot(s) hold up to lsn "
        f"{newest}: events {end + 1}..{newest} were durable and are gone from the log (a "
        f"segment cut short or lost, not a torn write). Nothing was changed. `shadowd log "
        f"repair --state-dir {root}` keeps the log to lsn {end}, sets the later snapshots "
        "aside and says what is lost", log_end=end, proven=newest)


def _replay(log: EventLog, snapshots: SnapshotStore | None, until: int | None,
            problems: list[SnapshotProblem],
            follower: Follower | None) -> tuple[State, RecoveryReport]:
    end = log.last_lsn if until is None else min(until, log.last_lsn)
    snapshot, skipped = snapshots.latest(until=end) if snapshots is not None else (None, [])
    state = State() if snapshot is None else snapshot.state
    start = state.lsn
    if follower is not None:
        follower.start(state)
    with _gc_paused():
        for events in log.read(start + 1, until):
            fold_following(events, state, follower)
    report = RecoveryReport(start, state.lsn - start, log.last_lsn, log.truncation,
                            (*problems, *skipped), snapshot.offsets if snapshot else {})
    return state, report


def fold_following(events: list[AnyEvent], state: State, follower: Follower | None) -> None:
    """Fold ``events`` (a log record: one group commit, maybe of several sources) into
    ``state``, telling ``follower`` each source's run just after it is folded."""
    if follower is None:
        fold(events, state)
        return
    for run in _source_runs(events):
        fold(run, state)
        follower.note(run)


def _source_runs(events: list[AnyEvent]) -> list[list[AnyEvent]]:
    """``events`` cut where the source changes. Most records are one source's: then the
    record itself, after one pass over the sources and no copy."""
    sources = [e.source for e in events]
    if not sources:
        return []
    if sources.count(sources[0]) == len(sources):
        return [events]
    return [list(run) for _, run in groupby(events, key=_SOURCE)]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Replay makes millions of short-lived objects and no cycles: collecting is waste."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
