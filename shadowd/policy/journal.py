"""Recovery of a rollout from its journal after a crash. Pure.

``recover(entries)`` reads one rollout's ``RolloutStep`` entries, in log order (the first
is ``started``, which carries the plan), folds them into the machine's position, decides,
and returns a ``Rollout`` positioned there with its first actions. The rule:

- the last entry is ``completed``, ``rolled_back`` or ``aborted`` -> **nothing**: the
  rollout is over;
- a rollback had begun (``rolling_back``), or the last gate's failures already exceed the
  failure limit -> **rollback**: finish it, restoring every router of every step that
  began applying (they may hold the policy), in reverse order;
- the rollout was held (inconclusive gate, or awaiting approval before the first step)
  -> **resume** holding: the hold and its alert are repeated; ``approve``/``rollback``
  decide, as before the crash;
- otherwise -> **resume**: the last step whose gate passed (or was approved) is the last
  safe state. Routers of a later step that began applying (unverified: applied but not
  yet measured successfully) are restored first; then the rollout widens from the safe
  state as usual, re-applying that step (apply is idempotent) and gating it afresh.
  Failures counted before the crash still count.

Each recovery journals ``resumed`` first, its ``detail`` saying which and why. A crash
during a recovery is recovered the same way: every action is idempotent and the
journal only grows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from shadowd.core.conditions import ConditionError, parse_condition
from shadowd.core.events import RolloutStep
from shadowd.policy.actions import AnyAction, Outcome
from shadowd.policy.rollout import Rollout, RolloutError, RolloutSpec, State

Decision: TypeAlias = Literal["resume", "rollback", "nothing"]
_TERMINAL: dict[str, Outcome] = {
    "completed": "completed", "rolled_back": "rolled_back", "aborted": "aborted"}


@dataclass(frozen=True, slots=True)
class Recovery:
    decision: Decision
    reason: str  # for operators: what was found and what happens now
    rollout: Rollout  # positioned: feed it the same inputs as before the crash
    actions: list[AnyAction] = field(default_factory=list)  # execute these first


def spec_of(started: RolloutStep) -> RolloutSpec:
    """The plan a ``started`` entry carries."""
    try:
        return RolloutSpec(
            rollout_id=started.rollout_id, policy_id=started.policy_id,
            segment=started.segment, routers=started.routers,
            rollout_percentage=started.percentage, monitoring_interval_s=started.interval_s,
            success_conditions=tuple(map(parse_condition, started.success)),
            failure_conditions=tuple(map(parse_condition, started.failure)),
            failure_limit=started.failure_limit, manual_approval=started.manual_approval,
            dry_run=started.dry_run, driver=started.driver)
    except ConditionError as e:
        raise RolloutError(f"its started entry holds a bad condition: {e}",
                           rollout_id=started.rollout_id) from e


def recover(entries: Sequence[RolloutStep]) -> Recovery:
    """Decide, from one rollout's journal, to resume it, roll it back, or do nothing."""
    if not entries or entries[0].phase != "started":
        raise RolloutError("a rollout's journal begins with its started entry")
    rollout = Rollout(spec_of(entries[0]))
    for entry in entries[1:]:
        if entry.rollout_id != rollout.spec.rollout_id:
            raise RolloutError(f"entry seq {entry.seq} belongs to rollout {entry.rollout_id}",
                               rollout_id=rollout.spec.rollout_id)
        _fold(rollout, entry)
    awaiting = (rollout.spec.manual_approval and not rollout.touched
                and not any(e.phase == "approved" for e in entries))
    return _decide(rollout, entries[-1], awaiting)


def _fold(rollout: Rollout, entry: RolloutStep) -> None:
    """Move the machine's position as the entry says it moved before the crash."""
    phase, r = entry.phase, rollout
    r.failures = max(r.failures, entry.failures)
    if phase == "applying":
        r.step, r.state = entry.step, "applying"
        r.touched += tuple(x for x in entry.routers if x not in r.touched)
    elif phase == "applied":
        r.state = "measuring"
    elif phase == "measured":
        r.state = _after_gate(r, entry)
    elif phase == "held":
        r.state, r.reason = "held", entry.detail
    elif phase == "rolling_back":
        r.state, r.reason = "rolling_back", entry.detail
    elif phase == "approved":
        r.passed, r.state = entry.step, "new"  # here "new": nothing in flight
    elif phase in _TERMINAL:
        r.state, r.outcome, r.reason = "done", _TERMINAL[phase], entry.detail


def _after_gate(rollout: Rollout, entry: RolloutStep) -> State:
    if entry.verdict == "success":
        rollout.passed = entry.step
        return "new"  # nothing in flight: widen next
    if entry.verdict == "inconclusive":
        rollout.reason = f"step {entry.step} inconclusive"
        return "held"
    if entry.failures > rollout.spec.failure_limit:
        rollout.reason = f"step {entry.step} failed its gate; failures {entry.failures}"
        return "rolling_back"
    return "measuring"


def _decide(rollout: Rollout, last: RolloutStep, awaiting: bool) -> Recovery:
    r, at = rollout, f"after {last.phase} (step {last.step}, seq {last.seq})"
    if r.state == "done":
        return Recovery("nothing", f"rollout {r.outcome} {at}", r)
    if r.state == "rolling_back":
        reason = f"crashed {at} while rolling back ({r.reason}): finishing the rollback"
        return Recovery("rollback", reason, r, r.recovered("rollback", reason))
    if r.state == "held" or awaiting:
        reason = f"crashed {at} while held: holding again"
        r.reason = r.reason or "awaiting approval before the first step"
        return Recovery("resume", reason, r, r.recovered("hold", reason))
    reason = (f"crashed {at}: step {r.passed} is the last safe state; "
              f"resuming from step {r.passed + 1}")
    return Recovery("resume", reason, r, r.recovered("resume", reason))
