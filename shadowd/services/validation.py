"""What validating a policy in the shadow found (``validate``, ``validate_bgp``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Validation:
    tier: Literal["model", "lab"]
    ok: bool
    wc_after: float  # the highest utilisation the tables produced over the steps
    agreement: float  # the lowest RIB agreement with the model over the steps
    loops: int
    unreachable: int  # demands without a route that had one before the policy
    steps: int
    detail: str
    seconds: float
