"""``shadowctl forecast``'s table, pure: per directed link, three levels of load.

- *historical*: the load observed now, and the highest sample over the recent window;
- *normal*: the forecast at the next peak within the horizon (the step where the upper
  band is highest): its mean and its calibrated upper band;
- *extreme-case*: the link's worst-case load now (over single link, router and SRLG
  failures) x the demand factor that takes its load now to that upper band
  (``shadowd.predict.extreme``: loads are linear in the demands), and the failure.

Rows are ordered by extreme-case utilisation, highest first.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from shadowd.core.events import Direction
from shadowd.core.state import State
from shadowd.predict.extreme import WorstCases, demand_factor
from shadowd.predict.feed import LinkForecasts

DIRECTIONS: tuple[Direction, Direction] = ("ab", "ba")


class ForecastRow(msgspec.Struct, frozen=True, kw_only=True):
    link: str
    direction: Direction
    src: str
    dst: str
    capacity_bps: float
    observed_bps: float | None  # the newest sample (None: none yet)
    recent_max_bps: float | None  # the highest sample over the recent window
    peak_ts: float | None  # the next peak within the horizon (None: not forecast yet)
    normal_bps: float | None  # the mean forecast at that peak
    upper_bps: float | None  # the upper band there
    ready: bool  # the forecaster has seen a season of this link
    factor: float  # demand factor to reach the upper band (1: no forecast)
    wc_load_bps: float  # the worst-case load now
    wc_failure: str
    extreme_bps: float  # wc_load_bps x factor
    extreme_util: float


def forecast_rows(state: State, feed: LinkForecasts, wc: WorstCases | None, *,
                  horizon_s: float, max_factor: float, link: str | None = None,
                  top: int = 10) -> list[ForecastRow]:
    links = [link] if link is not None else sorted(state.links)
    fc = feed.forecast(horizon_s)
    f = feed.forecaster
    recent = feed.recent.values() if feed.recent is not None else None
    rows = []
    for name in links:
        lk = state.links[name]
        for direction in DIRECTIONS:
            src, dst = (lk.a, lk.b) if direction == "ab" else (lk.b, lk.a)
            row = f.row(name, direction) if f is not None and f.knows(name) else None
            observed = _num(feed.latest(name, direction))
            peak_ts = normal = upper = None
            if fc is not None and row is not None and not np.isnan(fc.upper[row]).all():
                at = int(np.nanargmax(fc.upper[row]))
                peak_ts, normal, upper = (float(fc.times[at]), _num(float(fc.mean[row, at])),
                                          _num(float(fc.upper[row, at])))
            factor = demand_factor(upper, observed or 0.0, max_factor) if upper else 1.0
            _, wc_load, failure = (wc.of(name, direction) if wc is not None
                                   and name in wc.net.link_index else (0.0, 0.0, "-"))
            rows.append(ForecastRow(
                link=name, direction=direction, src=src, dst=dst, capacity_bps=lk.capacity_bps,
                observed_bps=observed,
                recent_max_bps=_num(float(recent[row])) if recent is not None
                and row is not None else None,
                peak_ts=peak_ts, normal_bps=normal, upper_bps=upper,
                ready=bool(f is not None and row is not None and f.ready[row]),
                factor=factor, wc_load_bps=wc_load, wc_failure=failure,
                extreme_bps=wc_load * factor, extreme_util=wc_load * factor / lk.capacity_bps))
    rows.sort(key=lambda r: (-r.extreme_util, r.link, r.direction))
    return rows[:top]


def _num(value: float) -> float | None:
    return None if math.isnan(value) else value
