"""Differential sync rules: which incoming deltas join the log.

Each source numbers its deltas with a strictly increasing ``seq``. A delta whose ``seq`` is
not above the source's last applied one is a duplicate and is dropped; one that skips
ahead reveals a gap (the caller asks the source to resync); one that fails validation is
rejected with its reason. Everything else is applied, in order, and returned for the log.

Pure: no I/O, no clock. Counters live beside the state, not in it, because they describe
the feed rather than the network (a replay of the log would not reproduce them).
"""

from __future__ import annotations

import msgspec

from shadowd.core.errors import InvalidEvent
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, apply, validate


class SourceCounters(msgspec.Struct, kw_only=True, gc=False):
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    gaps: int = 0
    last_seen: int = 0  # highest seq seen, applied or rejected: a rejection is not a gap


class Gap(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    expected: int
    got: int


class Admission(msgspec.Struct, kw_only=True):
    """What ``admit`` did with one batch."""

    accepted: list[AnyEvent] = msgspec.field(default_factory=list)
    rejected: list[tuple[AnyEvent, InvalidEvent]] = msgspec.field(default_factory=list)
    duplicates: int = 0
    gaps: list[Gap] = msgspec.field(default_factory=list)


def admit(
    state: State, events: list[AnyEvent], counters: dict[str, SourceCounters]
) -> Admission:
    """Apply the acceptable events of ``events`` to ``state`` and say what happened."""
    result = Admission()
    for event in events:
        pos = state.sources.get(event.source)
        last = pos.seq if pos is not None else 0
        count = counters.get(event.source)
        if count is None:
            count = counters[event.source] = SourceCounters()
        if event.seq <= last:
            result.duplicates += 1
            count.duplicates += 1
            continue
        expected = max(last, count.last_seen) + 1
        if event.seq > expected and last:
            result.gaps.append(Gap(source=event.source, expected=expected, got=event.seq))
            count.gaps += 1
        count.last_seen = max(count.last_seen, event.seq)
        try:
            validate(state, event)
        except InvalidEvent as err:
            result.rejected.append((event, err))
            count.rejected += 1
            continue
        apply(state, event)
        result.accepted.append(event)
        count.accepted += 1
    return result
