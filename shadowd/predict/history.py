"""A bounded history of forecast against actual, per directed link, for plots.

Pure: the forecaster and the samples' own times in, arrays out. ``ForecastHistory`` keeps
the last ``slots`` steps of the forecaster's grid (a day of 5-minute steps by default), and
for each step and series:

- *observed*: the mean of the step's samples, as the forecaster committed it (NaN: none);
- *mean* / *upper*: what the forecaster predicted for that step one step earlier, with
  every sample of the step before (NaN while the series is not ready: no season yet).

``before(forecaster, ts)`` is called before each ``Forecaster.update(ts, ...)``: when ``ts``
opens a new step, the open step is final, so it is recorded with the prediction made for
it, and the prediction for the next step is taken. Values are float32: a thousand-link
network's day costs 14 MB.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from shadowd.predict.forecast import Forecaster
from shadowd.predict.packed import Packed, pack, unpack

SLOTS: Final = 288  # a day of 5-minute steps

Float32Array = npt.NDArray[np.float32]


class HistoryPoint(NamedTuple):
    ts: float  # the step's start
    observed: float | None
    mean: float | None
    upper: float | None


class HistoryState(msgspec.Struct, frozen=True, kw_only=True):
    slots: int
    written: int
    next_step: int
    arrays: dict[str, Packed]  # ts, observed, mean, upper, next_mean, next_upper


class ForecastHistory:
    def __init__(self, series: int, slots: int = SLOTS) -> None:
        self.slots = slots
        self.ts = np.full(slots, np.nan)
        self.observed: Float32Array = np.full((slots, series), np.nan, dtype=np.float32)
        self.mean: Float32Array = np.full((slots, series), np.nan, dtype=np.float32)
        self.upper: Float32Array = np.full((slots, series), np.nan, dtype=np.float32)
        self.written = 0  # steps recorded so far (the ring's next slot is written % slots)
        self._next_step = -1  # the step ``_next_mean``/``_next_upper`` predict
        self._next_mean: Float32Array = np.full(series, np.nan, dtype=np.float32)
        self._next_upper: Float32Array = np.full(series, np.nan, dtype=np.float32)

    def before(self, f: Forecaster, ts: float) -> None:
        """``f`` is about to take samples at ``ts``: record its open step if ``ts`` ends it."""
        step_s = f.params.step_s
        if f.open_step < 0 or math.floor(ts / step_s) <= f.open_step:
            return
        closing = f.open_step
        with np.errstate(invalid="ignore", divide="ignore"):
            observed = np.where(f.counts > 0, f.sums / f.counts, np.nan)
        known = self._next_step == closing
        self._write(closing * step_s, observed, self._next_mean if known else None,
                    self._next_upper if known else None)
        fc = f.forecast(closing * step_s, step_s)  # the step after ``closing``
        ready = f.ready
        self._next_step = closing + 1
        self._next_mean = np.where(ready, fc.mean[:, 0], np.nan).astype(np.float32)
        self._next_upper = np.where(ready, fc.upper[:, 0], np.nan).astype(np.float32)

    def _write(self, ts: float, observed: npt.ArrayLike, mean: Float32Array | None,
               upper: Float32Array | None) -> None:
        slot = self.written % self.slots
        self.ts[slot] = ts
        self.observed[slot] = observed
        self.mean[slot] = np.nan if mean is None else mean
        self.upper[slot] = np.nan if upper is None else upper
        self.written += 1

    def snapshot(self) -> HistoryState:
        arrays = {"ts": self.ts, "observed": self.observed, "mean": self.mean,
                  "upper": self.upper, "next_mean": self._next_mean,
                  "next_upper": self._next_upper}
        return HistoryState(slots=self.slots, written=self.written, next_step=self._next_step,
                            arrays={name: pack(a) for name, a in arrays.items()})

    @classmethod
    def restore(cls, state: HistoryState) -> ForecastHistory:
        a = {name: unpack(packed) for name, packed in state.arrays.items()}
        history = cls(a["observed"].shape[1], state.slots)
        history.ts, history.observed, history.mean, history.upper = (
            a["ts"], a["observed"], a["mean"], a["upper"])
        history.written, history._next_step = state.written, state.next_step
        history._next_mean, history._next_upper = a["next_mean"], a["next_upper"]
        return history

    def series(self, row: int) -> list[HistoryPoint]:
        """One series' recorded steps, oldest first."""
        count = min(self.written, self.slots)
        first = self.written - count
        return [self._point(k % self.slots, row) for k in range(first, self.written)]

    def _point(self, slot: int, row: int) -> HistoryPoint:
        return HistoryPoint(float(self.ts[slot]), _num(self.observed[slot, row]),
                            _num(self.mean[slot, row]), _num(self.upper[slot, row]))


def _num(value: np.float32) -> float | None:
    x = float(value)
    return None if math.isnan(x) else x
