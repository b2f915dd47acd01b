"""The phased rollout of one policy to one segment, as a pure state machine.

The seed's ``deploy_policy(policy, network_segment, rollout_percentage,
monitoring_interval)``. Vocabulary from Argo Rollouts: *steps*, *successCondition*,
*failureCondition*, *failureLimit*, *inconclusive*, *dryRun*.

The segment's routers, in order, are cut into steps: step ``k`` brings the share of the
segment holding the policy to ``k x rollout_percentage`` % (34 -> 34, 68, 100), i.e. the
routers that fit in that share (at least one per step; steps that would add none are
skipped). ``Apply`` carries the routers a step adds (those of the segment the policy does
not touch count in the share; the driver skips them). Each step is then gated: production
is measured for ``monitoring_interval_s``; the verdict (see ``conditions``) widens to the
next step (success), holds and alerts (inconclusive: ``approve`` widens, ``rollback``
rolls back), or counts a failure: more than ``failure_limit`` failures in the rollout
roll back, restoring every router applied so far, in reverse order; fewer re-measure.

Usage, by the shell (``now`` is always an argument; nothing here reads a clock)::

    rollout = deploy_policy(policy, segment, 34, 60.0, rollout_id="r1", ...)
    actions = rollout.start(now)        # then: applied / measured / restored / approve...
    for action in actions: execute(action)   # in order: a Journal before what it announces
    rollout.next_deadline()             # when the running Measure's interval ends

Inputs that make no sense in the current state raise ``RolloutError`` and change nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final, Literal, TypeAlias

import msgspec

from shadowd.core.conditions import Condition, Sample, holding, parse_conditions, verdict
from shadowd.core.errors import ShadowdError
from shadowd.core.events import PolicyProposed, RolloutPhase
from shadowd.policy.actions import (
    Alert,
    AlertKind,
    AlertValue,
    AnyAction,
    Apply,
    Done,
    Journal,
    Measure,
    Outcome,
    Restore,
)

State: TypeAlias = Literal["new", "applying", "measuring", "held", "restoring",
                           "rolling_back", "done"]

LABEL_MAX: Final = 160  # RolloutStep's text fields
NAME_MAX: Final = 64
_EPS: Final = 1e-9


class RolloutError(ShadowdError):
    """An input the rollout cannot take in its state, or a spec that cannot be rolled out."""

    def __init__(self, reason: str, *, rollout_id: str = "", input: str = "",
                 state: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.rollout_id = rollout_id
        self.input = input
        self.state = state

    def __str__(self) -> str:
        where = f"rollout {self.rollout_id}: " if self.rollout_id else ""
        what = f"{self.input} while {self.state}: " if self.input else ""
        return f"{where}{what}{self.reason}"


class RolloutSpec(msgspec.Struct, frozen=True, kw_only=True):
    rollout_id: str
    policy_id: str
    segment: str
    routers: tuple[str, ...]  # the whole segment, in rollout order
    rollout_percentage: float  # the share of the segment each step adds, (0, 100]
    monitoring_interval_s: float
    success_conditions: tuple[Condition, ...] = ()
    failure_conditions: tuple[Condition, ...] = ()
    failure_limit: int = 0  # roll back when failures > failure_limit
    manual_approval: bool = False  # hold before the first step until approved
    dry_run: bool = False  # carried into the journal; the machine behaves the same
    driver: str = ""  # the driver's name, for the journal

    def __post_init__(self) -> None:
        problem = _spec_problem(self)
        if problem:
            raise RolloutError(problem, rollout_id=self.rollout_id)

    @property
    def driver_label(self) -> str:
        return self.driver or ("dry-run" if self.dry_run else "")


def _spec_problem(spec: RolloutSpec) -> str:
    names = (spec.rollout_id, spec.policy_id, *spec.routers)
    if any(not 0 < len(name) <= NAME_MAX for name in names):
        return f"ids and router names must be 1-{NAME_MAX} characters"
    if not spec.routers or len(set(spec.routers)) != len(spec.routers):
        return f"segment {spec.segment!r} needs routers, each once: {spec.routers}"
    if not 0.0 < spec.rollout_percentage <= 100.0:
        return f"rollout_percentage {spec.rollout_percentage} is not in (0, 100]"
    if not 0.0 < spec.monitoring_interval_s < 1e9:
        return f"monitoring_interval_s {spec.monitoring_interval_s} must be > 0"
    if spec.failure_limit < 0:
        return f"failure_limit {spec.failure_limit} must be >= 0"
    return ""


class Segment(msgspec.Struct, frozen=True):
    """A named set of routers, in the order a rollout takes them."""

    name: str
    routers: tuple[str, ...]


class Step(msgspec.Struct, frozen=True, kw_only=True):
    number: int  # 1-based
    routers: tuple[str, ...]  # the routers this step adds
    share: float  # of the segment's routers holding the policy after it, 0-1
    percent: float  # the nominal share, k x rollout_percentage (<= 100)


def plan_steps(routers: Sequence[str], percentage: float) -> tuple[Step, ...]:
    """Cut the segment into steps of ``percentage`` % each (see the module's docstring)."""
    n, done, k = len(routers), 0, 1
    steps: list[Step] = []
    while done < n:
        percent = min(k * percentage, 100.0)
        count = n if percent >= 100.0 - _EPS else max(math.floor(percent * n / 100 + _EPS), 1)
        if count > done:
            steps.append(Step(number=len(steps) + 1, routers=tuple(routers[done:count]),
                              share=count / n, percent=percent))
            done = count
        k = max(k + 1, math.ceil((done + 1 - _EPS) * 100 / (percentage * n)))
    return tuple(steps)


# --- the machine -----------------------------------------------------------------------


class Rollout:
    """One rollout's position: ``state``, the current ``step`` (0: before the first),
    ``passed`` (the last step whose gate passed or was approved), ``failures`` so far,
    ``touched`` (every router that began applying, in order) and ``outcome`` once done."""

    def __init__(self, spec: RolloutSpec) -> None:
        self.spec = spec
        self.steps = plan_steps(spec.routers, spec.rollout_percentage)
        self.state: State = "new"
        self.step = 0
        self.passed = 0
        self.failures = 0
        self.touched: tuple[str, ...] = ()
        self.outcome: Outcome | None = None
        self.reason = ""
        self._until: float | None = None

    # --- inputs -----------------------------------------------------------------------

    def start(self, now: float) -> list[AnyAction]:
        self._expect("start", "new")
        del now
        s = self.spec
        started = self._journal(
            "started", routers=s.routers, percentage=s.rollout_percentage,
            interval_s=s.monitoring_interval_s, failure_limit=s.failure_limit,
            success=tuple(map(str, s.success_conditions)),
            failure=tuple(map(str, s.failure_conditions)),
            manual_approval=s.manual_approval, dry_run=s.dry_run)
        if s.manual_approval:
            return [started, *self._hold("awaiting approval before the first step")]
        return [started, *self._begin(1)]

    def applied(self, now: float) -> list[AnyAction]:
        self._expect("applied", "applying")
        step = self.steps[self.step - 1]
        self.state, self._until = "measuring", now + self.spec.monitoring_interval_s
        return [self._journal("applied", routers=step.routers, share=step.share),
                Measure(until=self._until, step=self.step)]

    def measured(self, sample: Sample, now: float) -> list[AnyAction]:
        self._expect("measured", "measuring")
        s = self.spec
        found = verdict(sample, s.success_conditions, s.failure_conditions)
        self.failures += found == "failure"
        entry = self._journal("measured", verdict=found, share=self._share(),
                              **sample.bounded())
        if found == "success":
            self.passed = self.step
            return [entry, *self._widen()]
        if found == "inconclusive":
            return [entry, *self._hold(f"step {self.step} inconclusive: {sample}")]
        return [entry, *self._failed(sample, now)]

    def approve(self, now: float) -> list[AnyAction]:
        self._expect("approve", "held")
        del now
        self.passed = self.step
        return [self._journal("approved", share=self._share()), *self._widen()]

    def rollback(self, now: float, reason: str = "operator") -> list[AnyAction]:
        self._expect("rollback", "applying", "measuring", "held", "restoring")
        del now
        return self._rollback(reason)

    def restored(self, now: float) -> list[AnyAction]:
        self._expect("restored", "restoring", "rolling_back")
        del now
        if self.state == "restoring":  # recovery put the unverified routers back; go on
            self.touched = tuple(r for s in self.steps[:self.passed] for r in s.routers)
            return self._widen()
        restored, self.touched = self.touched, ()
        self._finish("rolled_back")
        return [self._journal("rolled_back", routers=tuple(reversed(restored)),
                              detail=self.reason),
                self._alert("rollout_rolled_back", reason=self.reason,
                            routers=" ".join(reversed(restored))),
                Done(outcome="rolled_back")]

    def abort(self, now: float, reason: str = "aborted by the operator") -> list[AnyAction]:
        """Stop driving, restoring nothing: the entry names the routers that may still
        hold the policy (``rollback`` restores them)."""
        self._expect("abort", "applying", "measuring", "held", "restoring", "rolling_back")
        del now
        self.reason = reason
        self._finish("aborted")
        return [self._journal("aborted", routers=self.touched, share=self._share(),
                              detail=reason), Done(outcome="aborted")]

    def recovered(self, how: Literal["resume", "rollback", "hold"],
                  reason: str) -> list[AnyAction]:
        """The first actions after a restart, once ``journal.recover`` has positioned
        the machine: finish a rollback, hold again, or put back the routers beyond the
        last passed gate (``restoring``; ``restored`` then widens from there)."""
        resumed = self._journal("resumed", share=self._share(), detail=reason)
        if how == "rollback":
            return [resumed, *self._rollback(self.reason or reason)]
        if how == "hold":
            return [resumed, *self._hold(self.reason or reason)]
        safe = {r for step in self.steps[:self.passed] for r in step.routers}
        beyond = tuple(r for r in reversed(self.touched) if r not in safe)
        if not beyond:
            return [resumed, *self._widen()]
        self.state = "restoring"
        return [msgspec.structs.replace(resumed, routers=beyond), Restore(routers=beyond)]

    def next_deadline(self) -> float | None:
        """When the running ``Measure`` ends (None: not measuring)."""
        return self._until if self.state == "measuring" else None

    # --- transitions ------------------------------------------------------------------

    def _begin(self, number: int) -> list[AnyAction]:
        step = self.steps[number - 1]
        self.state, self.step = "applying", number
        self.touched += tuple(r for r in step.routers if r not in self.touched)
        return [self._journal("applying", routers=step.routers, share=step.share),
                Apply(routers=step.routers, step=number)]

    def _widen(self) -> list[AnyAction]:
        if self.passed < len(self.steps):
            return self._begin(self.passed + 1)
        self._finish("completed")
        return [self._journal("completed", step=len(self.steps), routers=self.spec.routers,
                              share=1.0),
                self._alert("rollout_completed", steps=len(self.steps)),
                Done(outcome="completed")]

    def _hold(self, reason: str) -> list[AnyAction]:
        self.state, self.reason = "held", reason
        return [self._journal("held", share=self._share(), detail=reason),
                self._alert("rollout_held", reason=reason)]

    def _failed(self, sample: Sample, now: float) -> list[AnyAction]:
        limit = self.spec.failure_limit
        if self.failures <= limit:  # tolerated: measure the same step again
            self._until = now + self.spec.monitoring_interval_s
            return [Measure(until=self._until, step=self.step)]
        failing = ", ".join(map(str, holding(sample, self.spec.failure_conditions)))
        reason = f"step {self.step} failed its gate ({failing}); failures {self.failures}"
        return [self._alert("rollout_failed_gate", reason=reason, failures=self.failures,
                            failure_limit=limit, **sample.bounded()),
                *self._rollback(reason)]

    def _rollback(self, reason: str) -> list[AnyAction]:
        self.reason = reason
        routers = tuple(reversed(self.touched))
        self.state = "rolling_back"
        entry = self._journal("rolling_back", routers=routers, share=self._share(),
                              detail=reason)
        return [entry, Restore(routers=routers)]

    def _finish(self, outcome: Outcome) -> None:
        self.state, self.outcome, self._until = "done", outcome, None

    # --- helpers ----------------------------------------------------------------------

    def _expect(self, name: str, *states: State) -> None:
        if self.state not in states:
            raise RolloutError(f"expected only while {' or '.join(states)}",
                               rollout_id=self.spec.rollout_id, input=name, state=self.state)

    def _share(self) -> float:
        return len(self.touched) / len(self.spec.routers)

    def _journal(self, phase: RolloutPhase, **fields: Any) -> Journal:
        s = self.spec
        fields.setdefault("step", self.step)
        fields["detail"] = fields.get("detail", "")[:LABEL_MAX]
        return Journal(rollout_id=s.rollout_id, policy_id=s.policy_id, segment=s.segment,
                       phase=phase, failures=self.failures, driver=s.driver_label, **fields)

    def _alert(self, kind: AlertKind, **fields: AlertValue) -> Alert:
        s = self.spec
        return Alert(kind=kind, fields={"rollout_id": s.rollout_id, "policy_id": s.policy_id,
                                        "segment": s.segment, "step": self.step, **fields})


def deploy_policy(policy: PolicyProposed, network_segment: Segment, rollout_percentage: float,
                  monitoring_interval: float, *, rollout_id: str,
                  success: Sequence[str | Condition] = (),
                  failure: Sequence[str | Condition] = (), failure_limit: int = 0,
                  manual_approval: bool = False, dry_run: bool = False,
                  driver: str = "") -> Rollout:
    """The seed's entry point: a rollout of ``policy`` over ``network_segment``, not yet
    started. Every router the policy changes must be in the segment."""
    outside = sorted({c.router for c in policy.changes} - set(network_segment.routers))
    if outside:
        raise RolloutError(f"policy {policy.policy_id} changes routers outside segment "
                           f"{network_segment.name!r}: {', '.join(outside)}",
                           rollout_id=rollout_id)
    return Rollout(RolloutSpec(
        rollout_id=rollout_id, policy_id=policy.policy_id, segment=network_segment.name,
        routers=network_segment.routers, rollout_percentage=rollout_percentage,
        monitoring_interval_s=monitoring_interval,
        success_conditions=parse_conditions(success),
        failure_conditions=parse_conditions(failure), failure_limit=failure_limit,
        manual_approval=manual_approval, dry_run=dry_run, driver=driver))
