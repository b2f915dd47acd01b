"""The online forecaster: seasonality, a calibrated band, spikes seen coming, snapshots."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from shadowd.predict.forecast import Forecaster, ForecasterState, ForecastParams, PredictedSpike

DAY = 86_400.0
STEP = 300.0
CAPACITY = 10e9


def shape(ts: float) -> float:
    """A weekday-like curve: 0.35 of the peak at 04:30, 1.0 at 16:30."""
    hour = (ts % DAY) / 3600.0
    return 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.5) / 24.0))


class Traffic:
    """Directed loads of ``links`` links: a diurnal curve times slow log-normal noise."""

    def __init__(self, links: int, noise: float = 0.04, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.peak = self.rng.uniform(1e9, 4e9, 2 * links)
        self.noise, self.sigma = np.zeros(2 * links), noise

    def at(self, ts: float) -> np.ndarray:
        self.noise = 0.8 * self.noise + self.rng.normal(0.0, self.sigma, len(self.noise))
        return np.asarray(self.peak * shape(ts) * np.exp(self.noise))


def names(links: int) -> list[str]:
    return [f"l{k}" for k in range(links)]


def warmed(links: int = 4, days: float = 3.0,
           noise: float = 0.04) -> tuple[Forecaster, Traffic, float]:
    """A forecaster fed ``days`` of traffic, the traffic, and the next sample time."""
    f = Forecaster(names(links), np.full(links, CAPACITY))
    traffic = Traffic(links, noise)
    ts = 0.0
    for k in range(int(days * DAY / STEP)):
        ts = k * STEP
        f.update(ts, traffic.at(ts))
    return f, traffic, ts + STEP


def test_learns_the_daily_pattern() -> None:
    f, traffic, now = warmed(days=4, noise=0.01)
    assert f.ready.all()
    fc = f.forecast(now, 12 * 3600)  # through the night's trough and the morning's rise
    truth = traffic.peak[:, None] * np.array([shape(t) for t in fc.times])[None, :]
    assert np.median(np.abs(fc.mean - truth) / truth) < 0.05
    assert fc.times[0] == now + STEP
    assert len(fc.times) == 144
    assert (fc.upper > fc.mean).all()


def test_not_ready_during_warm_up_and_no_spikes() -> None:
    f, _, now = warmed(days=1.5)
    assert not f.ready.any()
    fc = f.forecast(now, 1800)
    assert np.isfinite(fc.mean).all()  # naive: the last value
    assert f.spikes(now, 1800, threshold_util=0.0) == []


@pytest.mark.parametrize("horizon_steps", [1, 3, 12])
def test_upper_band_coverage_converges_to_nominal(horizon_steps: int) -> None:
    links = 40
    f = Forecaster(names(links), np.full(links, CAPACITY))
    traffic = Traffic(links, noise=0.05, seed=3)
    made: dict[int, np.ndarray] = {}
    under = total = 0
    for k in range(int(8 * DAY / STEP)):
        ts = k * STEP
        y = traffic.at(ts)
        if k in made and ts >= 4 * DAY:
            upper = made.pop(k)
            under += int((y <= upper).sum())
            total += len(y)
        f.update(ts, y)
        made[k + horizon_steps] = f.forecast(ts, horizon_steps * STEP).upper[:, -1]
    assert total > 0
    assert under / total == pytest.approx(0.95, abs=0.02)


def test_other_nominal_coverage() -> None:
    links = 40
    f = Forecaster(names(links), np.full(links, CAPACITY), ForecastParams(coverage=0.8))
    traffic = Traffic(links, seed=4)
    under = total = 0
    upper = None
    for k in range(int(7 * DAY / STEP)):
        ts = k * STEP
        y = traffic.at(ts)
        if upper is not None and ts >= 4 * DAY:
            under += int((y <= upper).sum())
            total += len(y)
        f.update(ts, y)
        upper = f.forecast(ts, STEP).upper[:, 0]
    assert under / total == pytest.approx(0.80, abs=0.03)


def ramp(ts: float, start: float, minutes: float, top: float) -> float:
    """Extra utilisation: 0 before ``start``, rising linearly to ``top`` over ``minutes``."""
    return min(max((ts - start) / (minutes * 60.0), 0.0), 1.0) * top


def run_surges(surges: list[tuple[float, float, float]], hold_s: float = 3600.0,
               threshold: float = 0.8) -> tuple[list[PredictedSpike], list[float]]:
    """Surges (start, ramp minutes, extra utilisation) on link l0 a->b after a warm-up.

    Returns the spikes predicted and the first time of each surge over the threshold."""
    f, traffic, ts = warmed(days=3)
    spikes: list[PredictedSpike] = []
    crossed: list[float] = []
    end = max(s + m * 60 + hold_s for s, m, _ in surges) + 3 * 3600
    while ts < end:
        y = traffic.at(ts)
        extra = sum(ramp(ts, s, m, top) - ramp(ts, s + m * 60 + hold_s, m, top)
                    for s, m, top in surges)
        y[0] += extra * CAPACITY
        if y[0] > threshold * CAPACITY and (not crossed or ts - crossed[-1] > hold_s + 3600):
            crossed.append(ts)
        f.update(ts, y)
        spikes += f.spikes(ts, 1800, threshold)
        ts += STEP
    return spikes, crossed


def test_a_ramping_surge_is_predicted_ahead_once() -> None:
    start = 3 * DAY + 4 * 3600  # at night: the link carries ~0.1 of its capacity
    spikes, crossed = run_surges([(start, 60, 1.0)])
    assert len(crossed) == 1
    assert [(s.link, s.direction) for s in spikes] == [("l0", "ab")]  # once, and nowhere else
    spike = spikes[0]
    assert crossed[0] - spike.made_at >= 900  # seen coming at least 15 minutes ahead
    assert spike.made_at >= start  # not before it began
    assert spike.made_at < spike.onset <= spike.peak_at <= spike.made_at + 1800
    assert spike.upper_bps > spike.threshold_bps == pytest.approx(0.8 * CAPACITY)
    assert spike.utilization == pytest.approx(spike.upper_bps / CAPACITY)


def test_a_second_surge_after_quiet_is_a_second_spike() -> None:
    first = 3 * DAY + 2 * 3600
    second = first + 6 * 3600
    spikes, crossed = run_surges([(first, 60, 1.0), (second, 60, 1.0)])
    assert len(crossed) == 2
    assert len(spikes) == 2
    for spike, over in zip(spikes, crossed, strict=True):
        assert 0 < over - spike.made_at <= 1800


def test_a_topology_change_is_a_level_shift_not_a_trend() -> None:
    f, traffic, ts = warmed(days=3)
    for _ in range(3):
        f.update(ts, traffic.at(ts))
        ts += STEP
    y = traffic.at(ts)
    y[0] += 0.5 * CAPACITY  # a reroute lands on l0 a->b at once
    f.topology_changed(ts)
    f.update(ts, y)
    assert f.spikes(ts, 1800, 0.8) == []
    _, trend, _ = f._provisional()
    assert abs(trend[0]) < 0.01 * CAPACITY


def test_partial_and_irregular_samples() -> None:
    f = Forecaster(["a", "b"], [CAPACITY, CAPACITY])
    f.update(10.0, {"a": (1.0, 2.0)})
    f.update(11.0, {})
    f.update(12.0, {"b": (math.nan, math.nan)})  # nothing either
    f.update(200.0, {"a": (3.0, 4.0), "b": (5.0, 6.0)})  # same 5-minute step: averaged
    assert f.counts.tolist() == [2, 2, 1, 1]
    assert f.sums.tolist() == [4.0, 6.0, 5.0, 6.0]
    f.update(920.0, np.array([[7.0, 8.0], [np.nan, np.nan]]))  # a later step; b not seen
    assert f.open_step == 3
    assert f.model.last_y.tolist() == [2.0, 3.0, 5.0, 6.0]  # step 0 committed, 1-2 empty
    f.update(100.0, {"b": (1.0, 1.0)})  # its step is committed already: dropped
    assert f.late == 2
    fc = f.forecast(950.0, 600)
    assert fc.mean[:, 0].tolist() == [7.0, 8.0, 5.0, 6.0]  # naive while warming up
    f.update(30 * DAY, {"a": (1.0, 1.0)})  # a long outage: skipped in one go
    assert f.open_step == int(30 * DAY // STEP)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="links"):
        Forecaster(["a"], [1.0, 2.0])
    f = Forecaster(["a"], [1.0])
    with pytest.raises(ValueError, match="shape"):
        f.update(0.0, np.zeros(3))
    with pytest.raises(KeyError):
        f.update(0.0, {"zz": (1.0, 1.0)})
    with pytest.raises(ValueError, match="divide"):
        ForecastParams(step_s=7)


def test_snapshot_round_trip_continues_identically() -> None:
    f, traffic, ts = warmed(days=2.5)
    blob = msgspec.msgpack.encode(f.snapshot())
    g = Forecaster.restore(msgspec.msgpack.decode(blob, type=ForecasterState))
    for _ in range(int(DAY / STEP)):
        y = traffic.at(ts)
        f.update(ts, y)
        g.update(ts, y)
        assert f.spikes(ts, 1800, 0.3) == g.spikes(ts, 1800, 0.3)
        ts += STEP
    a, b = f.forecast(ts, 3600), g.forecast(ts, 3600)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.upper, b.upper)
    assert msgspec.msgpack.encode(f.snapshot()) == msgspec.msgpack.encode(g.snapshot())
