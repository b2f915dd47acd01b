"""Metric schemes: which IGP metric each direction of a link gets.

- ``igp``: as configured (``metric`` a->b, ``reverse_metric`` b->a);
- ``hop``: every link costs 1;
- ``inverse-capacity``: reference bandwidth / capacity, truncated, at least 1, the way
  OSPF ``auto-cost reference-bandwidth`` does it (default reference 100 Gbit/s);
- ``latency``: one-way propagation delay in microseconds (at least 1), from the link's
  ``delay_ms`` or, when the caller gives one, its length in km at 200 km per ms (fibre).

Every scheme yields integers in the IS-IS wide-metric range, so path lengths are exact
in float64 and equal-cost ties are exact ties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from shadowd.core.state import Link

MetricScheme = Literal["igp", "hop", "inverse-capacity", "latency"]
SCHEMES: Final[tuple[str, ...]] = get_args(MetricScheme)

DEFAULT_REFERENCE_BPS: Final = 100e9
FIBRE_KM_PER_MS: Final = 200.0
MAX_METRIC: Final = 16_777_214


@dataclass(frozen=True, slots=True)
class MetricOptions:
    """How to turn links into metrics. ``distance_km`` maps link id -> length (optional)."""

    scheme: MetricScheme = "igp"
    reference_bps: float = DEFAULT_REFERENCE_BPS
    distance_km: Mapping[str, float] = field(default_factory=dict)


def latency_ms(link: Link, options: MetricOptions) -> float:
    """One-way delay of ``link``: configured ``delay_ms``, else its length over fibre."""
    if link.delay_ms > 0.0:
        return link.delay_ms
    return options.distance_km.get(link.id, 0.0) / FIBRE_KM_PER_MS


def _clamp(value: float) -> int:
    return max(1, min(MAX_METRIC, int(value)))


def link_metrics(link: Link, options: MetricOptions) -> tuple[int, int]:
    """The (a->b, b->a) metrics of ``link`` under ``options.scheme``."""
    scheme = options.scheme
    if scheme == "igp":
        return link.metric, link.reverse_metric
    if scheme == "hop":
        return 1, 1
    if scheme == "inverse-capacity":
        cost = _clamp(options.reference_bps // link.capacity_bps)
        return cost, cost
    if scheme == "latency":
        cost = _clamp(round(latency_ms(link, options) * 1000.0))
        return cost, cost
    raise ValueError(f"unknown metric scheme {scheme!r}; expected one of {SCHEMES}")
