"""Where each router goes on the map: its geography when the topology has it, else a
deterministic spring layout. Pure: names and positions in, points in the box out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from shadowd.report.data import ReportRouter

Point = tuple[float, float]
ITERATIONS: Final = 120
OUTLIER_REACH: Final = 0.5  # of the 10-90% spread, beyond which a router is pulled in
Array = npt.NDArray[np.float64]


def place(routers: Sequence[ReportRouter], pairs: Sequence[tuple[str, str]], *,
          width: float, height: float, margin: float) -> dict[str, Point]:
    """Each router's point in a ``width`` x ``height`` box (y down), ``margin`` inside it."""
    names = [r.name for r in routers]
    if not names:
        return {}
    geo = [r.pos for r in routers]
    if all(p is not None for p in geo):
        raw = _projected([p for p in geo if p is not None])
    else:
        raw = _spring(names, pairs)
    return dict(zip(names, _fit(raw, width, height, margin), strict=True))


def _projected(lon_lat: list[tuple[float, float]]) -> Array:
    """Equirectangular, with longitudes shrunk by the median latitude's cosine; north up.
    Far outliers (GEANT's New York) are pulled in to the edge of the rest, so a lone
    transatlantic router does not squeeze the continent into a corner."""
    pts = np.asarray(lon_lat, dtype=np.float64)
    shrink = math.cos(math.radians(float(np.median(pts[:, 1]))))
    xy = np.column_stack([pts[:, 0] * shrink, -pts[:, 1]])
    low, high = np.percentile(xy, 10, axis=0), np.percentile(xy, 90, axis=0)
    reach = np.maximum(high - low, 1e-9) * OUTLIER_REACH
    out: Array = np.clip(xy, low - reach, high + reach)
    return out


def _spring(names: list[str], pairs: Sequence[tuple[str, str]]) -> Array:
    """Fruchterman-Reingold from a circle in name order: the same input, the same map."""
    n = len(names)
    index = {name: k for k, name in enumerate(names)}
    edges = np.array([(index[a], index[b]) for a, b in pairs if a in index and b in index
                      and a != b], dtype=np.int64).reshape(-1, 2)
    angle = 2.0 * math.pi * np.arange(n) / n
    pos = np.column_stack([np.cos(angle), np.sin(angle)])
    k = math.sqrt(4.0 / n)
    for step in range(ITERATIONS):
        pos += _limited(_forces(pos, edges, k), 0.1 * (1.0 - step / ITERATIONS))
    return pos


def _forces(pos: Array, edges: npt.NDArray[np.int64], k: float) -> Array:
    x, y = pos[:, 0].astype(np.float32), pos[:, 1].astype(np.float32)
    dx, dy = x[:, None] - x[None, :], y[:, None] - y[None, :]
    push = np.float32(k * k) / np.maximum(dx * dx + dy * dy, np.float32(1e-6))
    disp = np.column_stack([(dx * push).sum(axis=1), (dy * push).sum(axis=1)]).astype(
        np.float64)  # everyone repels
    if len(edges):
        d = pos[edges[:, 0]] - pos[edges[:, 1]]
        length = np.maximum(np.linalg.norm(d, axis=1), 1e-3)
        pull = d * (length / k)[:, None]  # linked routers attract
        np.subtract.at(disp, edges[:, 0], pull)
        np.add.at(disp, edges[:, 1], pull)
    out: Array = disp
    return out


def _limited(disp: Array, most: float) -> Array:
    length = np.maximum(np.linalg.norm(disp, axis=1), 1e-9)
    out: Array = disp * (np.minimum(length, most) / length)[:, None]
    return out


def _fit(raw: Array, width: float, height: float, margin: float) -> list[Point]:
    """Scale ``raw`` to the box, keeping its aspect, and centre it."""
    low, high = raw.min(axis=0), raw.max(axis=0)
    span = np.maximum(high - low, 1e-9)
    inner = np.array([width - 2 * margin, height - 2 * margin])
    scale = float(np.min(inner / span))
    centre = np.array([width, height]) / 2.0
    pts = (raw - (low + high) / 2.0) * scale + centre
    return [(round(float(x), 1), round(float(y), 1)) for x, y in pts]
