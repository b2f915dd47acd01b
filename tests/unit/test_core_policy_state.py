"""The policy records fold into ``State.policies``: what became of each proposal, which
rollouts are still open (the journal a restart recovers from) and the latest calibration."""

from __future__ import annotations

import pytest

from shadowd.core.checks import validate
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import PolicyFeedback, RolloutStep
from shadowd.core.state import State, digest, fold, view_digest
from tests.unit.samples import SAMPLES
from tests.unit.test_core_events import POLICY_SAMPLES

PROPOSED, VALIDATED, STEP, FEEDBACK = POLICY_SAMPLES[3:]


def _step(seq: int, phase: str) -> RolloutStep:
    return RolloutStep(source="shadowd", seq=seq, ts=float(seq), rollout_id="r7",
                       policy_id="p5", segment="core", phase=phase)  # type: ignore[arg-type]


def _status(state: State) -> str:
    return state.policies["p5"].status


def test_a_policy_is_followed_from_proposal_to_deployment() -> None:
    state = fold([*SAMPLES, PROPOSED, VALIDATED])
    assert _status(state) == "validated"
    fold([_step(10, "started"), _step(11, "applying")], state)
    assert _status(state) == "deploying"
    assert [e.phase for e in state.open_rollouts["r7"]] == ["started", "applying"]
    fold([_step(12, "completed")], state)
    assert _status(state) == "deployed"
    assert state.open_rollouts == {}
    assert [e.phase for e in state.policies["p5"].steps] == ["started", "applying", "completed"]


def test_feedback_sets_the_next_cycles_calibration() -> None:
    state = fold([*SAMPLES, PROPOSED, FEEDBACK])
    assert state.demand_scale == pytest.approx(1.08)
    assert state.policies["p5"].feedback == FEEDBACK


def test_records_about_an_unknown_policy_are_refused() -> None:
    state = fold(SAMPLES)
    for event in (VALIDATED, STEP, FEEDBACK):
        with pytest.raises(InvalidEvent, match="unknown policy 'p5'"):
            validate(state, event)


def test_policies_leave_the_network_view_alone_but_not_the_digest() -> None:
    state = fold(SAMPLES)
    view, whole = view_digest(state), digest(state)
    fold([PROPOSED, PolicyFeedback(source="shadowd", seq=9, ts=9.0, policy_id="p5",
                                   predicted_util=0.5, observed_util=0.5, error=0.0)], state)
    assert view_digest(state) == view
    assert digest(state) != whole
    assert fold([*SAMPLES, PROPOSED]).fork() == fold([*SAMPLES, PROPOSED])  # it round-trips
