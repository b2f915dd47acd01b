"""The forecaster, fed from the log: every directed link's load at the events' own times.

Pure: events in (as the log accepted them), forecasts and spikes out; the clock is the
telemetry's own (``clock``: the newest ``ts`` seen from a source other than shadowd),
never the wall clock, so a replay at 3600x predicts what the live feed would.

What each event does, as ``shadowd.predict.backtest`` does it:

- ``LinkUtilization`` of a link that is up: a sample of both directions at its ``ts``;
- ``LinkCapacity``: the link's capacity (spikes are judged against it);
- ``LinkStatus``, ``RouterHealth``, ``LinkMetric``: traffic moved at once: a level shift
  (``Forecaster.topology_changed``), not a trend;
- ``LinkAdded`` of a link the forecaster does not know: the forecaster starts again
  with the new set of links (``Forecaster`` has a fixed set; its history is lost, and
  spikes wait one season while it relearns). A removed link keeps its row, unsampled;
  its spikes are dropped while it is gone.

``recent`` keeps each direction's highest sample over the last ``history_s`` (in hourly
slots), the "historical" column of ``shadowctl forecast``; ``history`` keeps the last day
of steps, observed against forecast, for the plots of ``shadowctl report``.

``snapshot()`` / ``LinkForecasts.restore(state, saved)``: the whole feed (forecaster,
``recent``, ``history``, clock) as a msgspec Struct. The daemon saves it beside each
snapshot of the state, at the same lsn, so a restart resumes forecasting at once instead
of relearning a season.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec
import numpy as np

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkStatus,
    LinkUtilization,
    RouterHealth,
)
from shadowd.core.state import State, log_time
from shadowd.predict.forecast import (
    Forecast,
    Forecaster,
    ForecasterState,
    ForecastParams,
    PredictedSpike,
)
from shadowd.predict.history import ForecastHistory, HistoryState
from shadowd.predict.holtwinters import FloatArray
from shadowd.predict.packed import Packed, pack, unpack

Samples = dict[str, tuple[float, float]]


class RecentMaxState(msgspec.Struct, frozen=True, kw_only=True):
    slot_s: float
    slots: int
    current: int
    max: Packed


class FeedState(msgspec.Struct, frozen=True, kw_only=True):
    """A ``LinkForecasts``: its clock, and its forecaster with the tables kept beside it
    (all three, or none before the first sample)."""

    params: ForecastParams
    clock: float
    restarts: int = 0
    forecaster: ForecasterState | None = None
    recent: RecentMaxState | None = None
    history: HistoryState | None = None


class RecentMax:
    """Per series, the highest sample over the last ``slots`` slots of ``slot_s``."""

    def __init__(self, series: int, slot_s: float = 3600.0, slots: int = 24) -> None:
        self.slot_s, self.slots = slot_s, slots
        self.max = np.full((slots, series), np.nan)
        self.current = -1  # the absolute slot number being filled

    def add(self, ts: float, rows: Iterable[int], values: Iterable[float]) -> None:
        slot = math.floor(ts / self.slot_s)
        if slot < self.current - self.slots + 1:
            return  # older than the window
        if slot > self.current:
            for s in range(max(self.current + 1, slot - self.slots + 1), slot + 1):
                self.max[s % self.slots] = np.nan
            self.current = slot
        row = self.max[slot % self.slots]
        for r, v in zip(rows, values, strict=True):
            if not v <= row[r]:  # NaN compares false: the first sample wins
                row[r] = v

    def values(self) -> FloatArray:
        out: FloatArray = np.fmax.reduce(self.max, axis=0)  # NaN only where all are
        return out

    def snapshot(self) -> RecentMaxState:
        return RecentMaxState(slot_s=self.slot_s, slots=self.slots, current=self.current,
                              max=pack(self.max))

    @classmethod
    def restore(cls, state: RecentMaxState) -> RecentMax:
        table = unpack(state.max)
        recent = cls(table.shape[1], state.slot_s, state.slots)
        recent.max, recent.current = table, state.current
        return recent


class LinkForecasts:
    def __init__(self, state: State, params: ForecastParams | None = None) -> None:
        self.params = params if params is not None else ForecastParams()
        self._state = state  # the daemon's live state: read only (capacities, links)
        self.forecaster: Forecaster | None = None
        self.recent: RecentMax | None = None
        self.history: ForecastHistory | None = None
        self.clock = log_time(state)
        self.restarts = 0  # the forecaster started again for a new link
        self._rows_for: Forecaster | None = None  # the forecaster ``_rows_of`` is of
        self._rows_of: dict[str, tuple[int, int]] = {}

    def snapshot(self) -> FeedState:
        """The whole feed, as it is now: a copy nothing done to the feed later changes."""
        return FeedState(
            params=self.params, clock=self.clock, restarts=self.restarts,
            forecaster=self.forecaster.snapshot() if self.forecaster is not None else None,
            recent=self.recent.snapshot() if self.recent is not None else None,
            history=self.history.snapshot() if self.history is not None else None)

    @classmethod
    def restore(cls, state: State, saved: FeedState) -> LinkForecasts:
        """The feed ``saved`` was, on ``state`` (the daemon's state at the same lsn)."""
        feed = cls(state, saved.params)
        feed.clock, feed.restarts = saved.clock, saved.restarts
        if saved.forecaster is not None and saved.recent is not None \
                and saved.history is not None:
            feed.forecaster = Forecaster.restore(saved.forecaster)
            feed.recent = RecentMax.restore(saved.recent)
            feed.history = ForecastHistory.restore(saved.history)
        return feed

    def feed(self, events: list[AnyEvent]) -> None:
        """Events just applied to the state, in log order (one source's batch, or shadowd's
        own records, which are skipped: they do not move the clock)."""
        if not events or events[0].source == DAEMON_SOURCE:
            return
        # A batch is one source's run of seqs, stamped in order: its ends bound its times.
        self.clock = max(self.clock, events[0].ts, events[-1].ts)
        samples: dict[float, Samples] = defaultdict(dict)
        handlers = _HANDLERS
        for e in events:  # the hot path: mostly demands, which only a dict lookup costs
            handler = handlers.get(type(e))
            if handler is not None:
                handler(self, e, samples)
        for ts in sorted(samples):
            self._sample(ts, samples[ts])

    def _utilization(self, e: LinkUtilization, samples: dict[float, Samples]) -> None:
        link = self._state.links.get(e.link)
        if link is not None and link.up:
            samples[e.ts][e.link] = (e.ab_bps, e.ba_bps)

    def _moved(self, e: LinkStatus | RouterHealth | LinkMetric,
               samples: dict[float, Samples]) -> None:
        if self.forecaster is not None:
            self.forecaster.topology_changed(e.ts)

    def spikes(self, horizon_s: float, threshold: float) -> list[PredictedSpike]:
        """Spikes newly predicted at ``clock``, on links that exist."""
        if self.forecaster is None:
            return []
        found = self.forecaster.spikes(self.clock, horizon_s, threshold)
        return [s for s in found if s.link in self._state.links]

    def forecast(self, horizon_s: float) -> Forecast | None:
        return self.forecaster.forecast(self.clock, horizon_s) if self.forecaster else None

    def latest(self, link: str, direction: str) -> float:
        """The newest sample of a link direction (NaN: none yet)."""
        f = self.forecaster
        if f is None or not f.knows(link):
            return math.nan
        return float(f.latest[f.row(link, "ab" if direction == "ab" else "ba")])

    def _capacity(self, e: LinkCapacity | LinkAdded, samples: dict[float, Samples]) -> None:
        f = self.forecaster
        if f is None:
            return
        if f.knows(e.link):
            f.set_capacity(e.link, e.capacity_bps)
        elif isinstance(e, LinkAdded):
            self.forecaster = self.recent = self.history = None  # rebuilt at the next sample
            self.restarts += 1

    def _sample(self, ts: float, loads: Samples) -> None:
        f = self.forecaster
        if f is None:
            f = self.forecaster = self._new()
        rows_of = self._rows(f)
        known = {k: v for k, v in loads.items() if k in rows_of}
        if self.history is not None:
            self.history.before(f, ts)
        f.update(ts, known)
        if self.recent is not None:
            rows = [r for k in known for r in rows_of[k]]
            self.recent.add(ts, rows, [x for v in known.values() for x in v])

    def _rows(self, f: Forecaster) -> dict[str, tuple[int, int]]:
        """Each of ``f``'s links' two rows, (a->b, b->a): looked up in a dict, not its
        list of links (a scan per sample), and made again only for a new forecaster."""
        if self._rows_for is not f:
            self._rows_for = f
            self._rows_of = {k: (f.row(k, "ab"), f.row(k, "ba")) for k in f.links}
        return self._rows_of

    def _new(self) -> Forecaster:
        links = sorted(self._state.links)
        capacity = [self._state.links[k].capacity_bps for k in links]
        self.recent = RecentMax(2 * len(links))
        self.history = ForecastHistory(2 * len(links))
        return Forecaster(links, capacity, self.params)


_Handler = Callable[[LinkForecasts, Any, dict[float, Samples]], None]
_HANDLERS: Final[dict[type, _Handler]] = {
    LinkUtilization: LinkForecasts._utilization,
    LinkCapacity: LinkForecasts._capacity,
    LinkAdded: LinkForecasts._capacity,
    LinkStatus: LinkForecasts._moved,
    RouterHealth: LinkForecasts._moved,
    LinkMetric: LinkForecasts._moved,
}
