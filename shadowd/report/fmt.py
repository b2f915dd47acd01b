"""Numbers, times and text as the report shows them."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Final

_SI: Final = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def bps(rate: float | None) -> str:
    if rate is None:
        return "-"
    for scale, unit in _SI:
        if abs(rate) >= scale:
            return f"{rate / scale:.3g} {unit}b/s"
    return f"{rate:.3g} b/s"


def pct(ratio: float | None) -> str:
    return "-" if ratio is None else f"{100.0 * ratio:.1f}%"


def when(ts: float | None) -> str:
    """A log or wall time, UTC, to the second."""
    if ts is None or ts <= 0.0:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def clock(ts: float) -> str:
    """A time of day, UTC, for a chart's axis."""
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M")


def esc(text: object) -> str:
    """Text for HTML and SVG (XML) alike: ``& < > " '`` escaped."""
    return html.escape(str(text), quote=True)
