"""Online forecast of every directed link's load, with a calibrated upper band and spikes.

Pure: time is an argument, nothing is read from the clock. One ``Forecaster`` holds all
directed links (row ``2k`` is link ``k`` a->b, row ``2k+1`` is b->a) as numpy arrays, so a
sample costs a few vector operations whatever the number of links.

- ``update(now, loads)``: samples may come at any time and for any subset of links. They
  are averaged per step of the grid (``step_s``, aligned to the epoch); a step is
  committed to the model when the first sample of a later step arrives, and steps with
  no samples advance the model on its trend.
- ``forecast(now, horizon_s)``: mean and calibrated upper band for each step up to the
  horizon. Samples of the still-open step count at once (a provisional update), so a
  forecast never lags the telemetry by a step.
- ``spikes(now, horizon_s, threshold_util)``: one ``PredictedSpike`` per episode when a
  link's upper band crosses ``threshold_util`` of its capacity within the horizon.
  De-duplication: a link that alerted stays quiet while its band still crosses or its
  last sample is over the threshold, and re-arms after ``rearm_s`` of neither.
- ``topology_changed(now)``: traffic moved at once (a failure, a repair); that step's
  change goes into the level, not the trend.
- ``snapshot()`` / ``Forecaster.restore(state)``: the whole state as a msgspec Struct.

The model is ``shadowd.predict.holtwinters`` (additive Holt-Winters, damped trend,
Brutlag deviations); the band's multiplier is ``shadowd.predict.calibrate`` (an online
quantile of standardised errors per horizon, pooled over links). No peaks-over-threshold
tail: the band is calibrated at ``coverage``, not beyond it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from shadowd.predict.calibrate import BandCalibrator, CalibratorState
from shadowd.predict.holtwinters import (
    FloatArray,
    HoltWintersParams,
    IntArray,
    ModelState,
    Provisional,
    SeasonalModel,
)
from shadowd.predict.packed import Packed, pack, unpack

Direction = Literal["ab", "ba"]
Loads = FloatArray | Mapping[str, tuple[float, float]]


class ForecastParams(msgspec.Struct, frozen=True, kw_only=True):
    season_s: int = 86_400
    step_s: int = 300
    deviation_slot_s: int = 3_600  # the Brutlag deviation's resolution within the season
    model: HoltWintersParams = HoltWintersParams()
    coverage: float = 0.95  # of samples under the upper band
    calibration_rate: float = 0.05
    calibration_steps: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12)
    rearm_s: float = 3_600.0

    def __post_init__(self) -> None:
        if self.season_s % self.deviation_slot_s or self.deviation_slot_s % self.step_s:
            raise ValueError("step_s must divide deviation_slot_s, which must divide season_s")
        if not 0.5 <= self.coverage < 1.0:
            raise ValueError(f"coverage {self.coverage} is not in [0.5, 1)")


class PredictedSpike(msgspec.Struct, frozen=True, kw_only=True):
    link: str
    direction: Direction
    onset: float  # first forecast time the upper band is over the threshold
    peak_at: float  # when the upper band is highest within the horizon
    upper_bps: float  # the upper band there
    mean_bps: float  # the mean forecast there
    threshold_bps: float
    utilization: float  # upper_bps / capacity
    made_at: float


class Forecast(NamedTuple):
    times: FloatArray  # (steps,): the start of each forecast step
    mean: FloatArray  # (2 * links, steps)
    upper: FloatArray


class ForecasterState(msgspec.Struct, frozen=True, kw_only=True):
    params: ForecastParams
    links: list[str]
    open_step: int
    shift_steps: list[int]
    late: int
    arrays: dict[str, Packed]
    model: ModelState
    calibrator: CalibratorState


_ARRAYS = ("capacity", "sums", "counts", "latest", "alerted", "quiet_since")


class Forecaster:
    def __init__(self, links: Sequence[str], capacity_bps: npt.ArrayLike,
                 params: ForecastParams | None = None) -> None:
        self.params = params = params or ForecastParams()
        self.links = list(links)
        self._index = {link: k for k, link in enumerate(self.links)}
        n = 2 * len(self.links)
        self.capacity = np.repeat(np.asarray(capacity_bps, dtype=np.float64), 2)
        if self.capacity.shape != (n,):
            raise ValueError(f"{len(self.links)} links but capacities of shape "
                             f"{np.shape(capacity_bps)}")
        self.model = SeasonalModel(n, params.season_s // params.step_s,
                                   params.season_s // params.deviation_slot_s, params.model)
        self.calibrator = BandCalibrator(n, params.calibration_steps, params.coverage,
                                         params.calibration_rate)
        self.open_step = -1  # the step collecting samples; -1 before the first
        self.shift_steps: set[int] = set()  # steps not yet committed in which traffic moved
        self.late = 0  # samples dropped because their step was already committed
        self.sums, self.counts = np.zeros(n), np.zeros(n)
        self.latest = np.full(n, np.nan)  # each series' most recent sample
        self.alerted = np.zeros(n, dtype=np.bool_)
        self.quiet_since = np.full(n, np.nan)

    # --- samples ----------------------------------------------------------------------

    def update(self, now: float, loads: Loads) -> None:
        """Take samples at ``now``: an array (links, 2) or (2 * links,), NaN for none, or
        a mapping link -> (a->b, b->a) bit/s for some links. The work is proportional to
        the samples given, plus one model step for all links when a new step begins."""
        rows, values = self._samples(loads)
        step = self._step(now)
        if self.open_step < 0:
            self.open_step = step
        elif step < self.open_step:
            self.late += len(rows)
            return
        elif step > self.open_step:
            self._close_until(step)
        self.sums[rows] += values
        self.counts[rows] += 1
        self.latest[rows] = values

    def _samples(self, loads: Loads) -> tuple[IntArray, FloatArray]:
        if isinstance(loads, Mapping):
            first = np.array([2 * self._index[link] for link in loads], dtype=np.int64)
            values = np.array(list(loads.values()), dtype=np.float64).reshape(-1)
            rows = np.stack([first, first + 1], axis=1).reshape(-1)
            seen = ~np.isnan(values)
            return rows[seen], values[seen]
        y = self.as_series(loads)
        seen = np.flatnonzero(~np.isnan(y)).astype(np.int64)
        return seen, y[seen]

    def knows(self, link: str) -> bool:
        """Whether ``link`` has rows here (a dict lookup, not a scan of ``links``)."""
        return link in self._index

    def row(self, link: str, direction: Direction) -> int:
        """The series of a link direction in every per-series array."""
        return 2 * self._index[link] + (direction == "ba")

    def topology_changed(self, now: float) -> None:
        """Traffic moved at ``now`` (a failure, a repair, a metric change): the step of
        ``now`` is a shift in level, not a trend to extrapolate."""
        self.shift_steps.add(self._step(now))

    def set_capacity(self, link: str, capacity_bps: float) -> None:
        k = self._index[link]
        self.capacity[2 * k : 2 * k + 2] = capacity_bps

    def as_series(self, loads: Loads) -> FloatArray:
        if isinstance(loads, Mapping):
            y = np.full(len(self.capacity), np.nan)
            for link, (ab, ba) in loads.items():
                k = self._index[link]
                y[2 * k], y[2 * k + 1] = ab, ba
            return y
        y = np.asarray(loads, dtype=np.float64).reshape(-1)
        if y.shape != self.capacity.shape:
            raise ValueError(f"loads of shape {np.shape(loads)} for {len(self.links)} links")
        return y

    def _step(self, now: float) -> int:
        return math.floor(now / self.params.step_s)

    def _open_mean(self) -> FloatArray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / self.counts, np.nan)

    def _close_until(self, step: int) -> None:
        self._commit(self.open_step, self._open_mean())
        first_missing = self.open_step + 1
        skip = max(0, step - first_missing - int(self.calibrator.horizons[-1]))
        if skip:
            self.model.advance(first_missing + skip - 1, skip)
        nothing = np.full(len(self.capacity), np.nan)
        for missing in range(first_missing + skip, step):
            self._commit(missing, nothing)
        self.open_step = step
        self.sums[:] = 0.0
        self.counts[:] = 0.0

    def _commit(self, step: int, y: FloatArray) -> None:
        self.calibrator.score(step, y)
        self.model.observe(step, y, shift=step in self.shift_steps)
        self.shift_steps = {s for s in self.shift_steps if s > step}
        self.calibrator.remember(step, self.model)

    # --- forecasts --------------------------------------------------------------------

    @property
    def ready(self) -> npt.NDArray[np.bool_]:
        """Series past their first season: forecasts and spikes are meaningful."""
        return self.model.ready

    def forecast(self, now: float, horizon_s: float) -> Forecast:
        """Mean and upper band per directed link for each step after ``now``'s, up to
        ``horizon_s`` ahead."""
        steps = max(1, math.ceil(horizon_s / self.params.step_s))
        n = len(self.capacity)
        if self.open_step < 0:
            empty = np.full((n, steps), np.nan)
            return Forecast(np.zeros(steps), empty, empty.copy())
        base = max(self._step(now), self.open_step)
        target = base + np.arange(1, steps + 1, dtype=np.int64)
        return self._forecast_from(self._provisional(), target)

    def _provisional(self) -> Provisional:
        return self.model.provisional(self.open_step, self._open_mean(),
                                      shift=self.open_step in self.shift_steps)

    def _forecast_from(self, state: Provisional, target: IntArray) -> Forecast:
        ahead = target - self.open_step
        mean, dev = self.model.forecast(self.open_step, ahead, state)
        upper = mean + self.calibrator.multiplier(ahead)[None, :] * dev
        return Forecast(target.astype(np.float64) * self.params.step_s, mean, upper)

    # --- spikes -----------------------------------------------------------------------

    def spikes(self, now: float, horizon_s: float, threshold_util: float) -> list[PredictedSpike]:
        """Spikes newly predicted at ``now``: the upper band over ``threshold_util`` of
        capacity within ``horizon_s``, at most one per link direction and episode."""
        fc = self.forecast(now, horizon_s)
        threshold = threshold_util * self.capacity
        over = fc.upper > threshold[:, None]
        crossing = over.any(axis=1) & self.ready
        active = crossing | (self.latest > threshold)
        new = crossing & ~self.alerted
        self._gate(now, active, new)
        return [self._spike(int(r), fc, over[r], threshold[r], now) for r in np.flatnonzero(new)]

    def _gate(self, now: float, active: npt.NDArray[np.bool_],
              new: npt.NDArray[np.bool_]) -> None:
        self.alerted |= new
        self.quiet_since = np.where(active, np.nan, self.quiet_since)
        starts_quiet = self.alerted & ~active & np.isnan(self.quiet_since)
        self.quiet_since = np.where(starts_quiet, now, self.quiet_since)
        rearm = self.alerted & (now - self.quiet_since >= self.params.rearm_s)
        self.alerted &= ~rearm
        self.quiet_since = np.where(rearm, np.nan, self.quiet_since)

    def _spike(self, row: int, fc: Forecast, over: npt.NDArray[np.bool_], threshold: float,
               now: float) -> PredictedSpike:
        peak = int(np.argmax(fc.upper[row]))
        upper = float(fc.upper[row, peak])
        return PredictedSpike(
            link=self.links[row // 2], direction="ab" if row % 2 == 0 else "ba",
            onset=float(fc.times[int(np.argmax(over))]), peak_at=float(fc.times[peak]),
            upper_bps=upper, mean_bps=float(fc.mean[row, peak]), threshold_bps=float(threshold),
            utilization=upper / float(self.capacity[row]), made_at=now,
        )

    # --- snapshots --------------------------------------------------------------------

    def snapshot(self) -> ForecasterState:
        return ForecasterState(
            params=self.params, links=list(self.links), open_step=self.open_step,
            shift_steps=sorted(self.shift_steps), late=self.late,
            arrays={name: pack(getattr(self, name)) for name in _ARRAYS},
            model=self.model.snapshot(), calibrator=self.calibrator.snapshot(),
        )

    @classmethod
    def restore(cls, state: ForecasterState) -> Forecaster:
        forecaster = cls(state.links, np.zeros(len(state.links)), state.params)
        forecaster.open_step, forecaster.late = state.open_step, state.late
        forecaster.shift_steps = set(state.shift_steps)
        for name in _ARRAYS:
            setattr(forecaster, name, unpack(state.arrays[name]))
        forecaster.model = SeasonalModel.restore(state.model)
        forecaster.calibrator = BandCalibrator.restore(state.calibrator)
        return forecaster
