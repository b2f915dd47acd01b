"""shadowd's own records (predictions, scenario runs, policies, the rollout journal) join
the log under the source ``shadowd``: one ``Recorder`` per daemon stamps them, so every
part that records shares one strictly increasing seq, and one clock: log time, the time
of the latest telemetry the state holds (what caused the record), never the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shadowd.core.events import DAEMON_SOURCE, ENCODER, AnyEvent, decode_event
from shadowd.core.state import State, log_time
from shadowd.predict.records import Stamp

Append = Callable[[list[AnyEvent]], None]
E = TypeVar("E", bound=AnyEvent)


class Recorder:
    def __init__(self, state: State, append: Append) -> None:
        own = state.sources.get(DAEMON_SOURCE)
        self._seq = own.seq if own is not None else 0
        self._state = state  # the daemon's live state: read for its log time
        self._append = append

    def record(self, make: Callable[[Stamp], E], *, ts: float | None = None) -> E:
        """``stamp`` and ``append``."""
        event = self.stamp(make, ts=ts)
        self.append(event)
        return event

    def stamp(self, make: Callable[[Stamp], E], *, ts: float | None = None) -> E:
        """The next record, stamped at ``ts`` (a log time; default: the log's now) and
        checked: a record must decode again, whatever the numbers (raises rather than
        poison the log). Append it with ``append``, in stamping order."""
        self._seq += 1
        event = make(Stamp(seq=self._seq, ts=self.log_time() if ts is None else ts))
        decode_event(ENCODER.encode(event))
        return event

    def append(self, event: AnyEvent) -> None:
        self._append([event])

    def log_time(self) -> float:
        return log_time(self._state)
