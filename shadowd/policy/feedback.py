"""What production showed after a deployment against what the shadow predicted, and the
demand scale the next cycle takes from it. Pure.

The comparison is over the link directions the model says carry traffic with the policy
in and nothing failed: the highest predicted utilisation against the highest observed
one (production's own counters, as the agent reports them). ``gain`` of the relative
error goes into the scale, bounded so one strange sample cannot run it away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from shadowd.core.events import PolicyFeedback, PolicyProposed
from shadowd.core.state import State
from shadowd.policy.effect import predicted_utilisation
from shadowd.predict.records import Stamp

SCALE_BOUNDS: Final = (0.1, 10.0)
BOUND: Final = 1e6  # the record's limits


@dataclass(frozen=True, slots=True)
class Comparison:
    predicted_util: float
    observed_util: float
    links: int

    @property
    def error(self) -> float:
        return self.observed_util / self.predicted_util - 1.0


def compare(state: State, policy: PolicyProposed) -> Comparison | None:
    """None when the model puts no traffic on any link direction."""
    predicted = predicted_utilisation(state, policy, state.demand_scale)
    observed = {(k, d): (lk.ab_bps if d == "ab" else lk.ba_bps) / lk.capacity_bps
                for k, lk in state.links.items() for d in ("ab", "ba")}
    keys = [k for k, v in predicted.items() if v > 0.0 and k in observed]
    if not keys:
        return None
    return Comparison(predicted_util=max(predicted[k] for k in keys),
                      observed_util=max(observed[k] for k in keys), links=len(keys))


def next_scale(current: float, error: float, gain: float) -> float:
    low, high = SCALE_BOUNDS
    return min(high, max(low, current * (1.0 + gain * error)))


def record(stamp: Stamp, policy: PolicyProposed, found: Comparison,
           scale: float) -> PolicyFeedback:
    return PolicyFeedback(
        source=stamp.source, seq=stamp.seq, ts=stamp.ts,
        policy_id=policy.policy_id, predicted_util=min(found.predicted_util, BOUND),
        observed_util=min(found.observed_util, BOUND),
        error=max(-BOUND, min(found.error, BOUND)), links=found.links, demand_scale=scale)
