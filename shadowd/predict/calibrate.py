"""A calibrated upper band: how many deviations above the mean hold ``coverage`` of samples.

For a few horizons (in steps), each forecast made is remembered until its target step is
observed; then the standardised error ``z = (y - mean) / deviation`` of every series
moves that horizon's multiplier ``k`` by stochastic approximation of the ``coverage``
quantile, pooled over series:

    k += eta * (share of series with z > k  -  (1 - coverage))

which stands still exactly when the share of samples above ``mean + k * deviation`` is
``1 - coverage``. ``eta`` starts large (1/sqrt(updates)) and settles at ``rate``, so the
band follows slow changes in the noise. Horizons between those calibrated are
interpolated; beyond the last, its multiplier is used.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from shadowd.predict.holtwinters import FloatArray, IntArray, SeasonalModel
from shadowd.predict.packed import Packed, pack, unpack

INITIAL_K = 2.0  # ~95% for Gaussian errors measured in mean absolute deviations


class CalibratorState(msgspec.Struct, frozen=True, kw_only=True):
    coverage: float
    rate: float
    horizons: list[int]
    k: list[float]
    updates: list[int]
    means: list[Packed]
    devs: list[Packed]
    targets: list[Packed]


class BandCalibrator:
    def __init__(self, n: int, horizons: Sequence[int], coverage: float, rate: float) -> None:
        if not horizons or sorted(set(horizons)) != list(horizons) or horizons[0] < 1:
            raise ValueError(f"calibration horizons must be increasing steps >= 1: {horizons}")
        self.coverage, self.rate = coverage, rate
        self.horizons = np.array(horizons, dtype=np.int64)
        self.k = np.full(len(horizons), INITIAL_K)
        self.updates = [0] * len(horizons)
        self.means = [np.full((n, h), np.nan) for h in horizons]
        self.devs = [np.full((n, h), np.nan) for h in horizons]
        self.targets = [np.full(h, -1, dtype=np.int64) for h in horizons]

    def multiplier(self, ahead: IntArray) -> FloatArray:
        k = np.interp(ahead.astype(np.float64), self.horizons.astype(np.float64), self.k)
        return np.asarray(k, dtype=np.float64)

    def score(self, step: int, y: FloatArray) -> None:
        """Compare the forecasts made for ``step`` with what was seen (NaN: not seen)."""
        for j, h in enumerate(self.horizons.tolist()):
            i = step % h
            if self.targets[j][i] != step:
                continue
            mean, dev = self.means[j][:, i], self.devs[j][:, i]
            valid = ~np.isnan(y) & ~np.isnan(mean) & (dev > 0)
            if not valid.any():
                continue
            z = (y[valid] - mean[valid]) / dev[valid]
            above = float(np.mean(z > self.k[j]))
            self.updates[j] += 1
            eta = max(self.rate, self.updates[j] ** -0.5)
            self.k[j] += eta * (above - (1.0 - self.coverage))

    def remember(self, step: int, model: SeasonalModel) -> None:
        """Keep the forecasts made after ``step`` for ``step + h``, for each horizon."""
        mean, dev = model.forecast(step, self.horizons)
        mean = np.where(model.ready[:, None], mean, np.nan)
        for j, h in enumerate(self.horizons.tolist()):
            i = step % h  # == (step + h) % h
            self.means[j][:, i] = mean[:, j]
            self.devs[j][:, i] = dev[:, j]
            self.targets[j][i] = step + h

    def snapshot(self) -> CalibratorState:
        return CalibratorState(
            coverage=self.coverage, rate=self.rate, horizons=self.horizons.tolist(),
            k=self.k.tolist(), updates=list(self.updates),
            means=[pack(a) for a in self.means], devs=[pack(a) for a in self.devs],
            targets=[pack(a) for a in self.targets],
        )

    @classmethod
    def restore(cls, state: CalibratorState) -> BandCalibrator:
        n = unpack(state.means[0]).shape[0]
        calibrator = cls(n, state.horizons, state.coverage, state.rate)
        calibrator.k = np.array(state.k)
        calibrator.updates = list(state.updates)
        calibrator.means = [unpack(a) for a in state.means]
        calibrator.devs = [unpack(a) for a in state.devs]
        calibrator.targets = [unpack(a) for a in state.targets]
        return calibrator
