"""The report's pictures as inline SVG: the network map, its legend, and forecast charts.

Pure: ``ReportData`` parts in, one ``<svg>`` element out (well-formed XML, no namespace
declaration needed inline in HTML, no external references). Every link direction is
drawn as the half of its link nearest its source, coloured by its utilisation, so a map
shows both directions of every link; hover titles carry the numbers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal, NamedTuple

from shadowd.report.data import ForecastPoint, ForecastSeries, ReportLink, ReportRouter
from shadowd.report.fmt import bps, clock, esc, pct
from shadowd.report.layout import Point, place

MAP_W: Final = 960.0
MAP_H: Final = 600.0
MAP_MARGIN: Final = 40.0
MAX_LABELS: Final = 120  # more routers than this: names in the hover titles only
PARALLEL_GAP: Final = 5.0  # px between parallel links


class Band(NamedTuple):
    below: float  # utilisations under this (and over the band before) take ``colour``
    colour: str
    label: str


BANDS: Final = (
    Band(0.5, "#1a9850", "< 50%"),
    Band(0.7, "#91cf60", "50-70%"),
    Band(0.8, "#fee08b", "70-80%"),
    Band(0.9, "#fc8d59", "80-90%"),
    Band(1.0, "#d73027", "90-100%"),
    Band(math.inf, "#67001f", "≥ 100%"),
)
DOWN: Final = "#9e9e9e"
Metric = Literal["util", "wc_util"]


def colour(util: float) -> str:
    """The map's colour for a utilisation (a ratio: 1.0 is full)."""
    for band in BANDS:
        if util < band.below:
            return band.colour
    return BANDS[-1].colour


# --- the map ---------------------------------------------------------------------------


def positions(routers: Sequence[ReportRouter], links: Sequence[ReportLink]) -> dict[str, Point]:
    """Where the map puts each router (compute once for several maps: a big network's
    spring layout takes a second)."""
    pairs = [(lk.src, lk.dst) for lk in links if lk.direction == "ab"]
    return place(routers, pairs, width=MAP_W, height=MAP_H, margin=MAP_MARGIN)


def network_map(routers: Sequence[ReportRouter], links: Sequence[ReportLink], *,
                metric: Metric, element_id: str, caption: str,
                pos: dict[str, Point] | None = None) -> str:
    pos = pos if pos is not None else positions(routers, links)
    out = [f'<svg class="map" id="{esc(element_id)}" data-metric="{metric}" '
           f'viewBox="0 0 {MAP_W:g} {MAP_H:g}" role="img">', f"<title>{esc(caption)}</title>",
           '<g class="links">']
    widest = max((lk.capacity_bps for lk in links), default=0.0)
    offsets = _parallel_offsets(links)
    for lk in links:
        if lk.src in pos and lk.dst in pos:
            out.append(_half_link(lk, pos[lk.src], pos[lk.dst], offset=offsets[lk.link],
                                  metric=metric, widest=widest))
    out.append('</g><g class="routers">')
    degree = _degree(links)
    labelled = len(routers) <= MAX_LABELS
    out.extend(_router(r, pos[r.name], degree[r.name], labelled) for r in routers)
    out.append("</g></svg>")
    return "".join(out)


def _parallel_offsets(links: Iterable[ReportLink]) -> dict[str, float]:
    """Links between the same two routers, spread side by side (px, signed)."""
    between: dict[tuple[str, str], set[str]] = defaultdict(set)
    for lk in links:
        a, b = sorted((lk.src, lk.dst))
        between[(a, b)].add(lk.link)
    offsets = {}
    for ids in between.values():
        for k, link in enumerate(sorted(ids)):
            offsets[link] = (k - (len(ids) - 1) / 2.0) * PARALLEL_GAP
    return offsets


def _half_link(lk: ReportLink, p: Point, q: Point, *, offset: float, metric: Metric,
               widest: float) -> str:
    """``lk``'s direction: from its source to the middle of the link, shifted ``offset``
    to the left of the a->b way so both directions of a parallel link stay on one line."""
    (ax, ay), (bx, by) = (p, q) if lk.direction == "ab" else (q, p)
    length = math.hypot(bx - ax, by - ay) or 1.0
    nx, ny = -(by - ay) / length * offset, (bx - ax) / length * offset
    x1, y1 = p[0] + nx, p[1] + ny
    mx, my = (ax + bx) / 2 + nx, (ay + by) / 2 + ny
    util = lk.util if metric == "util" else lk.wc_util
    stroke = colour(util) if lk.up else DOWN
    width = 1.5 + 4.0 * math.sqrt(lk.capacity_bps / widest) if widest > 0 else 2.0
    dash = "" if lk.up else ' stroke-dasharray="6 4"'
    return (f'<line class="link" data-link="{esc(lk.link)}" data-dir="{esc(lk.direction)}" '
            f'data-util="{util:.4f}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{mx:.1f}" y2="{my:.1f}" '
            f'stroke="{stroke}" stroke-width="{width:.1f}" stroke-linecap="round"{dash}>'
            f"<title>{esc(_link_title(lk))}</title></line>")


def _link_title(lk: ReportLink) -> str:
    state = "" if lk.up else " (DOWN)"
    return (f"{lk.link} {lk.src} → {lk.dst}{state}\n"
            f"now: {bps(lk.load_bps)} of {bps(lk.capacity_bps)} = {pct(lk.util)}\n"
            f"WC util: {pct(lk.wc_util)} ({bps(lk.wc_load_bps)}) under {lk.wc_failure or '-'}")


def _degree(links: Iterable[ReportLink]) -> dict[str, int]:
    degree: dict[str, int] = defaultdict(int)
    for lk in links:
        if lk.direction == "ab":
            degree[lk.src] += 1
            degree[lk.dst] += 1
    return degree


def _router(r: ReportRouter, at: Point, degree: int, labelled: bool) -> str:
    x, y = at
    where = f"\nlon {r.pos[0]:.2f}, lat {r.pos[1]:.2f}" if r.pos is not None else ""
    title = f"{r.name} ({'up' if r.up else 'DOWN'}), {degree} links{where}"
    fill, ring = ("#ffffff", "#1f2937") if r.up else ("#d1d5db", "#b91c1c")
    label = (f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle">{esc(r.name)}</text>'
             if labelled else "")
    return (f'<g class="router" data-router="{esc(r.name)}"><title>{esc(title)}</title>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{fill}" stroke="{ring}" '
            f'stroke-width="2"/>{label}</g>')


def legend() -> str:
    """The colour bands, and down links."""
    items = [(b.colour, b.label, "") for b in BANDS] + [(DOWN, "down", ' stroke-dasharray="6 4"')]
    out = [f'<svg class="legend" viewBox="0 0 {len(items) * 90} 24" role="img">'
           "<title>link utilisation colours</title>"]
    for k, (stroke, label, dash) in enumerate(items):
        x = k * 90
        out.append(f'<line x1="{x + 2}" y1="12" x2="{x + 26}" y2="12" stroke="{stroke}" '
                   f'stroke-width="5"{dash}/><text x="{x + 31}" y="16">{esc(label)}</text>')
    out.append("</svg>")
    return "".join(out)


# --- forecast against actual -------------------------------------------------------------

CHART_W: Final = 480.0
CHART_H: Final = 220.0
LEFT, RIGHT, TOP, BOTTOM = 64.0, 12.0, 12.0, 28.0
OBSERVED: Final = "#111827"
MEAN: Final = "#2563eb"
BAND_FILL: Final = "#93c5fd"

Value = Callable[[ForecastPoint], float | None]


class _Scale(NamedTuple):
    x0: float
    x1: float
    y1: float

    def x(self, ts: float) -> float:
        return LEFT + (ts - self.x0) / (self.x1 - self.x0) * (CHART_W - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return CHART_H - BOTTOM - value / self.y1 * (CHART_H - TOP - BOTTOM)


def forecast_chart(s: ForecastSeries, *, threshold_util: float, now_ts: float) -> str:
    """Observed load (solid), the forecast made for each step (dashed) with its upper
    band (shaded), then the forecast ahead of ``now_ts``; threshold and capacity lines."""
    points = [*s.history, *s.ahead]
    head = (f'<svg class="chart" data-link="{esc(s.link)}" data-dir="{esc(s.direction)}" '
            f'viewBox="0 0 {CHART_W:g} {CHART_H:g}" role="img"><title>{esc(_chart_title(s))}'
            "</title>")
    if not points:
        return head + f'<text x="{CHART_W / 2:g}" y="{CHART_H / 2:g}" ' \
                      'text-anchor="middle">no samples yet</text></svg>'
    scale = _scale(points)
    out = [head, _axes(scale)]
    for part, ahead in ((s.history, False), (s.ahead, True)):
        out.extend(_band(scale, part, ahead))
        out.extend(_line(scale, part, _mean, cls=f"mean{' ahead' if ahead else ''}",
                         stroke=MEAN, dash="5 3"))
    out.extend(_line(scale, s.history, _observed, cls="observed", stroke=OBSERVED, dash=""))
    out.append(_level(scale, threshold_util * s.capacity_bps, "threshold", "#d73027"))
    out.append(_level(scale, s.capacity_bps, "capacity", "#6b7280"))
    if scale.x0 <= now_ts <= scale.x1:
        x = scale.x(now_ts)
        out.append(f'<line class="now" x1="{x:.1f}" y1="{TOP:g}" x2="{x:.1f}" '
                   f'y2="{CHART_H - BOTTOM:g}" stroke="#6b7280" stroke-dasharray="2 2"/>')
    out.append("</svg>")
    return "".join(out)


def _chart_title(s: ForecastSeries) -> str:
    observed = next((p.observed_bps for p in reversed(s.history)
                     if p.observed_bps is not None), None)
    peak = max(s.ahead, key=lambda p: p.upper_bps or 0.0, default=None)
    ahead = (f"; forecast peak {bps(peak.mean_bps)} (upper {bps(peak.upper_bps)}) at "
             f"{clock(peak.ts)}" if peak is not None and peak.upper_bps is not None else "")
    return f"{s.link} {s.src} → {s.dst}: observed {bps(observed)}{ahead}"


def _observed(p: ForecastPoint) -> float | None:
    return p.observed_bps


def _mean(p: ForecastPoint) -> float | None:
    return p.mean_bps


def _scale(points: Sequence[ForecastPoint]) -> _Scale:
    x0, x1 = points[0].ts, max(p.ts for p in points)
    values = [v for p in points for v in (p.observed_bps, p.mean_bps, p.upper_bps)
              if v is not None]
    top = max(values, default=0.0) * 1.05
    return _Scale(x0, x1 if x1 > x0 else x0 + 1.0, _nice_step(top / 4) * 4 if top > 0 else 1.0)


def _nice_step(raw: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at least ``raw``: a tick step."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * 0.999)


def _axes(scale: _Scale) -> str:
    bottom, right = CHART_H - BOTTOM, CHART_W - RIGHT
    out = [f'<g class="axes" font-size="10" fill="#374151"><line x1="{LEFT:g}" y1="{bottom:g}" '
           f'x2="{right:g}" y2="{bottom:g}" stroke="#9ca3af"/>']
    for k in range(5):
        value = scale.y1 * k / 4
        y = scale.y(value)
        out.append(f'<line x1="{LEFT:g}" y1="{y:.1f}" x2="{right:g}" y2="{y:.1f}" '
                   f'stroke="#e5e7eb"/><text x="{LEFT - 4:g}" y="{y + 3:.1f}" '
                   f'text-anchor="end">{esc(bps(value))}</text>')
        ts = scale.x0 + (scale.x1 - scale.x0) * k / 4
        anchor = ("start", "middle", "middle", "middle", "end")[k]
        out.append(f'<text x="{scale.x(ts):.1f}" y="{bottom + 14:g}" text-anchor="{anchor}">'
                   f"{clock(ts)}</text>")
    out.append("</g>")
    return "".join(out)


def _runs(points: Sequence[ForecastPoint], *values: Value) -> list[list[ForecastPoint]]:
    """Stretches of consecutive points where every one of ``values`` is known."""
    runs: list[list[ForecastPoint]] = [[]]
    for p in points:
        if all(v(p) is not None for v in values):
            runs[-1].append(p)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _xy(scale: _Scale, points: Iterable[ForecastPoint], value: Value) -> str:
    return " ".join(f"{scale.x(p.ts):.1f},{scale.y(value(p) or 0.0):.1f}" for p in points)


def _line(scale: _Scale, points: Sequence[ForecastPoint], value: Value, *, cls: str,
          stroke: str, dash: str) -> list[str]:
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return [f'<polyline class="{cls}" points="{_xy(scale, run, value)}" fill="none" '
            f'stroke="{stroke}" stroke-width="1.6"{dashed}/>'
            for run in _runs(points, value)]


def _band(scale: _Scale, points: Sequence[ForecastPoint], ahead: bool) -> list[str]:
    """The shaded band between the forecast mean and its upper band."""
    def upper(p: ForecastPoint) -> float | None:
        return p.upper_bps

    opacity = 0.25 if ahead else 0.45
    return [f'<polygon class="band{" ahead" if ahead else ""}" points="'
            f'{_xy(scale, run, upper)} {_xy(scale, reversed(run), _mean)}" '
            f'fill="{BAND_FILL}" fill-opacity="{opacity}" stroke="none"/>'
            for run in _runs(points, _mean, upper)]


def _level(scale: _Scale, value: float, cls: str, stroke: str) -> str:
    if not 0 < value <= scale.y1:
        return ""
    y = scale.y(value)
    return (f'<g class="{cls}"><line x1="{LEFT:g}" y1="{y:.1f}" x2="{CHART_W - RIGHT:g}" '
            f'y2="{y:.1f}" stroke="{stroke}" stroke-dasharray="4 3"/><text x="{CHART_W - RIGHT:g}"'
            f' y="{y - 3:.1f}" text-anchor="end" font-size="10" fill="{stroke}">{cls}</text></g>')
