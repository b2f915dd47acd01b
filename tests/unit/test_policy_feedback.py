"""Feedback after a deployment: production's counters against the model's prediction."""

from __future__ import annotations

import pytest

from shadowd.core.events import LinkUtilization, PolicyChange, PolicyProposed
from shadowd.core.state import apply
from shadowd.policy import feedback
from tests.unit.test_policy_generate import detour_net

POLICY = PolicyProposed(source="shadowd", seq=1, ts=1.0, policy_id="p1", kind="igp_metric",
                        reason="manual", target_util=0.8, wc_before=0.95, wc_after=0.1,
                        changes=(PolicyChange(router="A", target="ac", attr="metric", old=1,
                                              new=5),))


def test_production_carrying_more_than_predicted_raises_the_scale() -> None:
    state = detour_net()  # with the policy A->B (9) and A->C (0.5) both cross ab (100)
    apply(state, LinkUtilization(source="agent", seq=1, ts=1.0, link="ab", ab_bps=18.0,
                                 ba_bps=0.0))
    found = feedback.compare(state, POLICY)
    assert found is not None
    assert found.predicted_util == pytest.approx(0.095)
    assert found.observed_util == pytest.approx(0.18)
    assert found.error == pytest.approx(0.18 / 0.095 - 1)
    assert feedback.next_scale(1.0, found.error, 0.5) == pytest.approx(1 + 0.5 * found.error)


def test_the_scale_is_bounded() -> None:
    assert feedback.next_scale(1.0, -1.0, 1.0) == feedback.SCALE_BOUNDS[0]
    assert feedback.next_scale(8.0, 5.0, 1.0) == feedback.SCALE_BOUNDS[1]


def test_no_traffic_no_feedback() -> None:
    state = detour_net()
    state.demands.clear()
    assert feedback.compare(state, POLICY) is None
