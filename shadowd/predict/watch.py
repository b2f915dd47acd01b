"""The feed, asked for new spikes at a steady cadence of its own clock; the spikes still
owed their runs; and the saved form of both.

Pure: events in, spikes out. ``SpikeWatch.note(events)`` feeds ``LinkForecasts`` and, at
most every ``check_every_s`` of the feed's clock (log time, not the wall clock), asks it
for the spikes newly predicted. The predictor schedules what it is given; recovery,
replaying the log after a snapshot, asks the same questions and drops the answers (those
spikes were predicted before the restart, their records are in the log), so the
forecaster's alert gating ends where an uninterrupted daemon's would.

The same events keep ``open``, the spikes recorded whose runs are not (``open_spikes``):
shadowd's own ``SpikePredicted`` and ``ScenarioRan`` records open and close them. Only
the predictor drops one whose peak has passed (``open.expire``), when it holds no work
for it; recovery drops none, so what is open once a restart has folded the log is what
the predictor resumes, or says it lost.

``snapshot(lsn)`` is a ``WatchState``: the feed, the next check and the open spikes,
tagged with the lsn of the state it was taken at. The daemon saves it beside each snapshot
of the state (``shadowd.services.predict_restore``); ``mismatch`` says why a saved watch
cannot continue on a state with the configured parameters, and ``SpikeWatch.restore``
continues one.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import msgspec

from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.predict.feed import FeedState, LinkForecasts
from shadowd.predict.forecast import ForecastParams, PredictedSpike
from shadowd.predict.open_spikes import OpenSpike, OpenSpikes

SCHEMA: Final = 2  # 2: the open spikes
READS: Final = (1, SCHEMA)  # a schema 1 watch continues with no spikes open


class WatchSettings(NamedTuple):
    check_every_s: float  # of log time between two questions for spikes
    horizon_s: float
    threshold_util: float


class WatchState(msgspec.Struct, frozen=True, kw_only=True):
    schema: int = SCHEMA
    lsn: int  # of the state the feed had seen all of
    next_check: float
    feed: FeedState
    open_spikes: tuple[OpenSpike, ...] = ()  # oldest first


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(WatchState)


def encode_watch(saved: WatchState) -> bytes:
    return _ENCODER.encode(saved)


def decode_watch(data: bytes) -> WatchState:
    """Raises ``msgspec.DecodeError`` (or its ``ValidationError``) when it is not one."""
    return _DECODER.decode(data)


class SpikeWatch:
    def __init__(self, feed: LinkForecasts, settings: WatchSettings,
                 next_check: float = -math.inf, open_spikes: OpenSpikes | None = None) -> None:
        self.feed, self.settings, self.next_check = feed, settings, next_check
        self.open = open_spikes if open_spikes is not None else OpenSpikes()

    def note(self, events: list[AnyEvent]) -> list[PredictedSpike] | None:
        """Feed ``events`` (one source's, as the log accepted them); the spikes newly
        predicted when a check was due (possibly none), or None when it was not."""
        self.feed.feed(events)
        self.open.note(events)
        now = self.feed.clock
        if now < self.next_check:
            return None
        self.next_check = now + self.settings.check_every_s
        return self.feed.spikes(self.settings.horizon_s, self.settings.threshold_util)

    def snapshot(self, lsn: int) -> WatchState:
        """The watch now, when it has seen every event up to ``lsn`` and none after."""
        return WatchState(lsn=lsn, next_check=self.next_check, feed=self.feed.snapshot(),
                          open_spikes=self.open.snapshot())

    @classmethod
    def restore(cls, state: State, saved: WatchState, settings: WatchSettings) -> SpikeWatch:
        """``saved`` continued on ``state`` (at its lsn; check ``mismatch`` first)."""
        return cls(LinkForecasts.restore(state, saved.feed), settings, saved.next_check,
                   OpenSpikes(saved.open_spikes))


def mismatch(saved: WatchState, state: State, params: ForecastParams) -> str | None:
    """Why ``saved`` cannot continue on ``state`` with ``params``; None when it can."""
    if saved.schema not in READS:
        return f"it has schema {saved.schema}; this shadowd reads schemas {READS[0]} to {SCHEMA}"
    if saved.lsn != state.lsn:
        return f"it was taken at seq {saved.lsn}, the snapshot is at seq {state.lsn}"
    changed = [name for name in params.__struct_fields__
               if getattr(saved.feed.params, name) != getattr(params, name)]
    if changed:
        return f"its forecast parameters differ from the configured ones: {', '.join(changed)}"
    return _links_mismatch(saved.feed, state)


def _links_mismatch(feed: FeedState, state: State) -> str | None:
    f = feed.forecaster
    if f is None:
        return None
    if feed.recent is None or feed.history is None:
        return "it has a forecaster without its recent-max and history tables"
    unknown = sorted(set(state.links) - set(f.links))
    if unknown:  # the live feed starts again on a new link: the files do not belong together
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        return f"{len(unknown)} of the snapshot's links are not in its forecaster: {shown}"
    series = 2 * len(f.links)
    observed = feed.history.arrays.get("observed")
    shapes = [feed.recent.max.shape, observed.shape if observed is not None else []]
    if any(shape[-1:] != [series] for shape in shapes):
        return f"its tables do not have the forecaster's {series} series"
    return None
