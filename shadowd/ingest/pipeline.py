"""Ingest: turn source batches into applied, durable events.

A batch is admitted (dedupe, gap check, validation, apply) and queued for the log in one
synchronous step, so the log's order is the order the state saw, and the n-th logged
event is the one that took the state to lsn n. The producer does not wait for each
batch's fsync: it keeps going while the group commit writes, held back only when more
than ``max_in_flight`` events are not yet durable (backpressure, never dropping). A
source that acknowledges upstream (a broker) waits for ``durable(lsn)`` first.

shadowd's own records (``append``) take the same path: admitted, queued on the same
committer, handed to the same listener. Whatever is accepted is handed to the listener
(``on_accepted``) in log order, after any batch it is still handling: a listener that
appends a record while it handles a batch gets that record next, never from inside itself.

If the disk fails the committer's task fails, and with it the daemon: the state is never
allowed to run ahead of a log that can no longer catch up.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from shadowd import logs
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import AnyEvent, tag_of
from shadowd.core.resync import Gap, SnapshotLike
from shadowd.core.state import State
from shadowd.core.sync import (
    Admission,
    SnapshotAdmission,
    SourceCounters,
    admit,
    admit_snapshot,
)

log = logs.get_logger()


class Committer(Protocol):
    durable_lsn: int

    def enqueue(self, events: Sequence[AnyEvent]) -> None: ...

    async def wait_durable(self, lsn: int) -> None: ...


class Ingest:
    def __init__(
        self, state: State, committer: Committer, *, max_in_flight: int,
        on_accepted: Callable[[list[AnyEvent]], None] = lambda events: None,
    ) -> None:
        self.state = state
        self._committer = committer
        self._max_in_flight = max_in_flight
        self._on_accepted = on_accepted
        self._outbox: deque[list[AnyEvent]] = deque()  # accepted, not yet handed out
        self._handing_out = False
        self.counters: dict[str, SourceCounters] = {}

    @property
    def durable_lsn(self) -> int:
        return self._committer.durable_lsn

    def offer(self, batch: list[AnyEvent]) -> int:
        """Admit ``batch`` and queue what was accepted; return the state's lsn after it."""
        return self.admit(batch)[0]

    def admit(self, batch: list[AnyEvent], *,
              not_after: float = math.inf) -> tuple[int, Admission]:
        """``offer``, also saying what was done with each event (stamped after
        ``not_after``: refused)."""
        admission = admit(self.state, batch, self.counters, not_after=not_after)
        _report(admission)
        self._queue(admission.accepted)
        return self.state.lsn, admission

    def append(self, records: list[AnyEvent]) -> None:
        """shadowd's own records, admitted as telemetry is (seq, checks, fold) and queued
        on the same committer, so they are as durable. One refused is a bug: said."""
        _, admission = self.admit(records)
        if len(admission.accepted) != len(records):
            log.error("a record was not logged", duplicates=admission.duplicates,
                      rejected=[err.reason for _, err in admission.rejected])

    def admit_snapshot(self, snapshot: SnapshotLike) -> tuple[int, SnapshotAdmission]:
        """Reconcile the state with a source's snapshot; queue the diff like any deltas."""
        admission = admit_snapshot(self.state, snapshot, self.counters)
        _report_rejected(admission.rejected)
        self._queue(admission.accepted)
        return self.state.lsn, admission

    def _queue(self, accepted: list[AnyEvent]) -> None:
        if accepted:
            self._committer.enqueue(accepted)
            self._hand_out(accepted)

    def _hand_out(self, accepted: list[AnyEvent]) -> None:
        self._outbox.append(accepted)
        if self._handing_out:  # appended by the listener: next, once it has returned
            return
        self._handing_out = True
        try:
            while self._outbox:
                self._on_accepted(self._outbox.popleft())
        finally:
            self._handing_out = False

    def held_at_gap(self, gap: Gap, *, held: int) -> None:
        """A broker feed held a batch at ``gap`` and asked for a resync (``held``: batches
        held now): counted and said as a gap a replay runs past."""
        self.counters.setdefault(gap.source, SourceCounters()).gaps += 1
        _gap(gap, held=held)

    async def durable(self, lsn: int) -> None:
        await self._committer.wait_durable(lsn)

    def congested(self) -> bool:
        """True while more than ``max_in_flight`` applied events are not yet durable."""
        return self.state.lsn - self._committer.durable_lsn > self._max_in_flight

    async def backpressure(self) -> None:
        """Wait while too much of the state is not yet on disk."""
        behind = self.state.lsn - self._committer.durable_lsn
        if behind > self._max_in_flight:
            await self._committer.wait_durable(self.state.lsn - self._max_in_flight)


def _report(admission: Admission) -> None:
    _report_rejected(admission.rejected)
    for gap in admission.gaps:
        _gap(gap)


def _gap(gap: Gap, **fields: int) -> None:
    logs.alert(log, "sequence_gap", "warning", "sequence gap", source=gap.source,
               expected=gap.expected, got=gap.got, **fields)


def _report_rejected(rejected: list[tuple[AnyEvent, InvalidEvent]]) -> None:
    for event, err in rejected:
        logs.alert(log, "delta_rejected", "warning", "delta rejected", source=event.source,
                   seq=event.seq, event_type=tag_of(event), reason=err.reason)
