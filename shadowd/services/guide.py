"""The guided main job (``shadowd run --guided``, what ``make run`` runs): the daemon as
always, plus a narrator that says, as the log shows it happening, each stage of the loop
on the embedded default: telemetry in, a spike predicted, the scenarios run before it, a
policy proposed that meets its target and proven in the shadow, that policy rolled out by
the dry-run driver (never to a router) with each gate measuring what the shadow predicts
for that step, and then a deliberately bad change rolled out the same way, for its gate
to roll back. When that ends (or the replay does, whatever it got to), it writes the
report and a summary with the verdict and the report's path; the daemon then runs on,
live, until Ctrl-C.

The guide reads what the log says. It acts only with the dry-run driver: it deploys the
first validated automatic proposal that meets its target (a best-effort one is left for
an operator, as ``auto_deploy`` leaves it), then proposes the worst drain the model finds
(``shadowd.policy.drain``), and deploys it once the shadow predicts its gate to fail at
the traffic of the moment (at a night's trough no drain hurts; it waits for the day). The
good policy waits the other way: for an hour whose traffic its gate passes (a surge would
hold any policy's rollout inconclusive).
With any other driver it says what it would do and deploys nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from shadowd import logs
from shadowd.core.conditions import Condition, Sample, parse_conditions, verdict
from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    PolicyChange,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
    ScenarioRan,
    SpikePredicted,
)
from shadowd.core.state import State
from shadowd.policy.drain import Drain, worst_drain
from shadowd.services.policy import Policies, PolicyRefused

log = logs.get_logger(component="guide")

STAGES: Final = ("ingest", "predict", "scenarios", "policy", "rollout", "rollback")
ROLLOUT_INTERVAL_S: Final = 5.0  # the guided dry-run's gates: seconds, not minutes
WAIT_S: Final = 1.0  # how often the guide looks again for the traffic a rollout waits for
_ENDS: Final = frozenset({"completed", "rolled_back", "aborted", "held"})

Report = Callable[[], Awaitable[Path]]
Predict = Callable[[Sequence[PolicyChange]], Awaitable[Sample]]  # a gate, in the shadow


@dataclass
class _Seen:
    stages: set[str] = field(default_factory=set)
    proposed: dict[str, PolicyProposed] = field(default_factory=dict)
    best_effort: set[str] = field(default_factory=set)  # said once each
    deploying: str = ""  # the good policy the guide rolls out
    bad: str = ""  # the deliberately bad change
    gates: dict[str, list[RolloutStep]] = field(default_factory=dict)  # by rollout id
    ended: dict[str, RolloutStep] = field(default_factory=dict)  # by policy id
    summary_due: bool = False
    finished: bool = False  # the replay ended
    busy: bool = False  # from the good rollout's start to the bad change's end
    concluded: bool = False  # the bad change's turn is over: the verdict is given


class Guide:
    def __init__(self, state: State, policies: Policies, report: Report,
                 predict: Predict | None = None, *,
                 interval_s: float = ROLLOUT_INTERVAL_S) -> None:
        self._state, self._policies, self._report = state, policies, report
        self._predict, self._interval_s = predict, interval_s
        self._seen = _Seen()
        self._wake = asyncio.Event()

    # --- the hook (synchronous) ----------------------------------------------------------

    def note(self, events: list[AnyEvent]) -> None:
        if events and events[0].source != DAEMON_SOURCE and "ingest" in self._seen.stages:
            return  # telemetry (the hot path): nothing more to say about it
        for event in events:
            if event.source != DAEMON_SOURCE:
                self._stage("ingest", f"telemetry from {event.source!r} is flowing into the "
                            "log; the forecaster learns a day before it predicts")
            elif isinstance(event, SpikePredicted):
                self._stage("predict", f"spike predicted on {event.link} {event.direction}: "
                            f"{event.predicted_util:.0%} of capacity, worst case "
                            f"{event.extreme_util:.0%} if {event.worst_failure} fails")
            elif isinstance(event, ScenarioRan):
                self._stage("scenarios", f"{event.scenario} ran in the {event.tier} before "
                            f"the spike: worst link {event.worst_link} at "
                            f"{event.worst_util:.0%}")
            elif isinstance(event, PolicyProposed):
                self._seen.proposed[event.policy_id] = event
            elif isinstance(event, PolicyValidated):
                self._validated(event)
            elif isinstance(event, RolloutStep):
                self._rollout_step(event)

    def source_finished(self, name: str) -> None:
        """A finite source (the replay) ended: sum up whatever the loop got to (once the
        guide's own rollouts are over: they say when)."""
        self._seen.finished = True
        if self._seen.concluded:
            return  # the verdict is given: nothing new to sum up
        if not self._seen.busy:
            self._summary_due()
        else:
            self._wake.set()  # a bad change waiting for traffic stops waiting

    def _validated(self, event: PolicyValidated) -> None:
        seen = self._seen
        policy = seen.proposed.get(event.policy_id)
        if policy is None or not event.ok or seen.deploying \
                or not policy.reason.startswith("scenario:"):  # an operator's: not ours
            return
        if policy.wc_after > policy.target_util:
            if policy.policy_id not in seen.best_effort:
                seen.best_effort.add(policy.policy_id)
                log.info(f"policy {policy.policy_id} is best effort (worst case "
                         f"{policy.wc_before:.0%} -> {policy.wc_after:.0%}, target "
                         f"{policy.target_util:.0%}): left for an operator; the guide waits "
                         "for one that meets its target")
            return
        changes = ", ".join(f"{c.router} {c.attr} on {c.target} {c.old}->{c.new}"
                            for c in policy.changes)
        self._stage("policy", f"policy {policy.policy_id} ({changes}) takes the worst case "
                    f"over {policy.failure_set} from {policy.wc_before:.0%} to "
                    f"{policy.wc_after:.0%}, under its target of {policy.target_util:.0%}; "
                    f"confirmed in the {event.tier}")
        seen.deploying = policy.policy_id
        self._wake.set()

    def _rollout_step(self, step: RolloutStep) -> None:
        seen = self._seen
        if step.policy_id not in (seen.deploying, seen.bad):
            return
        if step.phase == "measured":
            seen.gates.setdefault(step.rollout_id, []).append(step)
        if step.phase not in _ENDS or step.policy_id in seen.ended:
            return
        seen.ended[step.policy_id] = step
        if step.policy_id == seen.deploying:
            self._stage("rollout", f"rollout {step.rollout_id} {_phase(step)}"
                        f"{_outcome(step)}; {_gates(seen.gates.get(step.rollout_id, []))}")
        else:
            self._stage("rollback", f"the bad change's rollout {step.rollout_id} "
                        f"{_phase(step)}{_outcome(step)}; "
                        f"{_gates(seen.gates.get(step.rollout_id, []))}")
            self._summary_due()
        self._wake.set()

    def _stage(self, stage: str, text: str) -> None:
        if stage in self._seen.stages:
            return
        self._seen.stages.add(stage)
        number = STAGES.index(stage) + 1
        log.info(f"[{number}/{len(STAGES)} {stage}] {text}")

    def _summary_due(self) -> None:
        self._seen.concluded = self._seen.concluded or self._seen.busy
        self._seen.busy = False
        self._seen.summary_due = True
        self._wake.set()

    # --- the task --------------------------------------------------------------------------

    async def run(self) -> None:
        deployed = bad_tried = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            seen = self._seen
            if seen.deploying and not deployed:
                deployed = True
                await self._passing(seen.proposed[seen.deploying])
                seen.busy = bool(await self._deploy(seen.deploying))
            good = seen.ended.get(seen.deploying)
            if good is not None and not bad_tried:
                bad_tried = True
                try:
                    if good.phase == "held":  # one at a time: it would hold up the bad one
                        log.info("the guide does not approve on an operator's behalf: it "
                                 f"rolls {good.policy_id} back "
                                 f"({self._policies.rollback(good.policy_id)})")
                    await self._bad_change()
                except Exception as err:  # the daemon runs on without its demo
                    log.error("the guide's bad change failed",
                              error=f"{type(err).__name__}: {err}")
                    self._summary_due()
            if seen.summary_due:
                seen.summary_due = False
                await self._summary()

    async def _deploy(self, policy_id: str) -> str:
        if self._policies.driver_name != "dry-run":
            log.info(f"the guide deploys nothing with the {self._policies.driver_name!r} "
                     f"driver: `shadowctl policies deploy {policy_id}` when you are ready")
            return ""
        try:
            rollout = await self._policies.deploy(policy_id,
                                                  monitoring_interval_s=self._interval_s)
        except PolicyRefused as err:
            log.warning("the guided rollout was refused", error=str(err))
            return ""
        log.info(f"rolling {policy_id} out with the dry-run driver ({rollout}): it writes "
                 "what it would apply and touches no router; each gate measures what the "
                 "shadow predicts with the steps so far in")
        return rollout

    async def _bad_change(self) -> None:
        """Find the worst drain once the traffic makes one hurt, propose it, and roll it
        out (when the shadow still predicts its gate to fail) for that gate to roll back."""
        if self._predict is None or self._policies.driver_name != "dry-run":
            self._summary_due()
            return
        drain = await self._hurting(None)
        if drain is None:
            self._summary_due()
            return
        entry = await self._policies.propose(  # in the model: its proof is its gate, and
            f"a deliberately bad change: {drain.router} drained to {drain.kept.id}",
            [(c.router, c.target, c.new) for c in drain.changes],
            in_lab=False)  # the lab's half a minute would let the peak pass
        if entry is None or entry.status != "validated":
            log.info("the bad change did not validate: the guide skips it",
                     status=entry.status if entry else "none")
            self._summary_due()
            return
        policy_id = entry.proposal.policy_id
        if await self._hurting(drain) is None:  # validating took a while: the hour moved
            self._summary_due()
            return
        predicted = await self._predict(drain.changes)
        log.info(f"now a deliberately bad change, {policy_id}: {drain.router} costs out "
                 f"{len(drain.changes)} of its links, all but {drain.kept.id} "
                 f"({drain.kept.capacity_bps / 1e9:g} Gbit/s); the shadow predicts "
                 f"{predicted}. It is rolled out like the good one, for its gate to stop it")
        self._seen.bad = policy_id
        if not await self._deploy(policy_id):
            self._summary_due()

    async def _passing(self, policy: PolicyProposed) -> None:
        """Return once the shadow predicts ``policy``'s gate to pass at the traffic of the
        moment (a surge's hour would hold it inconclusive, whatever the policy is worth),
        or when the replay ends: the gate decides then. Looks again every ``WAIT_S``."""
        if self._predict is None:
            return
        success, failure = self._conditions()
        said = False
        while not self._seen.finished:
            try:
                predicted = await self._predict(policy.changes)
            except Exception as err:  # the rollout's own gate decides, as at the end
                log.warning("the guide cannot predict the policy's gate: it rolls it out now",
                            error=f"{type(err).__name__}: {err}")
                return
            if verdict(predicted, success, failure) == "success":
                return
            if not said:
                said = True
                log.info(f"policy {policy.policy_id}'s gate would not pass at this hour's "
                         f"traffic ({predicted}): the guide waits for an hour it does")
            await asyncio.sleep(WAIT_S)

    def _conditions(self) -> tuple[tuple[Condition, ...], tuple[Condition, ...]]:
        r = self._policies.config.rollout
        return parse_conditions(r.success_conditions), parse_conditions(r.failure_conditions)

    async def _hurting(self, drain: Drain | None) -> Drain | None:
        """``drain`` (or the worst drain of the moment, when None) once the shadow predicts
        its gate to fail; None when the replay ends first. Looks again every ``WAIT_S``."""
        success, failure = self._conditions()
        said = False
        while True:
            found = drain if drain is not None else await self._worst_drain()
            if found is not None:
                assert self._predict is not None
                predicted = await self._predict(found.changes)
                if verdict(predicted, success, failure) == "failure":
                    return found
            if self._seen.finished:
                log.info("no drain hurts at the replay's traffic any more: the guide rolls no "
                         "bad change out")
                return None
            if not said:
                said = True
                log.info("a drain would pass its gate at this hour's traffic: the guide waits "
                         "for the day's peak to make one hurt")
            await asyncio.sleep(WAIT_S)

    async def _worst_drain(self) -> Drain | None:
        fork = self._state.fork()
        return await asyncio.to_thread(worst_drain, fork, max_metric=self._policies.max_cost,
                                       demand_scale=fork.demand_scale)

    async def _summary(self) -> None:
        try:
            path = (await self._report()).resolve()
        except Exception as err:  # the summary still says what happened
            log.error("the report could not be written", error=f"{type(err).__name__}: {err}")
            path = None
        s, seen = self._state, self._seen
        entries = s.policies.values()
        missing = [stage for stage in STAGES if stage not in seen.stages]
        log.info("summary", events=s.lsn, routers=len(s.routers), links=len(s.links),
                 policies_proposed=len(entries),
                 policies_validated=sum(e.validation is not None and e.validation.ok
                                        for e in entries),
                 policy=self._verdict(seen.deploying), bad_change=self._verdict(seen.bad),
                 stages_seen=f"{len(STAGES) - len(missing)}/{len(STAGES)}",
                 stages_not_reached=missing, report=str(path) if path else "none")
        if path is not None:
            log.info(f"report: file://{path}  (refresh: shadowctl report --out {path.parent})")
        log.info("shadowd runs on, live; `shadowctl status` in another terminal, Ctrl-C stops")

    def _verdict(self, policy_id: str) -> str:
        """``P: OUTCOME`` for a policy the guide rolled out; "none" without one."""
        if not policy_id:
            return "none"
        end = self._seen.ended.get(policy_id)
        return f"{policy_id}: {end.phase if end is not None else 'rolling out'}"


def _phase(step: RolloutStep) -> str:
    return step.phase.replace("_", " ")


def _outcome(step: RolloutStep) -> str:
    return f" ({step.detail})" if step.detail else ""


def _gates(measured: list[RolloutStep]) -> str:
    """What each gate measured, in the shadow."""
    if not measured:
        return "no gate measured"
    return "gates: " + "; ".join(
        f"step {m.step} {m.verdict}: " + str(Sample(latency_ms=m.latency_ms,
                                                   throughput_bps=m.throughput_bps,
                                                   loss_pct=m.loss_pct, max_util=m.max_util))
        for m in measured)
