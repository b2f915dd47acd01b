"""Additive Holt-Winters with a damped trend and Brutlag deviations, for many series at once.

Every array has one row per series; one call to ``observe`` commits one step of the grid
for all of them (rows without an observation advance on their trend), so the work per
step is a handful of vector operations whatever the number of series.

- level ``L``, damped trend ``T`` (damping ``phi``), seasonal index ``S`` per slot of the
  season (``slots`` per season), and a Brutlag deviation ``D``: a smoothed absolute
  one-step error per *deviation slot* (``dev_slots`` per season, coarser than ``slots`` so
  each is updated several times a day and learns in days, not weeks).
- Warm-up: a series' first ``warmup_seasons`` seasons fill its seasonal indices with the
  per-slot minimum of the raw observations (so a surge on one of those days does not
  become part of the profile); at the end the level is their mean, the indices their
  offsets, the trend zero and the deviation the mean absolute step-to-step change seen.
  Until then the series is not ``ready`` and forecasts are naive (the last value).
- Shifts: a step marked ``shift`` (the topology changed, traffic moved at once) goes
  wholly into the level and teaches neither the trend, the season nor the deviation, so
  a reroute is not extrapolated as if it were a ramp.
- Trend gain: ``alpha * beta * TS**2``, with ``TS`` Trigg and Leach's tracking signal,
  |smoothed error| / smoothed |error| (smoothing ``tracking``): near 1 when the errors
  keep one sign (a ramp: the trend follows it within a few steps), small when they
  alternate (noise: the trend stays quiet, so forecasts hours ahead are not thrown off).
- Outliers: the seasonal index and the deviation take the one-step error clipped to
  ``clip`` deviations, so a surge moves the level and trend (that is how it is seen
  coming) but barely teaches tomorrow's profile that it is normal.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec
import numpy as np
import numpy.typing as npt

from shadowd.predict.packed import Packed, pack, unpack

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Provisional: TypeAlias = tuple[FloatArray, FloatArray, FloatArray]  # level, trend, last value


class HoltWintersParams(msgspec.Struct, frozen=True, kw_only=True):
    alpha: float = 0.8  # level
    beta: float = 0.9  # trend, at full tracking signal
    phi: float = 0.9  # trend damping per step
    gamma: float = 0.2  # seasonal index, of the error the level leaves (ETS gamma/(1-alpha))
    delta: float = 0.05  # deviation
    clip: float = 4.0  # deviations; bounds what one step teaches the season and deviation
    warmup_seasons: int = 2  # the first profile is the per-slot minimum over these
    tracking: float = 0.3  # smoothing of the tracking signal; 0: the trend gain is beta


class ModelState(msgspec.Struct, frozen=True, kw_only=True):
    slots: int
    dev_slots: int
    params: HoltWintersParams
    arrays: dict[str, Packed]


_ARRAYS = ("level", "trend", "season", "dev", "first", "last_y", "diff_sum", "diff_n",
           "filled", "ready", "err_mean", "err_abs")


class SeasonalModel:
    """The Holt-Winters state of ``n`` series over a season of ``slots`` steps."""

    def __init__(self, n: int, slots: int, dev_slots: int, params: HoltWintersParams) -> None:
        if slots % dev_slots:
            raise ValueError(f"{dev_slots} deviation slots do not divide {slots} slots")
        self.n, self.slots, self.dev_slots, self.params = n, slots, dev_slots, params
        self.level = np.zeros(n)
        self.trend = np.zeros(n)
        self.season = np.zeros((n, slots))
        self.dev = np.zeros((n, dev_slots))
        self.first = np.full(n, -1, dtype=np.int64)  # first step observed
        self.last_y = np.full(n, np.nan)
        self.diff_sum = np.zeros(n)
        self.diff_n = np.zeros(n)
        self.filled = np.zeros((n, slots), dtype=np.bool_)
        self.ready = np.zeros(n, dtype=np.bool_)
        self.err_mean = np.zeros(n)  # smoothed one-step error, for the tracking signal
        self.err_abs = np.zeros(n)  # smoothed absolute one-step error

    # --- one step ---------------------------------------------------------------------

    def observe(self, step: int, y: FloatArray, shift: bool = False) -> None:
        """Commit ``step``: ``y`` has one value per series, NaN where nothing was seen."""
        seen = ~np.isnan(y)
        self._warm(step, y, seen & ~self.ready)
        self._smooth(step, y, seen & self.ready, shift)
        self.last_y = np.where(seen, y, self.last_y)
        self._finish_warm_up(step)

    def _smooth(self, step: int, y: FloatArray, obs: BoolArray, shift: bool) -> None:
        p = self.params
        slot, dslot = self._slots(step)
        err = self._error(step, y)
        self.level, self.trend = self._level_trend(err, shift)
        if shift:
            return
        t = p.tracking
        self.err_mean = np.where(obs, self.err_mean + t * (err - self.err_mean), self.err_mean)
        self.err_abs = np.where(obs, self.err_abs + t * (np.abs(err) - self.err_abs),
                                self.err_abs)
        limit = p.clip * self.dev[:, dslot]
        bounded = np.clip(err, -limit, limit)
        self.season[:, slot] += p.gamma * (1.0 - p.alpha) * bounded
        self.dev[:, dslot] += np.where(obs, p.delta * (np.abs(bounded) - self.dev[:, dslot]), 0.0)

    def _error(self, step: int, y: FloatArray) -> FloatArray:
        """One-step error of ready series that were seen; 0 for the others."""
        mean = self.level + self.params.phi * self.trend + self.season[:, step % self.slots]
        return np.where(~np.isnan(y) & self.ready, y - mean, 0.0)

    def _level_trend(self, err: FloatArray, shift: bool) -> tuple[FloatArray, FloatArray]:
        p = self.params
        damped = p.phi * self.trend
        alpha, beta = (1.0, 0.0) if shift else (p.alpha, p.beta * self._tracking_signal())
        level = np.where(self.ready, self.level + damped + alpha * err, self.level)
        trend = np.where(self.ready, damped + alpha * beta * err, self.trend)
        return level, trend

    def _tracking_signal(self) -> FloatArray | float:
        if self.params.tracking <= 0.0:
            return 1.0
        with np.errstate(invalid="ignore", divide="ignore"):
            signal = np.where(self.err_abs > 0.0, np.abs(self.err_mean) / self.err_abs, 0.0)
        return np.asarray(signal**2, dtype=np.float64)

    def _warm(self, step: int, y: FloatArray, obs: BoolArray) -> None:
        if not obs.any():
            return
        slot, _ = self._slots(step)
        self.first = np.where(obs & (self.first < 0), step, self.first)
        change = np.abs(y - self.last_y)
        counted = obs & ~np.isnan(change)
        self.diff_sum += np.where(counted, change, 0.0)
        self.diff_n += counted
        lowest = np.where(self.filled[:, slot], np.fmin(self.season[:, slot], y), y)
        self.season[:, slot] = np.where(obs, lowest, self.season[:, slot])
        self.filled[:, slot] |= obs
        self.level = np.where(obs, y, self.level)

    def _finish_warm_up(self, step: int) -> None:
        warm_steps = self.params.warmup_seasons * self.slots
        due = ~self.ready & (self.first >= 0) & (step - self.first + 1 >= warm_steps)
        if not due.any():
            return
        rows = np.flatnonzero(due)
        profile = _circular_fill(self.season[rows], self.filled[rows])
        level = profile.mean(axis=1)
        self.level[rows] = level
        self.trend[rows] = 0.0
        self.season[rows] = profile - level[:, None]
        mean_change = self.diff_sum[rows] / np.maximum(self.diff_n[rows], 1.0)
        floor = 1e-3 * np.abs(level) + 1e-9
        self.dev[rows] = np.maximum(mean_change, floor)[:, None]
        self.ready[rows] = True
        self.filled[rows] = False

    # --- forecasts --------------------------------------------------------------------

    def forecast(self, step: int, ahead: IntArray,
                 now: Provisional | None = None) -> tuple[FloatArray, FloatArray]:
        """Mean and deviation for steps ``step + ahead`` (ahead >= 1), shape (n, len(ahead)).

        ``step`` is the last step committed, or the one ``now`` (from ``provisional``)
        commits for the forecast only. Series not yet ready get their last value and
        their mean step-to-step change.
        """
        level, trend, last = now if now is not None else (self.level, self.trend, self.last_y)
        slots = (step + ahead) % self.slots
        dslots = slots // (self.slots // self.dev_slots)
        mean = level[:, None] + trend[:, None] * self.damping(ahead)[None, :]
        mean += self.season[:, slots]
        naive_dev = (self.diff_sum / np.maximum(self.diff_n, 1.0))[:, None]
        mean = np.where(self.ready[:, None], mean, last[:, None])
        dev = np.where(self.ready[:, None], self.dev[:, dslots], naive_dev)
        return mean, dev

    def provisional(self, step: int, y: FloatArray, shift: bool = False) -> Provisional:
        """Level, trend and last value as ``observe(step, y, shift)`` would leave them,
        without changing anything."""
        level, trend = self._level_trend(self._error(step, y), shift)
        return level, trend, np.where(np.isnan(y), self.last_y, y)

    def advance(self, step: int, steps: int) -> None:
        """Let ``steps`` steps up to ``step`` pass unobserved, in one go."""
        h = np.array([steps], dtype=np.int64)
        self.level = self.level + self.trend * self.damping(h)[0]
        self.trend = self.trend * self.params.phi**steps
        self._finish_warm_up(step)

    def damping(self, ahead: IntArray) -> FloatArray:
        """phi + phi^2 + ... + phi^h for each h in ``ahead``."""
        phi = self.params.phi
        h = ahead.astype(np.float64)
        if phi == 1.0:
            return h
        return phi * (1.0 - phi**h) / (1.0 - phi)

    def _slots(self, step: int) -> tuple[int, int]:
        slot = step % self.slots
        return slot, slot // (self.slots // self.dev_slots)

    # --- snapshots --------------------------------------------------------------------

    def snapshot(self) -> ModelState:
        return ModelState(slots=self.slots, dev_slots=self.dev_slots, params=self.params,
                          arrays={name: pack(getattr(self, name)) for name in _ARRAYS})

    @classmethod
    def restore(cls, state: ModelState) -> SeasonalModel:
        n = len(unpack(state.arrays["level"]))
        model = cls(n, state.slots, state.dev_slots, state.params)
        for name in _ARRAYS:
            setattr(model, name, unpack(state.arrays[name]))
        return model


def _circular_fill(values: FloatArray, filled: BoolArray) -> FloatArray:
    """Each unfilled slot takes the nearest filled slot before it, wrapping around."""
    slots = values.shape[1]
    index = np.where(filled, np.arange(slots), -1)
    index = np.maximum.accumulate(index, axis=1)
    last = index[:, -1:]
    index = np.where(index < 0, last, index)
    return np.take_along_axis(values, index, axis=1)
