"""Run changes through both tiers and diff them: each step's events go into the state,
the lab is brought into line, and the step's convergence time is how long the lab's RIBs
took to agree with the model's routes for the new state (from the moment the lab was
told, polling the RIBs, never sleeping blind).

``failure_drill`` is the standard exercise: some links fail and are repaired, then some
routers, one at a time.
"""

from __future__ import annotations

import time

import msgspec

from shadowd.core.events import AnyEvent, LinkStatus, RouterHealth
from shadowd.core.state import State, apply
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab.fidelity import RouteDiff
from shadowd.lab.lab import Lab

SOURCE = "drill"


class Step(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    events: list[AnyEvent]


class StepResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    changes: list[str]  # what the lab did
    converged: bool
    seconds: float
    polls: int
    routes: int
    agreement: float
    differences: list[RouteDiff]  # the first few, when it did not converge


async def run_steps(lab: Lab, state: State, steps: list[Step], *,
                    timeout_s: float = 60.0) -> list[StepResult]:
    """Apply each step to ``state`` (in place) and to ``lab``; measure each."""
    results = []
    for step in steps:
        for event in step.events:
            apply(state, event)
        start = time.monotonic()
        changes = await lab.apply(state)
        done = await lab.converge(next_hop_links(Engine(state)), since=start,
                                  timeout_s=timeout_s, lsn=state.lsn)
        results.append(StepResult(
            name=step.name, changes=changes, converged=done.converged,
            seconds=round(done.seconds, 3), polls=done.polls, routes=done.report.routes,
            agreement=done.report.agreement, differences=done.report.differences[:5]))
    return results


def failure_drill(state: State, *, links: int = 5, routers: int = 2) -> list[Step]:
    """Fail and repair ``links`` links, then ``routers`` routers, spread over the names."""
    seq = max((p.seq for p in state.sources.values()), default=0)
    steps = []
    for link in _spread(sorted(state.links), links):
        for up in (False, True):
            seq += 1
            event = LinkStatus(source=SOURCE, seq=seq, ts=float(seq), link=link, up=up)
            steps.append(Step(name=f"link {link} {'up' if up else 'down'}", events=[event]))
    for router in _spread(sorted(state.routers), routers):
        for up in (False, True):
            seq += 1
            health = RouterHealth(source=SOURCE, seq=seq, ts=float(seq), router=router, up=up)
            steps.append(Step(name=f"router {router} {'up' if up else 'down'}",
                              events=[health]))
    return steps


def _spread(names: list[str], n: int) -> list[str]:
    """``n`` names evenly spread over ``names``."""
    if n <= 0 or not names:
        return []
    step = max(1, len(names) // n)
    return names[::step][:n]
