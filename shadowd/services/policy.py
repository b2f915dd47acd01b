"""Policies: from the shadow's findings to production, safely.

The shell around ``shadowd.policy``. A proposal is made (``propose``: by an operator, or
when a pre-spike scenario run finds a link over target, at most every
``propose_every_s`` of log time) on a fork of the state, with demands scaled by the
feedback calibration (and the spike's factor); it is logged (``policy_proposed``),
validated in the shadow lab when it is up, else in the model (``policy_validated``), and
only a validated policy may be deployed: a phased rollout (``services.rollouts``) whose
journal is the log's ``rollout_step`` records. On start, every rollout the log leaves open
is recovered (``policy.journal.recover``: resume or roll back, and it says which). A
completed rollout is followed, ``feedback_after_s`` later, by the comparison of what
production's counters show with what the model predicted (``policy_feedback``), which
sets the demand scaling of the next cycle.

One job at a time (a proposal, a rollout, a feedback), in order, on the daemon's loop;
the operator's approve/rollback reach a running rollout at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from shadowd import logs
from shadowd.config import PolicyConfig
from shadowd.core.errors import NotFound, ShadowdError
from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    PolicyChange,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
    ScenarioRan,
)
from shadowd.core.igp import MAX_COST
from shadowd.core.state import PolicyEntry, State
from shadowd.drivers.base import Driver
from shadowd.policy import feedback
from shadowd.policy.actions import AnyAction, Journal
from shadowd.policy.bgp import propose_bgp
from shadowd.policy.deployed import running_bgp
from shadowd.policy.generate import assess_changes, proposal, propose_metrics
from shadowd.policy.journal import recover
from shadowd.policy.render import Target, diff_running, render_frr, render_json
from shadowd.policy.rollout import Rollout, RolloutError, Segment, deploy_policy
from shadowd.predict.records import Stamp
from shadowd.services.monitor import Monitor
from shadowd.services.recorder import Recorder
from shadowd.services.rollouts import Command, RolloutRunner
from shadowd.services.validate import LabValidator, validate_policy

log = logs.get_logger()

_PLACEHOLDER: Final = Stamp(seq=1, ts=0.0)  # replaced when the proposal is recorded


class PolicyRefused(ShadowdError):
    """The request does not fit the policy's state (not validated, already deploying...)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    frr: dict[str, str]  # router -> frr.conf snippet
    json: dict[str, Any]  # vendor-neutral
    diffs: dict[str, str]  # router -> unified diff against its running config


Job = Callable[[], Awaitable[None]]
Running = Callable[[str], Awaitable[str]]  # router -> its running config


class Policies:
    def __init__(self, config: PolicyConfig, state: State, *, recorder: Recorder,
                 driver: Driver, monitor: Monitor, target: Callable[[], Target],
                 lab: LabValidator | None = None, running: Running | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``clock``: the rollouts' own (their steps wait real time); records are stamped
        in log time by ``recorder``."""
        self.config = config
        self._state = state  # the daemon's live state: read and forked, never changed here
        self._recorder, self._driver, self._monitor = recorder, driver, monitor
        self._target, self._lab, self._running, self._clock = target, lab, running, clock
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()  # proposals and their validation
        self._rollouts: asyncio.Queue[Job] = asyncio.Queue()  # rollouts and their feedback
        self._next_proposal = 0.0
        self._auto_pending = False  # an automatic proposal is queued or running
        self.runners: dict[str, RolloutRunner] = {}  # policy id -> its running rollout

    # --- the hook (synchronous) ----------------------------------------------------------

    def note(self, events: list[AnyEvent]) -> None:
        # shadowd's records come in batches of their own (``Recorder``): telemetry batches,
        # the hot path, are passed over without looking at each event
        if not self.config.enabled or self.config.propose_on != "scenario" \
                or not events or events[0].source != DAEMON_SOURCE:
            return
        for event in events:
            if isinstance(event, ScenarioRan) and event.tier == "model" \
                    and event.worst_util > self.config.target_util \
                    and event.ts >= self._next_proposal and not self._auto_pending:
                # One at a time: a replay at full speed must not queue up lab validations.
                self._next_proposal = event.ts + self.config.propose_every_s
                self._auto_pending = True
                reason = f"scenario:{event.scenario} x{event.factor:.2f}"
                fork = self._state.fork()
                self._jobs.put_nowait(lambda f=fork, r=reason, x=event.factor:  # type: ignore[misc]
                                      self._propose_job(f, r, x))

    # --- the worker ----------------------------------------------------------------------

    async def run(self) -> None:
        """Two workers: proposals (one at a time: they may take the lab) and rollouts (one
        at a time: two policies never widen over production together)."""
        await self._recover()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(_work(self._jobs), name="policy.proposals")
            tg.create_task(_work(self._rollouts), name="policy.rollouts")

    async def settle(self) -> None:
        await self._jobs.join()
        await self._rollouts.join()

    async def _propose_job(self, state: State, reason: str, factor: float) -> None:
        try:
            await self._propose(state, reason, factor)
        finally:
            self._auto_pending = False

    async def _propose(self, state: State, reason: str, factor: float) -> PolicyEntry | None:
        c = self.config
        scale = state.demand_scale * factor
        found = await asyncio.to_thread(
            propose_metrics, state, stamp=_PLACEHOLDER, policy_id="pending", reason=reason,
            target_util=c.target_util, failure_set=c.failure_set, demand_scale=scale,
            max_changes=c.max_changes)
        if found is None and state.peers:
            found = await asyncio.to_thread(
                propose_bgp, state, target_util=c.target_util, policy_id="pending",
                reason=reason, stamp=_PLACEHOLDER, current=running_bgp(state))
        if found is None:
            log.info("no policy needed or found", reason=reason, demand_scale=round(scale, 3))
            return None
        return await self._adopt(state, found)

    async def _propose_own(self, state: State, reason: str,
                           metrics: Sequence[tuple[str, str, int]], *,
                           in_lab: bool = True) -> PolicyEntry:
        """An operator's own metric changes, assessed, validated and deployable like
        a generated proposal (and refused like one, if validation finds them wanting)."""
        c = self.config
        changes = [_own_change(state, router, link, cost, self.max_cost)
                   for router, link, cost in metrics]
        found = await asyncio.to_thread(assess_changes, state, changes,
                                        target_util=c.target_util, failure_set=c.failure_set,
                                        demand_scale=state.demand_scale)
        return await self._adopt(state, proposal(_PLACEHOLDER, found, policy_id="pending",
                                                 reason=f"operator: {reason}",
                                                 at_lsn=state.lsn), in_lab=in_lab)

    async def _adopt(self, state: State, found: PolicyProposed, *,
                     in_lab: bool = True) -> PolicyEntry:
        """Record a proposal, validate it, and deploy it when ``auto_deploy`` says so."""
        policy = self._recorder.record(lambda s: msgspec.structs.replace(
            found, source=s.source, seq=s.seq, ts=s.ts, policy_id=f"p{s.seq}"))
        log.info("policy proposed", **_policy_fields(policy))
        await self._validate(state, policy, in_lab=in_lab)
        entry = self._state.policies[policy.policy_id]
        if self.config.auto_deploy and entry.status == "validated" \
                and policy.wc_after <= policy.target_util:  # best effort waits for an operator
            self._start_rollout(policy.policy_id, None, None, None, dry_run=False)
        return entry

    async def _validate(self, state: State, policy: PolicyProposed, *, in_lab: bool) -> None:
        lab = self._lab if self.config.validate_in_lab and in_lab else None
        result = await validate_policy(state, policy, lab, running_bgp(state))
        self._recorder.record(lambda s: PolicyValidated(
            source=s.source, seq=s.seq, ts=s.ts, policy_id=policy.policy_id, tier=result.tier,
            ok=result.ok, wc_after=min(result.wc_after, 1e6), agreement=result.agreement,
            loops=result.loops, unreachable=result.unreachable, steps=result.steps,
            detail=result.detail))
        log.info("policy validated", policy=policy.policy_id, tier=result.tier, ok=result.ok,
                 wc_after=round(result.wc_after, 3), agreement=result.agreement,
                 loops=result.loops, unreachable=result.unreachable, steps=result.steps,
                 seconds=round(result.seconds, 2), detail=result.detail)
        if not result.ok:
            logs.alert(log, "policy_rejected", "warning",
                       "a proposed policy failed validation in the shadow",
                       policy=policy.policy_id, tier=result.tier, detail=result.detail)

    # --- rollouts ------------------------------------------------------------------------

    def _start_rollout(self, policy_id: str, segment: str | None, percentage: float | None,
                       interval: float | None, *, dry_run: bool) -> str:
        entry = self.entry(policy_id)
        if entry.status not in ("validated", "rolled_back", "aborted"):
            raise PolicyRefused(f"policy {policy_id} is {entry.status}: only a validated "
                                "policy (or one rolled back) can be deployed")
        if policy_id in self.runners:
            raise PolicyRefused(f"policy {policy_id} is being rolled out already")
        r = self.config.rollout
        started = sum(1 for s in entry.steps if s.phase == "started")
        try:
            machine = deploy_policy(
                entry.proposal, self._segment(entry.proposal, segment or r.segment),
                percentage or r.rollout_percentage, interval or r.monitoring_interval_s,
                rollout_id=f"{policy_id}-r{started + 1}", success=r.success_conditions,
                failure=r.failure_conditions, failure_limit=r.failure_limit,
                manual_approval=r.manual_approval, dry_run=dry_run, driver=self._driver.name)
        except RolloutError as err:
            raise PolicyRefused(str(err)) from None
        runner = self._runner(machine, entry.proposal)
        self._rollouts.put_nowait(lambda: self._drive(runner, machine.start(self._clock())))
        return machine.spec.rollout_id

    def _segment(self, policy: PolicyProposed, name: str) -> Segment:
        if name == "all":
            return Segment("all", tuple(sorted({c.router for c in policy.changes})))
        for segment in self.config.segments:
            if segment.name == name:
                return Segment(segment.name, tuple(segment.routers))
        known = ", ".join(["all", *(s.name for s in self.config.segments)])
        raise PolicyRefused(f"no segment {name!r}; known: {known} ([[policy.segments]])")

    def _runner(self, machine: Rollout, policy: PolicyProposed) -> RolloutRunner:
        runner = RolloutRunner(machine, policy, driver=self._driver, monitor=self._monitor,
                               journal=self._journal, clock=self._clock)
        self.runners[policy.policy_id] = runner
        return runner

    def _journal(self, entry: Journal) -> RolloutStep:
        step = self._recorder.record(
            lambda s: entry.event(source=s.source, seq=s.seq, ts=s.ts))
        log.info("rollout step", **{k: v for k, v in msgspec.structs.asdict(step).items()
                                    if v not in ("", 0, 0.0, (), False)})
        return step

    async def _drive(self, runner: RolloutRunner, actions: Sequence[AnyAction]) -> None:
        try:
            outcome = await runner.run(list(actions))
        finally:
            self.runners.pop(runner.policy.policy_id, None)
        if outcome == "completed":  # later, and without holding up the next rollout
            asyncio.get_running_loop().call_later(
                self.config.feedback_after_s, self._rollouts.put_nowait,
                lambda: self._feedback(runner.policy))

    async def _recover(self) -> None:
        for rollout_id, entries in sorted(self._state.open_rollouts.items()):
            policy = self._state.policies[entries[0].policy_id].proposal
            found = recover(entries)
            logs.alert(log, "rollout_recovered", "warning",
                       f"an unfinished rollout was found in the log: {found.decision}",
                       rollout=rollout_id, policy=policy.policy_id, decision=found.decision,
                       reason=found.reason)
            if found.decision == "nothing":
                continue
            runner = self._runner(found.rollout, policy)
            self._rollouts.put_nowait(lambda r=runner, a=found.actions:  # type: ignore[misc]
                                  self._drive(r, a))

    # --- feedback ------------------------------------------------------------------------

    async def _feedback(self, policy: PolicyProposed) -> None:
        state = self._state
        found = await asyncio.to_thread(feedback.compare, state, policy)
        if found is None:
            log.info("no feedback: the policy's links carry nothing", policy=policy.policy_id)
            return
        scale = feedback.next_scale(state.demand_scale, found.error, self.config.feedback_gain)
        self._recorder.record(lambda s: feedback.record(s, policy, found, scale))
        log.info("policy feedback", policy=policy.policy_id,
                 predicted_util=round(found.predicted_util, 3),
                 observed_util=round(found.observed_util, 3), error=round(found.error, 3),
                 links=found.links, demand_scale=round(scale, 3))

    # --- control requests ----------------------------------------------------------------

    @property
    def driver_name(self) -> str:
        return self._driver.name

    @property
    def max_cost(self) -> int:
        """The highest metric production's IGP takes."""
        return MAX_COST[self.config.igp]

    def entries(self) -> list[PolicyEntry]:
        return list(self._state.policies.values())

    def entry(self, policy_id: str) -> PolicyEntry:
        found = self._state.policies.get(policy_id)
        if found is None:
            known = ", ".join(self._state.policies) or "none yet (`shadowctl policies propose`)"
            raise NotFound(f"no policy {policy_id!r}; known: {known}")
        return found

    async def rendered(self, policy_id: str) -> Rendered:
        policy = self.entry(policy_id).proposal
        target, igp = self._target(), self.config.igp
        diffs = {}
        if self._running is not None:
            for router in sorted({c.router for c in policy.changes}):
                try:
                    running = await self._running(router)
                except ShadowdError as err:
                    diffs[router] = f"# running config unreadable: {err}"
                    continue
                diffs[router] = diff_running(router, running, policy, target, igp)
        return Rendered(frr=render_frr(policy, target, igp), json=render_json(policy),
                        diffs=diffs)

    async def propose(self, reason: str = "manual", metrics: Sequence[tuple[str, str, int]] = (),
                      *, in_lab: bool = True) -> PolicyEntry | None:
        """Generate a proposal now, or take the operator's own ``metrics`` (router, link,
        cost); either is recorded and validated (``in_lab``: in the lab when it is up, else
        in the model) before this returns."""
        done: asyncio.Future[PolicyEntry | None] = asyncio.get_running_loop().create_future()

        async def job() -> None:
            state = self._state.fork()
            try:
                done.set_result(await (
                    self._propose_own(state, reason, metrics, in_lab=in_lab) if metrics
                    else self._propose(state, reason, 1.0)))
            except Exception as err:
                done.set_exception(err)
                raise

        self._jobs.put_nowait(job)
        return await done

    async def deploy(self, policy_id: str, segment: str | None = None,
                     rollout_percentage: float | None = None,
                     monitoring_interval_s: float | None = None, dry_run: bool = False) -> str:
        return self._start_rollout(policy_id, segment, rollout_percentage,
                                   monitoring_interval_s, dry_run=dry_run)

    def approve(self, policy_id: str) -> str:
        return self._command(policy_id, "approve")

    def rollback(self, policy_id: str) -> str:
        return self._command(policy_id, "rollback")

    def _command(self, policy_id: str, command: Command) -> str:
        self.entry(policy_id)
        runner = self.runners.get(policy_id)
        if runner is None:
            raise PolicyRefused(f"policy {policy_id} has no rollout running")
        try:
            runner.command(command)
        except RolloutError as err:
            raise PolicyRefused(str(err)) from None
        return f"{command} sent to rollout {runner.rollout_id}"

    def history(self, policy_id: str | None = None) -> list[RolloutStep]:
        if policy_id is not None:
            return list(self.entry(policy_id).steps)
        steps = [s for e in self._state.policies.values() for s in e.steps]
        return sorted(steps, key=lambda s: s.seq)


async def _work(jobs: asyncio.Queue[Job]) -> None:
    while True:
        job = await jobs.get()
        try:
            await job()
        except Exception as err:  # one job failing must not stop the next
            log.error("policy job failed", error=f"{type(err).__name__}: {err}")
        finally:
            jobs.task_done()


def _own_change(state: State, router: str, link: str, cost: int, top: int) -> PolicyChange:
    if not 1 <= cost <= top:
        raise PolicyRefused(f"cost {cost} for {router} on {link} is outside 1-{top}")
    found = state.links.get(link)
    if found is None:
        raise PolicyRefused(f"no link {link!r} in the shadow (`shadowctl topology` lists them)")
    if router not in (found.a, found.b):
        raise PolicyRefused(f"router {router!r} is not an end of link {link!r} "
                            f"({found.a}, {found.b})")
    old = found.metric if router == found.a else found.reverse_metric
    return PolicyChange(router=router, target=link, attr="metric", old=old, new=cost)


def _policy_fields(policy: PolicyProposed) -> dict[str, object]:
    return {"policy": policy.policy_id, "kind": policy.kind, "reason": policy.reason,
            "changes": [f"{c.router} {c.attr} {c.target} {c.old}->{c.new}"
                        for c in policy.changes],
            "wc_before": round(policy.wc_before, 3), "wc_after": round(policy.wc_after, 3),
            "wc_failure_before": policy.wc_failure_before, "demands_moved": policy.demands_moved,
            "demand_scale": round(policy.demand_scale, 3)}
