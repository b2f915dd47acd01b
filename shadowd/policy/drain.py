"""The worst drain: a deliberately bad change, found with the model. Pure.

A *drain* costs out every up link of one router but its thinnest (the IGP metric at that
router's end set to the IGP's maximum), the kind of change an operator makes to empty a
router for maintenance, done backwards. All the traffic the router sends then leaves
over one small link. ``worst_drain`` tries the routers that send the most and keeps the
one whose drain the model predicts to hurt most (the highest loss, then the highest
utilisation), with that prediction: the guided run rolls it out on purpose, in dry run, to
show a rollout gate stopping a bad change.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowd.core.conditions import Sample
from shadowd.core.events import PolicyChange
from shadowd.core.state import Link, State
from shadowd.policy.effect import gate_sample


@dataclass(frozen=True, slots=True)
class Drain:
    router: str
    kept: Link  # the one link left at its metric
    changes: list[PolicyChange]
    predicted: Sample  # what a gate would measure with the drain in


def worst_drain(state: State, *, max_metric: int, demand_scale: float = 1.0,
                candidates: int = 8) -> Drain | None:
    """Among the ``candidates`` routers sending the most, the drain that hurts most;
    None when no router has two links up."""
    sent = {router: sum(row.values()) for router, row in state.demands.items()}
    ranked = sorted(state.routers, key=lambda r: (-sent.get(r, 0.0), r))
    found: list[Drain] = []
    for router in ranked:
        if len(found) == candidates:
            break
        drain = _drain(state, router, max_metric, demand_scale)
        if drain is not None:
            found.append(drain)
    return max(found, key=lambda d: (d.predicted.loss_pct, d.predicted.max_util),
               default=None)


def _drain(state: State, router: str, max_metric: int, demand_scale: float) -> Drain | None:
    links = sorted((lk for lk in state.links.values()
                    if lk.up and router in (lk.a, lk.b)), key=lambda lk: (lk.capacity_bps,
                                                                         lk.id))
    if len(links) < 2:
        return None
    kept, *drained = links
    changes = [PolicyChange(router=router, target=lk.id, attr="metric",
                            old=lk.metric if router == lk.a else lk.reverse_metric,
                            new=max_metric) for lk in drained]
    return Drain(router=router, kept=kept, changes=changes,
                 predicted=gate_sample(state, changes, demand_scale))
