"""A proposed policy proven in the shadow lab before it may touch production.

The lab (the shadow's own FRR routers) is given the policy's metrics, then each failure
of the policy's failure set that matters most (the worst case before and after the
policy), failed and repaired one at a time. After every step the lab must converge to
the model's routes, and its own RIBs are walked with the demands (``policy.forwarding``):
no forwarding loop, no demand without a route that had one, and the utilisation the lab's
routes produce must not exceed the worst case the proposal predicted (the predicted
effect is what is confirmed; whether it reaches the target is the proposal's own
``wc_after`` against ``target_util``). Once the policy is in, pings along the heaviest
demands must be answered. The lab ends as it began (the mirror re-applies
the log's state after the exclusive run).

Without a lab, ``validate_in_model`` checks the same on the model's own tables (what the
proposal already predicted, re-derived independently of the optimiser's bookkeeping).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Literal, Protocol

from shadowd import logs
from shadowd.core.events import AnyEvent, LinkMetric, LinkStatus, PolicyProposed, RouterHealth
from shadowd.core.state import State, apply
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab import probe
from shadowd.lab.lab import Convergence, Lab
from shadowd.policy.bgp import BgpPolicy
from shadowd.policy.forwarding import Tables, Walk, walk
from shadowd.services.mirror import LabMirror
from shadowd.services.validate_bgp import validate_bgp_in_lab, validate_bgp_in_model
from shadowd.services.validation import Validation

SOURCE = "validate"
PROBES = 5  # pings along the heaviest demands once the policy is in
TOLERANCE = 1e-6  # the lab's routes give the model's loads exactly when they agree
log = logs.get_logger()


class _Seq:
    def __init__(self, state: State) -> None:
        self.n = max((p.seq for p in state.sources.values()), default=0)

    def __call__(self) -> int:
        self.n += 1
        return self.n


def policy_events(state: State, policy: PolicyProposed, seq: Callable[[], int]) -> list[AnyEvent]:
    """The policy's IGP metric changes as events on ``state`` (BGP changes have none)."""
    by_link: dict[str, tuple[int, int]] = {}
    for change in policy.changes:
        if change.attr != "metric":
            continue
        link = state.links[change.target]
        ab, ba = by_link.get(change.target, (link.metric, link.reverse_metric))
        by_link[change.target] = (change.new, ba) if change.router == link.a else (ab, change.new)
    return [LinkMetric(source=SOURCE, seq=seq(), ts=0.0, link=lk, metric=ab, reverse_metric=ba)
            for lk, (ab, ba) in sorted(by_link.items())]


def failure_steps(state: State, label: str, seq: Callable[[], int]) -> tuple[list[AnyEvent],
                                                                            list[AnyEvent]]:
    """The events that fail what ``label`` (``link:ID``, ``router:NAME``, ``srlg:NAME``)
    names, and those that repair it; none for ``none`` or what the state does not have."""
    kind, _, item = label.partition(":")
    if kind == "router" and item in state.routers:
        return ([RouterHealth(source=SOURCE, seq=seq(), ts=0.0, router=item, up=False)],
                [RouterHealth(source=SOURCE, seq=seq(), ts=0.0, router=item, up=True)])
    links = [item] if kind == "link" and item in state.links else sorted(
        k for k, lk in state.links.items() if kind == "srlg" and item in lk.srlgs)
    return ([LinkStatus(source=SOURCE, seq=seq(), ts=0.0, link=k, up=False) for k in links],
            [LinkStatus(source=SOURCE, seq=seq(), ts=0.0, link=k, up=True) for k in links])


def _plan(state: State, policy: PolicyProposed) -> Iterator[tuple[str, list[AnyEvent], bool]]:
    """(step name, events, whether to judge the step): the policy, then each failure."""
    seq = _Seq(state)
    yield "policy", policy_events(state, policy, seq), True
    labels = dict.fromkeys(f for f in (policy.wc_failure_before, policy.wc_failure_after)
                           if f and f != "none")
    for label in labels:
        fail, repair = failure_steps(state, label, seq)
        if fail:
            yield f"fail {label}", fail, True
            yield f"repair {label}", repair, False


def _steps(state: State, policy: PolicyProposed) -> Iterator[tuple[str, State, bool]]:
    """Each step of ``_plan`` applied to one fork of ``state``: (name, the fork, judged)."""
    work = state.fork()
    for name, events, judged in _plan(work, policy):
        for event in events:
            apply(work, event)
        yield name, work, judged


class _Tally:
    """What the steps found, judged against the state before the policy."""

    def __init__(self, state: State, policy: PolicyProposed) -> None:
        self.predicted, self.scale = policy.wc_after, policy.demand_scale
        self.started = time.monotonic()
        self.wc, self.agreement, self.loops, self.unreachable, self.steps = 0.0, 1.0, 0, 0, 0
        self.problems: list[str] = []
        self.baseline = self._walk(state, next_hop_links(Engine(state)))

    def _walk(self, state: State, tables: Tables) -> Walk:
        ends = {k: (lk.a, lk.b) for k, lk in state.links.items()}
        demands = {src: {dst: rate * self.scale for dst, rate in row.items()}
                   for src, row in state.demands.items()}
        return walk(tables, ends, demands)

    def converged(self, name: str, done: Convergence, timeout_s: float) -> None:
        self.agreement = min(self.agreement, done.report.agreement)
        if not done.converged:
            self.problems.append(f"{name}: did not converge in {timeout_s:g} s "
                                 f"({done.report.agreement:.1%} agreement)")

    def add(self, name: str, state: State, tables: Tables) -> None:
        walked = self._walk(state, tables)
        capacity = {k: lk.capacity_bps for k, lk in state.links.items()}
        util = max(walked.utilisation(capacity).values(), default=0.0)
        new_holes = set(walked.unreachable) - set(self.baseline.unreachable)
        self.wc = max(self.wc, util)
        self.loops += len(walked.loops)
        self.unreachable += len(new_holes)
        if walked.loops:
            src, dst = walked.loops[0]
            self.problems.append(f"{name}: loop for {src}->{dst}")
        if new_holes:
            src, dst = sorted(new_holes)[0]
            self.problems.append(f"{name}: no route {src}->{dst}")
        if util > self.predicted * (1 + TOLERANCE) + TOLERANCE:
            self.problems.append(f"{name}: utilisation {util:.2f} above the predicted worst "
                                 f"case {self.predicted:.2f}")

    def result(self, tier: Literal["model", "lab"]) -> Validation:
        return Validation(tier=tier, ok=not self.problems, wc_after=self.wc,
                          agreement=self.agreement, loops=self.loops,
                          unreachable=self.unreachable, steps=self.steps,
                          detail="; ".join(self.problems)[:160],
                          seconds=time.monotonic() - self.started)


async def validate_in_lab(lab: Lab, state: State, policy: PolicyProposed, *,
                          timeout_s: float = 60.0) -> Validation:
    """Run the policy and its failure set through ``lab`` (which mirrors ``state``)."""
    tally = _Tally(state, policy)
    for name, work, judged in _steps(state, policy):
        since = time.monotonic()
        await lab.apply(work)
        tally.steps += 1
        tally.converged(name, await lab.converge(next_hop_links(Engine(work)), since=since,
                                                 timeout_s=timeout_s), timeout_s)
        if judged:
            tally.add(name, work, await lab.ribs())
        if name == "policy":
            tally.problems += await _probe(lab, work)
    return tally.result("lab")


async def _probe(lab: Lab, state: State) -> list[str]:
    """Pings along the heaviest demands (source namespace -> destination loopback): the
    data plane must carry what the RIBs say. A probe that cannot run is said, not fatal."""
    plan = lab.plan
    if plan is None:
        return []
    heaviest = sorted(((rate, src, dst) for src, row in state.demands.items()
                       for dst, rate in row.items()), reverse=True)[:PROBES]
    problems = []
    for _, src, dst in heaviest:
        try:
            answer = await probe.rtt(plan.routers[src].ns, plan.routers[dst].loopback,
                                     count=3, interval_s=0.05)
        except probe.ProbeError as err:
            log.warning("validation probe could not run", error=str(err))
            continue
        if answer.received == 0:
            problems.append(f"policy: {src} cannot reach {dst} (ping)")
    return problems


def validate_in_model(state: State, policy: PolicyProposed) -> Validation:
    """The same steps on the model's own forwarding tables."""
    tally = _Tally(state, policy)
    for name, work, judged in _steps(state, policy):
        tally.steps += 1
        if judged:
            tally.add(name, work, next_hop_links(Engine(work)))
    return tally.result("model")


class MirrorValidator:
    """``LabValidator`` over the daemon's lab mirror: the validation has the lab to
    itself, then the mirror follows the log again (and so undoes the policy)."""

    def __init__(self, mirror: LabMirror, *, timeout_s: float) -> None:
        self._mirror, self._timeout = mirror, timeout_s
        self._igp = mirror.settings.igp

    def up(self) -> bool:
        return self._mirror.status().lab.up

    async def validate(self, state: State, policy: PolicyProposed) -> Validation | None:
        async def in_lab(lab: Lab) -> Validation:
            return await validate_in_lab(lab, state, policy, timeout_s=self._timeout)

        return await self._mirror.run_exclusive(in_lab)

    async def validate_bgp(self, state: State, policy: PolicyProposed,
                           current: BgpPolicy) -> Validation | None:
        async def in_lab(lab: Lab) -> Validation:
            return await validate_bgp_in_lab(lab, state, policy, current, igp=self._igp,
                                             timeout_s=self._timeout)

        return await self._mirror.run_exclusive(in_lab)


class LabValidator(Protocol):
    def up(self) -> bool: ...

    async def validate(self, state: State, policy: PolicyProposed) -> Validation | None:
        """An IGP policy through the shadow lab (None: the lab is not up)."""
        ...

    async def validate_bgp(self, state: State, policy: PolicyProposed,
                           current: BgpPolicy) -> Validation | None:
        """A BGP policy's route-maps on the shadow lab's egress routers (None: not up)."""
        ...


async def validate_policy(state: State, policy: PolicyProposed, lab: LabValidator | None,
                          current: BgpPolicy) -> Validation:
    """``policy`` in the lab when there is one and it is up, else in the model (an IGP
    policy by its forwarding walk, a BGP one by its best paths with ``current``)."""
    if lab is not None and lab.up():
        result = await (lab.validate(state, policy) if policy.kind == "igp_metric"
                        else lab.validate_bgp(state, policy, current))
        if result is not None:
            return result
    if policy.kind == "bgp":
        return await asyncio.to_thread(validate_bgp_in_model, state, policy, current)
    return await asyncio.to_thread(validate_in_model, state, policy)
