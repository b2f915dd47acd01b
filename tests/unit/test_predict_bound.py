"""The ramp oracle: the best recall against false alarms any forecaster could reach."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shadowd.predict.bound import Bound, Point, ramp_oracle
from shadowd.traffic.trace import Footprint, Surge

HOUR = 3600.0
RAMPS = (1800.0, 5400.0)


def surge(start_h: float, top: float, ramp_s: float) -> Surge:
    return Surge(dst="x", start=start_h * HOUR, ramp_s=ramp_s, hold_s=1800.0, decay_s=1800.0,
                 gain=1.0, peak_util=top)


def oracle(plan: list[Surge]) -> Bound:
    """One link direction with no load of its own: each surge's top is its utilisation."""
    fp = Footprint(series=[("l", "ab")], base=[0.0], reach=[[s.peak_util] for s in plan])
    times = np.arange(1, 24 * 12 * 3 + 1, dtype=np.float64) * 300.0
    return ramp_oracle(fp, plan, RAMPS, times=times, threshold=0.8, lead_s=900.0)


def test_worked_by_hand() -> None:
    plan = [
        # to 1.0 over an hour: the continued ramp crosses at 3000 s, decided at 2100 s,
        # when it lasts to 3000 s with chance (5400 - 3000) / (5400 - 2100); it does
        surge(0, 1.0, 3600.0),
        # to 0.7 over 40 min: the same slope until it stops at 2400 s, after the oracle
        # decided (2100 s) with the same chance: a false alarm if it alarms
        surge(6, 0.7, 2400.0),
        # to 1.2 over 30 min: crosses at 1500 s, decided at 600 s, and every ramp lasts
        # at least 30 min: certain
        surge(12, 1.2, 1800.0),
        # to 0.5: even the longest ramp stays under; never a question
        surge(18, 0.5, 3600.0),
        # to 3.0 over 30 min: crosses 600 s after it starts, too soon to warn 15 min ahead
        surge(24, 3.0, 1800.0),
        # to 0.6 over 30 min: its continued ramp would cross at 2700 s, but it has stopped
        # when the oracle decides (1800 s): known not to cross
        surge(30, 0.6, 1800.0),
    ]
    bound = oracle(plan)
    assert (bound.pairs, bound.crossing, bound.foreseen, bound.too_soon) == (6, 3, 0, 1)
    chance = 2400.0 / 3300.0
    assert bound.curve == [Point(math.inf, 0.0, 0.0), Point(1.0, 1 / 3, 0.0),
                           Point(pytest.approx(chance), 2 / 3, 1 / 3)]  # type: ignore[arg-type]
    assert bound.best_false_alarm_rate(0.6) == pytest.approx(1 / 3)
    assert bound.best_false_alarm_rate(0.9) is None  # the too-soon one is never caught
    assert bound.best_recall(0.05) == pytest.approx(1 / 3)


@pytest.mark.parametrize("top", [0.2, 0.05])
def test_a_crossing_after_the_ramp_stopped_is_foreseen(top: float) -> None:
    """Diurnal load rising under a surge held all day: once its ramp has stopped nothing
    is left to guess, so the oracle is given the crossing. The larger surge's continued
    ramp would cross early (decided when the ramp had stopped); the smaller one's would
    not cross before the longest ramp ends."""
    held = Surge(dst="x", start=6 * HOUR, ramp_s=1800.0, hold_s=12 * HOUR, decay_s=1800.0,
                 gain=1.0, peak_util=0.0)
    fp = Footprint(series=[("l", "ab")], base=[0.4], reach=[[top]])
    times = np.arange(1, 24 * 12 + 1, dtype=np.float64) * 300.0
    bound = ramp_oracle(fp, [held], RAMPS, times=times, threshold=0.35 + top / 2,
                        lead_s=900.0)
    assert (bound.crossing, bound.foreseen) == (1, 1)
    assert bound.curve == [Point(math.inf, 1.0, 0.0)]
