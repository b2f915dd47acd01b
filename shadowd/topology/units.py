"""Units: rates with SI suffixes, metrics, and delay from distance.

- Rates and capacities are bits per second, read as ``shadowd.core.units`` reads them
  (scenarios give them the same way): ``"10G"`` = 10e9, ``"2.5 Gbps"`` = 2.5e9.
- Delay: light in fibre covers about 200 km per millisecond, so a link costs
  ``FIBRE_MS_PER_KM`` = 0.005 ms (5 µs) per km of fibre. Great-circle distance between
  two positions is a lower bound of the fibre route, so a delay derived from it is too.
"""

from __future__ import annotations

import math
from typing import Final

from shadowd.core import units
from shadowd.topology.errors import TopologyError

FIBRE_MS_PER_KM: Final = 0.005
EARTH_RADIUS_KM: Final = 6371.0088
MAX_METRIC: Final = 16_777_214  # IS-IS wide metrics, as shadowd.core.events.Metric


def parse_rate(value: object, what: str = "rate") -> float:
    """Bits per second from a number (already bps) or a string such as ``"10G"``."""
    try:
        return units.parse_rate(value, what)
    except ValueError as err:
        raise TopologyError(str(err)) from None


def parse_metric(value: object, what: str = "metric") -> int:
    """An IGP metric: a whole number from 1 to ``MAX_METRIC``; ``"10"`` and ``10.0`` pass."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise TopologyError(f"{what} {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TopologyError(f"{what} {value!r} is not a number")
    if not math.isfinite(value) or value != int(value):
        raise TopologyError(f"{what} {value!r} is not a whole number")
    if not 1 <= value <= MAX_METRIC:
        raise TopologyError(f"{what} {value!r} must be between 1 and {MAX_METRIC}")
    return int(value)


def great_circle_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance between two (longitude, latitude) points in degrees."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def fibre_delay_ms(km: float) -> float:
    return km * FIBRE_MS_PER_KM


def geo_pos(lon: object, lat: object) -> tuple[float, float] | None:
    """``(lon, lat)`` when both are numbers on the globe, else ``None`` (not a map position)."""
    try:
        x, y = float(lon), float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0:
        return (x, y)
    return None
