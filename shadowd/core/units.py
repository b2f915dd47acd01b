"""Rates as shadowd reads them, wherever they are written (topology files, scenarios).

Rates and capacities are bits per second. A string may carry a decimal SI suffix,
case-insensitive, optionally followed by ``bps``, ``bit/s`` or ``b/s``: ``"10G"`` = 10e9,
``"100M"`` = 100e6, ``"2.5 Gbps"`` = 2.5e9, ``"64k"`` = 64e3.

A rate that cannot be read is a ``ValueError`` whose message says why; each reader turns
it into its own error (``TopologyError``, a scenario's problem at its key).
"""

from __future__ import annotations

import math
import re
from typing import Final

_SUFFIX: Final = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_RATE: Final = re.compile(
    r"^\s*([+-]?[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*(?:bps|bit/s|b/s)?\s*$", re.I
)


def parse_rate(value: object, what: str = "rate") -> float:
    """Bits per second from a number (already bps) or a string such as ``"10G"``."""
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a number")
    if isinstance(value, int | float):
        rate = float(value)
    elif isinstance(value, str) and (match := _RATE.match(value)):
        rate = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    else:
        raise ValueError(f"{what} {value!r} is not a rate (a number, or like '10G')")
    if not math.isfinite(rate) or rate < 0.0:
        raise ValueError(f"{what} {value!r} must be a finite number >= 0")
    return rate
