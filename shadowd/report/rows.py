"""The report's rows from the shadow's state, its worst cases and the forecaster's
history: pure (they in, rows out). ``shadowd.services.report.collect`` gathers the inputs
from the daemon's parts."""

from __future__ import annotations

from typing import Final

import numpy as np

from shadowd.core.events import Direction
from shadowd.core.state import State
from shadowd.predict.extreme import SWEPT, WorstCases
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.history import HistoryPoint
from shadowd.report.data import ForecastPoint, ForecastSeries, ReportLink, ReportRouter

DIRECTIONS: Final[tuple[Direction, Direction]] = ("ab", "ba")
FAILURES: Final = {"links": "single links", "nodes": "single routers", "srlg": "SRLGs"}


def failure_set() -> str:
    """The failure sets the worst case is taken over, in words."""
    return ", ".join(FAILURES[k] for k in SWEPT)


def routers(state: State) -> list[ReportRouter]:
    return [ReportRouter(name=r.name, up=r.up, pos=r.pos)
            for r in (state.routers[k] for k in sorted(state.routers))]


def link_rows(state: State, wc: WorstCases | None) -> list[ReportLink]:
    """Every link direction: load now and worst case (0 and "-" where ``wc`` does not know
    the link), highest WC util first."""
    rows = []
    for name in sorted(state.links):
        lk = state.links[name]
        cap = lk.capacity_bps
        for d in DIRECTIONS:
            src, dst = (lk.a, lk.b) if d == "ab" else (lk.b, lk.a)
            known = wc is not None and name in wc.net.link_index
            load, wc_load, failure = wc.of(name, d) if wc is not None and known else (
                0.0, 0.0, "-")
            rows.append(ReportLink(
                link=name, direction=d, src=src, dst=dst, up=lk.up, capacity_bps=cap,
                load_bps=load, util=load / cap if cap > 0 else 0.0, wc_load_bps=wc_load,
                wc_util=wc_load / cap if cap > 0 else 0.0, wc_failure=failure))
    rows.sort(key=lambda r: (-r.wc_util, r.link, r.direction))
    return rows


def forecast_series(state: State, feed: LinkForecasts, *, horizon_s: float,
                    top: int) -> list[ForecastSeries]:
    """The ``top`` link directions by their highest level, observed or forecast, relative
    to capacity: their recorded history and the forecast from now to ``horizon_s``."""
    f = feed.forecaster
    if f is None or top <= 0:
        return []
    fc = feed.forecast(horizon_s)
    ready = f.ready
    hist = feed.history
    levels = [np.fmax.reduce(fc.upper, axis=1) if fc is not None and fc.upper.size
              else np.full(len(f.capacity), np.nan)]
    if hist is not None:
        levels += [np.fmax.reduce(hist.observed, axis=0), np.fmax.reduce(hist.upper, axis=0)]
    level = np.fmax.reduce(np.stack([x.astype(np.float64) for x in levels]), axis=0)
    score = np.where(np.isnan(level), -1.0, level / np.maximum(f.capacity, 1e-9))
    out: list[ForecastSeries] = []
    for row in np.argsort(-score, kind="stable").tolist():
        link, direction = f.links[row // 2], DIRECTIONS[row % 2]
        if len(out) == top or score[row] < 0:
            break
        if link not in state.links:
            continue
        lk = state.links[link]
        src, dst = (lk.a, lk.b) if direction == "ab" else (lk.b, lk.a)
        ahead = ([ForecastPoint(ts=float(t), mean_bps=_num(float(fc.mean[row, k])),
                                upper_bps=_num(float(fc.upper[row, k])))
                  for k, t in enumerate(fc.times.tolist())]
                 if fc is not None and bool(ready[row]) else [])
        out.append(ForecastSeries(
            link=link, direction=direction, src=src, dst=dst, capacity_bps=lk.capacity_bps,
            ready=bool(ready[row]), ahead=ahead,
            history=[_point(p) for p in hist.series(row)] if hist is not None else []))
    return out


def _point(p: HistoryPoint) -> ForecastPoint:
    return ForecastPoint(ts=p.ts, observed_bps=p.observed, mean_bps=p.mean, upper_bps=p.upper)


def _num(value: float) -> float | None:
    return None if np.isnan(value) else value
