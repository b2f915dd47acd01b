"""The IGPs shadowd speaks to, and the metric each takes: one definition for the lab, the
policy renderer and the policy service.

IS-IS wide metrics go to 2^24 - 1, but a link advertised at that value is left out of
SPF (RFC 5305, section 3.7), so the highest usable cost is one less, as the routing
engine's ``MAX_METRIC`` has it.
"""

from __future__ import annotations

from typing import Final, Literal

Igp = Literal["ospf", "isis"]

MAX_COST: Final[dict[str, int]] = {"ospf": 65_535, "isis": 16_777_214}
