"""Open spikes: predicted, recorded, and their scenario runs not recorded yet. Pure.

Kept from the log's own records, so a restart knows what it still owes: a
``SpikePredicted`` opens a spike (by its seq, under shadowd's source), and the first
model-tier ``ScenarioRan`` naming that seq (``spike_seq``) closes it. The live predictor
and recovery feed it the same records in the same order, so a set saved beside a snapshot
and fed the log tail is the set an uninterrupted daemon has. ``expire(now)`` drops the
spikes whose peak the log clock has reached (a run injected after its peak is of no
use); when to ask is the caller's (the predictor's) to say.

Closing on the first run, not the last: the records do not say how many runs a spike
planned. A restart between two runs of one injection leaves the rest unrun.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from shadowd.core.events import DAEMON_SOURCE, AnyEvent, Direction, ScenarioRan, SpikePredicted


class OpenSpike(msgspec.Struct, frozen=True, kw_only=True):
    """What resuming a spike needs of its ``SpikePredicted`` record."""

    seq: int  # of the record: its runs name it as their ``spike_seq``
    link: str
    direction: Direction
    peak_ts: float
    predicted_bps: float
    made_at: float
    worst_failure: str = ""

    @classmethod
    def of(cls, record: SpikePredicted) -> OpenSpike:
        return cls(seq=record.seq, link=record.link, direction=record.direction,
                   peak_ts=record.peak_ts, predicted_bps=record.predicted_bps,
                   made_at=record.made_at, worst_failure=record.worst_failure)

    @property
    def key(self) -> tuple[str, Direction, float]:
        """The scheduler's key of this spike."""
        return self.link, self.direction, self.peak_ts


class OpenSpikes:
    def __init__(self, spikes: Iterable[OpenSpike] = ()) -> None:
        self._open = {s.seq: s for s in spikes}

    def note(self, events: list[AnyEvent]) -> None:
        """One source's events as the log accepted them; only shadowd's are looked at."""
        if not events or events[0].source != DAEMON_SOURCE:
            return
        for e in events:
            if isinstance(e, SpikePredicted):
                self._open[e.seq] = OpenSpike.of(e)
            elif isinstance(e, ScenarioRan) and e.tier == "model" and e.spike_seq:
                self._open.pop(e.spike_seq, None)

    def expire(self, now: float) -> list[OpenSpike]:
        """Drop the spikes whose peak is not after ``now``; the ones dropped."""
        if not self._open:  # nearly always, and asked at every batch
            return []
        past = [s for s in self._open.values() if s.peak_ts <= now]
        for spike in past:
            del self._open[spike.seq]
        return past

    def snapshot(self) -> tuple[OpenSpike, ...]:
        """Oldest record first."""
        return tuple(self._open[seq] for seq in sorted(self._open))

    def __len__(self) -> int:
        return len(self._open)
