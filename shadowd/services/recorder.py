"""shadowd's own records (predictions, scenario runs, policies, the rollout journal) join
the log under the source ``shadowd``: one ``Recorder`` per daemon stamps them, so every
part that records shares one strictly increasing seq."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from shadowd.core.events import DAEMON_SOURCE, ENCODER, AnyEvent, decode_event
from shadowd.core.state import State
from shadowd.predict.records import Stamp

Append = Callable[[list[AnyEvent]], None]
E = TypeVar("E", bound=AnyEvent)


class Recorder:
    def __init__(self, state: State, append: Append) -> None:
        own = state.sources.get(DAEMON_SOURCE)
        self._seq = own.seq if own is not None else 0
        self._append = append

    def record(self, make: Callable[[Stamp], E], *, ts: float) -> E:
        """Stamp, check (a record must decode again, whatever the numbers) and append."""
        self._seq += 1
        event = make(Stamp(seq=self._seq, ts=ts))
        decode_event(ENCODER.encode(event))  # raises rather than poison the log
        self._append([event])
        return event
