"""The pure rollout machine: steps, gates, holds, rollbacks, and recovery from its journal.

A fake shell executes the actions against a fake production (the set of routers holding
the policy) and records every point a crash could interrupt it: after each journal entry
and after each router an Apply or a Restore touched. Recovery is checked from every one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from shadowd.core.conditions import (
    Condition,
    ConditionError,
    Sample,
    parse_condition,
    verdict,
)
from shadowd.core.events import ENCODER, PolicyChange, PolicyProposed, RolloutStep, decode_event
from shadowd.policy.actions import (
    Action,
    Alert,
    AnyAction,
    Apply,
    Done,
    Journal,
    Measure,
    Restore,
)
from shadowd.policy.journal import recover
from shadowd.policy.rollout import (
    Rollout,
    RolloutError,
    RolloutSpec,
    Segment,
    deploy_policy,
    plan_steps,
)

GOOD = Sample(latency_ms=5.0, throughput_bps=9e8, loss_pct=0.1, max_util=0.5)
MEH = Sample(latency_ms=5.0, throughput_bps=9e8, loss_pct=1.0, max_util=0.5)  # inconclusive
BAD = Sample(latency_ms=5.0, throughput_bps=9e8, loss_pct=4.0, max_util=0.5)
T0 = 1_767_600_000.0
INTERVAL = 60.0


def spec(routers: Sequence[str] = ("r1", "r2", "r3"), **kw: Any) -> RolloutSpec:
    fields: dict[str, Any] = {
        "rollout_id": "ro1", "policy_id": "p1", "segment": "core", "routers": tuple(routers),
        "rollout_percentage": 34.0, "monitoring_interval_s": INTERVAL,
        "success_conditions": (parse_condition("loss_pct < 0.5"),
                               parse_condition("max_util <= 0.9")),
        "failure_conditions": (parse_condition("loss_pct > 2"),), **kw}
    return RolloutSpec(**fields)


# --- a fake shell ------------------------------------------------------------------------


@dataclass
class Shell:
    """Executes actions in order against a fake production; remembers every crash point."""

    journal: list[RolloutStep] = field(default_factory=list)
    holding: list[str] = field(default_factory=list)  # routers holding the policy
    actions: list[AnyAction] = field(default_factory=list)
    crash_points: list[tuple[list[RolloutStep], list[str]]] = field(default_factory=list)
    outcome: str = ""
    now: float = T0

    def execute(self, actions: Sequence[AnyAction]) -> None:
        for action in actions:
            self.actions.append(action)
            if isinstance(action, Journal):
                event = action.event(source="shadowd", seq=len(self.journal) + 1, ts=self.now)
                assert decode_event(ENCODER.encode(event)) == event
                self.journal.append(event)
                self._crash_point()
            elif isinstance(action, Apply):
                assert self.journal[-1].phase == "applying"  # journalled before it acts
                assert self.journal[-1].routers == action.routers
                for router in action.routers:
                    if router not in self.holding:
                        self.holding.append(router)
                    self._crash_point()
            elif isinstance(action, Restore):
                assert self.journal[-1].phase in ("rolling_back", "resumed")
                assert self.journal[-1].routers == action.routers
                for router in action.routers:
                    if router in self.holding:
                        self.holding.remove(router)
                    self._crash_point()
            elif isinstance(action, Done):
                self.outcome = action.outcome

    def _crash_point(self) -> None:
        self.crash_points.append((list(self.journal), list(self.holding)))

    def drive(self, rollout: Rollout, actions: Sequence[AnyAction],
              script: Sequence[Sample | str] = (), good: Sample = GOOD) -> str:
        """Run to the end. At each decision the script's next item (a sample, "approve",
        "rollback", "abort", "rollback@apply"); once it is empty: ``good``, "approve"."""
        todo = list(script)
        self.execute(actions)
        while not self.outcome:
            self.execute(self._next(rollout, todo, good))
        return self.outcome

    def _next(self, rollout: Rollout, todo: list[Sample | str],
              good: Sample) -> list[AnyAction]:
        state = rollout.state
        if state == "applying":
            if todo and todo[0] == "rollback@apply":
                todo.pop(0)
                return rollout.rollback(self.now, "operator")
            return rollout.applied(self.now)
        if state in ("restoring", "rolling_back"):
            return rollout.restored(self.now)
        item = todo.pop(0) if todo else (good if state == "measuring" else "approve")
        if state == "measuring":
            deadline = rollout.next_deadline()
            assert deadline is not None
            self.now = deadline
        if isinstance(item, Sample):
            return rollout.measured(item, self.now)
        return {"approve": rollout.approve, "rollback": rollout.rollback,
                "abort": rollout.abort}[item](self.now)


def phases(journal: Sequence[RolloutStep]) -> list[str]:
    return [f"{e.phase}{e.step}" for e in journal]


def kinds(actions: Sequence[Action]) -> list[str]:
    return [type(a).__name__ if not isinstance(a, Journal) else f"J:{a.phase}"
            for a in actions]


def run(script: Sequence[Sample | str] = (), **kw: Any) -> tuple[Shell, Rollout]:
    shell, rollout = Shell(), Rollout(spec(**kw))
    shell.drive(rollout, rollout.start(shell.now), script)
    return shell, rollout


# --- conditions ----------------------------------------------------------------------------


def test_parse_condition() -> None:
    assert parse_condition("loss_pct < 1.0") == Condition("loss_pct", "<", 1.0)
    assert parse_condition(" max_util>=0.9 ") == Condition("max_util", ">=", 0.9)
    assert str(parse_condition("latency_ms <= 20")) == "latency_ms <= 20"


@pytest.mark.parametrize(("text", "complaint"), [
    ("loss < 1", "unknown metric 'loss'"),
    ("loss_pct = 1", "expected 'METRIC OP VALUE'"),
    ("loss_pct < lots", "'lots' is not a number"),
    ("loss_pct < nan", "finite"),
    ("", "expected"),
])
def test_a_bad_condition_names_its_text(text: str, complaint: str) -> None:
    with pytest.raises(ConditionError, match=complaint) as caught:
        parse_condition(text)
    assert caught.value.text == text
    assert repr(text) in str(caught.value)


def test_verdict_follows_argo() -> None:
    ok, fail = [parse_condition("loss_pct < 0.5")], [parse_condition("loss_pct > 2")]
    assert verdict(GOOD, ok, fail) == "success"
    assert verdict(BAD, ok, fail) == "failure"
    assert verdict(MEH, ok, fail) == "inconclusive"
    assert verdict(MEH, [], fail) == "success"  # no success condition: not failing is enough
    nan = msgspec.structs.replace(GOOD, loss_pct=float("nan"))
    assert verdict(nan, ok, fail) == "inconclusive"


# --- the plan ------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "pct", "counts"), [
    (3, 34, [1, 2, 3]), (4, 34, [1, 2, 4]), (5, 34, [1, 3, 5]), (1, 34, [1]),
    (2, 34, [1, 2]), (10, 25, [2, 5, 7, 10]), (3, 100, [3]), (3, 100 / 3, [1, 2, 3]),
    (4, 0.001, [1, 2, 3, 4]),
])
def test_plan_steps_cut_the_segment_by_share(n: int, pct: float, counts: list[int]) -> None:
    routers = [f"r{i}" for i in range(n)]
    steps = plan_steps(routers, pct)
    assert [len(s.routers) for s in steps] == [b - a for a, b in zip([0, *counts], counts,
                                                                      strict=False)]
    assert [s.share for s in steps] == [c / n for c in counts]
    assert [r for s in steps for r in s.routers] == routers
    assert all(0 < s.percent <= 100.0 for s in steps)


@pytest.mark.parametrize("bad", [
    {"rollout_percentage": 0.0}, {"rollout_percentage": 101.0}, {"routers": ()},
    {"routers": ("a", "a")}, {"monitoring_interval_s": 0.0}, {"failure_limit": -1},
    {"rollout_id": ""},
])
def test_a_bad_spec_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(RolloutError):
        spec(**bad)


def test_deploy_policy_needs_the_policy_inside_the_segment() -> None:
    change = PolicyChange(router="r2", target="r2--r9", attr="metric", old=10, new=30)
    policy = PolicyProposed(source="shadowd", seq=1, ts=T0, policy_id="p1", kind="igp_metric",
                            reason="manual", changes=(change,), target_util=0.8,
                            wc_before=1.2, wc_after=0.7)
    rollout = deploy_policy(policy, Segment("core", ("r1", "r2", "r3")), 34, 60.0,
                            rollout_id="ro1", success=["loss_pct < 1"], dry_run=True)
    assert rollout.spec.success_conditions == (Condition("loss_pct", "<", 1.0),)
    assert rollout.spec.driver_label == "dry-run"
    with pytest.raises(RolloutError, match="outside segment 'edge': r2"):
        deploy_policy(policy, Segment("edge", ("r1",)), 50, 60.0, rollout_id="ro2")


# --- the machine ---------------------------------------------------------------------------


def test_the_happy_path_widens_step_by_step() -> None:
    shell, rollout = run()
    assert shell.outcome == "completed"
    assert rollout.outcome == "completed"
    assert shell.holding == ["r1", "r2", "r3"]
    assert kinds(shell.actions) == [
        "J:started",
        "J:applying", "Apply", "J:applied", "Measure", "J:measured",
        "J:applying", "Apply", "J:applied", "Measure", "J:measured",
        "J:applying", "Apply", "J:applied", "Measure", "J:measured",
        "J:completed", "Alert", "Done"]
    applies = [a for a in shell.actions if isinstance(a, Apply)]
    assert [(a.routers, a.step) for a in applies] == [(("r1",), 1), (("r2",), 2), (("r3",), 3)]
    measured = [e for e in shell.journal if e.phase == "measured"]
    assert [e.share for e in measured] == [1 / 3, 2 / 3, 1.0]
    assert all(e.verdict == "success" and e.loss_pct == 0.1 for e in measured)
    started = shell.journal[0]
    assert (started.routers, started.percentage, started.interval_s) == (
        ("r1", "r2", "r3"), 34.0, INTERVAL)
    assert started.success == ("loss_pct < 0.5", "max_util <= 0.9")
    alert = next(a for a in shell.actions if isinstance(a, Alert))
    assert alert.kind == "rollout_completed"
    assert alert.fields["rollout_id"] == "ro1"
    assert rollout.next_deadline() is None


def test_measure_deadlines_are_exposed() -> None:
    rollout = Rollout(spec())
    rollout.start(T0)
    assert rollout.next_deadline() is None  # applying: nothing timed
    actions = rollout.applied(T0 + 2)
    assert actions[-1] == Measure(until=T0 + 2 + INTERVAL, step=1)
    assert rollout.next_deadline() == T0 + 2 + INTERVAL


def test_failure_at_the_first_gate_restores_exactly_what_was_applied() -> None:
    shell, _ = run([BAD], routers=("r1", "r2", "r3", "r4", "r5"))
    assert shell.outcome == "rolled_back"
    assert shell.holding == []
    tail = shell.actions[-8:]
    assert kinds(tail) == ["J:applied", "Measure", "J:measured", "Alert", "J:rolling_back",
                           "Restore", "J:rolled_back", "Alert", "Done"][-8:]
    assert Restore(routers=("r1",)) in shell.actions
    assert [a.kind for a in shell.actions if isinstance(a, Alert)] == [
        "rollout_failed_gate", "rollout_rolled_back"]
    assert shell.journal[-1].phase == "rolled_back"
    assert shell.journal[-1].routers == ("r1",)
    assert "loss_pct > 2" in shell.journal[-1].detail


def test_a_later_failure_restores_every_applied_router_in_reverse() -> None:
    shell, _ = run([GOOD, BAD], routers=("r1", "r2", "r3", "r4", "r5"))
    assert [a for a in shell.actions if isinstance(a, Restore)] == [
        Restore(routers=("r3", "r2", "r1"))]
    assert shell.holding == []


def test_failure_limit_one_tolerates_one_failure() -> None:
    shell, rollout = run([BAD, GOOD, GOOD, GOOD], failure_limit=1)
    assert shell.outcome == "completed"
    assert rollout.failures == 1
    gate1 = kinds(shell.actions)[:8]
    assert gate1 == ["J:started", "J:applying", "Apply", "J:applied", "Measure",
                     "J:measured", "Measure", "J:measured"]  # the same step, measured again
    shell, rollout = run([BAD, GOOD, BAD], failure_limit=1)
    assert shell.outcome == "rolled_back"
    assert rollout.failures == 2
    assert shell.holding == []


def test_inconclusive_holds_then_approve_widens() -> None:
    shell, _ = run([GOOD, MEH, "approve", GOOD])
    assert shell.outcome == "completed"
    assert phases(shell.journal)[6:9] == ["measured2", "held2", "approved2"]
    held = next(a for a in shell.actions if isinstance(a, Alert))
    assert held.kind == "rollout_held"
    assert "inconclusive" in str(held.fields["reason"])


def test_inconclusive_then_rollback_rolls_back() -> None:
    shell, _ = run([GOOD, MEH, "rollback"])
    assert shell.outcome == "rolled_back"
    assert shell.holding == []
    assert Restore(routers=("r2", "r1")) in shell.actions


def test_manual_approval_holds_before_the_first_step() -> None:
    rollout = Rollout(spec(manual_approval=True))
    actions = rollout.start(T0)
    assert kinds(actions) == ["J:started", "J:held", "Alert"]
    assert rollout.state == "held"
    assert rollout.touched == ()
    assert kinds(rollout.approve(T0)) == ["J:approved", "J:applying", "Apply"]
    shell, _ = run(["rollback"], manual_approval=True)
    assert shell.outcome == "rolled_back"
    assert Restore(routers=()) in shell.actions


def test_operator_rollback_while_applying_restores_the_step_in_flight() -> None:
    shell, _ = run([GOOD, "rollback@apply"])
    assert Restore(routers=("r2", "r1")) in shell.actions
    assert shell.holding == []


def test_abort_leaves_routers_and_says_which() -> None:
    shell, _ = run([GOOD, "abort"])
    assert shell.outcome == "aborted"
    assert shell.holding == ["r1", "r2"]
    assert shell.journal[-1].phase == "aborted"
    assert shell.journal[-1].routers == ("r1", "r2")


@pytest.mark.parametrize(("prepare", "call"), [
    ([], "applied"), ([], "approve"), ([], "restored"), ([], "rollback"), ([], "abort"),
    (["start"], "start"), (["start"], "measured"), (["start"], "approve"),
    (["start", "applied"], "applied"), (["start", "applied"], "restored"),
])
def test_illegal_inputs_raise_and_change_nothing(prepare: list[str], call: str) -> None:
    rollout = Rollout(spec())
    for name in prepare:
        getattr(rollout, name)(T0)
    before = (rollout.state, rollout.step, rollout.touched, rollout.next_deadline())
    feed = (lambda now: rollout.measured(GOOD, now)) if call == "measured" else getattr(
        rollout, call)
    with pytest.raises(RolloutError) as caught:
        feed(T0)
    assert (caught.value.input, caught.value.state) == (call, before[0])
    assert caught.value.rollout_id == "ro1"
    assert call in str(caught.value)
    assert (rollout.state, rollout.step, rollout.touched, rollout.next_deadline()) == before


def test_a_finished_rollout_takes_no_more_input() -> None:
    _, rollout = run()
    with pytest.raises(RolloutError, match="while done"):
        rollout.rollback(T0)


def test_the_journal_action_mirrors_the_log_record() -> None:
    envelope = {"source", "seq", "ts"}
    assert set(Journal.__struct_fields__) == set(RolloutStep.__struct_fields__) - envelope


# --- recovery ----------------------------------------------------------------------------

SCRIPTS: dict[str, tuple[list[Sample | str], dict[str, Any]]] = {
    "happy": ([], {}),
    "happy-5": ([], {"routers": ("a", "b", "c", "d", "e")}),
    "fail-first-gate": ([BAD], {}),
    "fail-later": ([GOOD, BAD], {"routers": ("a", "b", "c", "d", "e")}),
    "limit-tolerates": ([BAD, GOOD, BAD], {"failure_limit": 1}),
    "inconclusive-approve": ([GOOD, MEH, "approve"], {}),
    "inconclusive-rollback": ([GOOD, MEH, "rollback"], {}),
    "manual-approval": (["approve"], {"manual_approval": True}),
    "manual-rejected": (["rollback"], {"manual_approval": True}),
    "rollback-while-applying": ([GOOD, "rollback@apply"], {}),
    "abort": ([GOOD, "abort"], {}),
}


def crash_cases() -> Iterator[Any]:
    for name, (script, kw) in SCRIPTS.items():
        shell, _ = run(script, **kw)
        for i, (journal, holding) in enumerate(shell.crash_points):
            yield pytest.param(journal, holding, id=f"{name}-{i}-{journal[-1].phase}")


def recover_and_finish(journal: list[RolloutStep], holding: list[str],
                       good: Sample) -> Shell:
    """Restart from the journal and the production state a crash left; run to the end."""
    shell = Shell(journal=list(journal), holding=list(holding),
                  now=journal[-1].ts + 1)
    recovery = recover(journal)
    if recovery.decision == "nothing":
        assert recovery.actions == []
        assert recovery.rollout.outcome is not None
        shell.outcome = recovery.rollout.outcome
        return shell
    assert isinstance(recovery.actions[0], Journal)
    assert recovery.actions[0].phase == "resumed"
    assert recovery.reason
    assert recovery.reason in recovery.actions[0].detail[:160]
    shell.drive(recovery.rollout, recovery.actions, good=good)
    return shell


def assert_consistent(shell: Shell) -> None:
    """What production holds is what the journal's last word says."""
    last = shell.journal[-1]
    segment = shell.journal[0].routers
    if last.phase == "completed":
        assert sorted(shell.holding) == sorted(segment)
    elif last.phase == "rolled_back":
        assert shell.holding == []
    else:
        assert last.phase == "aborted"
        assert set(shell.holding) <= set(last.routers)
    assert recover(shell.journal).decision == "nothing"


@pytest.mark.parametrize(("journal", "holding"), list(crash_cases()))
@pytest.mark.parametrize("good", [GOOD, BAD], ids=["then-good", "then-bad"])
def test_recovery_from_every_crash_point_ends_consistent(
        journal: list[RolloutStep], holding: list[str], good: Sample) -> None:
    shell = recover_and_finish(journal, holding, good)
    assert_consistent(shell)


@pytest.mark.parametrize("name", ["fail-later", "limit-tolerates", "inconclusive-approve"])
def test_a_crash_during_recovery_is_recovered_too(name: str) -> None:
    script, kw = SCRIPTS[name]
    for journal, holding in run(script, **kw)[0].crash_points:
        first = recover_and_finish(journal, holding, GOOD)
        for journal2, holding2 in first.crash_points:
            assert_consistent(recover_and_finish(journal2, holding2, GOOD))


def test_recovery_rules() -> None:
    shell, _ = run([GOOD, GOOD], routers=("a", "b", "c", "d", "e"))
    journal = shell.journal
    cut = next(i for i, e in enumerate(journal) if e.phase == "applied" and e.step == 3)
    recovery = recover(journal[:cut + 1])  # step 3 applied, not yet measured
    assert recovery.decision == "resume"
    assert "step 2 is the last safe state" in recovery.reason
    assert kinds(recovery.actions) == ["J:resumed", "Restore"]
    assert recovery.actions[1] == Restore(routers=("e", "d"))  # step 3 added d, e
    assert kinds(recovery.rollout.restored(T0)) == ["J:applying", "Apply"]

    passed = next(i for i, e in enumerate(journal) if e.phase == "measured" and e.step == 2)
    recovery = recover(journal[:passed + 1])  # a safe point: nothing to restore
    assert kinds(recovery.actions) == ["J:resumed", "J:applying", "Apply"]

    shell, _ = run([BAD], routers=("a", "b", "c"))
    rolling = next(i for i, e in enumerate(shell.journal) if e.phase == "rolling_back")
    recovery = recover(shell.journal[:rolling + 1])
    assert recovery.decision == "rollback"
    assert "finishing the rollback" in recovery.reason
    assert recovery.actions[-1] == Restore(routers=("a",))
    failed = recover(shell.journal[:rolling])  # the gate failed; rolling_back not written
    assert failed.decision == "rollback"

    done = recover(shell.journal)
    assert done.decision == "nothing"
    assert "rolled_back" in done.reason


def test_recovery_of_a_held_rollout_holds_again() -> None:
    shell, _ = run([GOOD, MEH, "approve"])
    held = next(i for i, e in enumerate(shell.journal) if e.phase == "held")
    recovery = recover(shell.journal[:held + 1])
    assert recovery.decision == "resume"
    assert recovery.rollout.state == "held"
    assert kinds(recovery.actions) == ["J:resumed", "J:held", "Alert"]
    assert kinds(recovery.rollout.approve(T0)) == ["J:approved", "J:applying", "Apply"]


def test_recovery_refuses_a_journal_without_its_start() -> None:
    shell, _ = run()
    with pytest.raises(RolloutError, match="started"):
        recover(shell.journal[1:])
    with pytest.raises(RolloutError, match="started"):
        recover([])
    other = msgspec.structs.replace(shell.journal[3], rollout_id="ro9")
    with pytest.raises(RolloutError, match="belongs to rollout ro9"):
        recover([*shell.journal[:3], other])
