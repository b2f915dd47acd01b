"""What a gate would measure, as the model predicts it (the dry run's gates), and the
worst drain the guided run rolls out on purpose: checked against hand-computed loads."""

from __future__ import annotations

import pytest

from shadowd.core.events import PolicyChange
from shadowd.core.state import State
from shadowd.policy.drain import worst_drain
from shadowd.policy.effect import InvalidChange, gate_sample
from tests.fakes.engine import L, build


def squeeze_net() -> State:
    """A sends 12 to B over a fat direct link; its thin link to C (10) leads on to B too.
    Draining A leaves only the thin way: 12.5 offered to a link of 10."""
    return build(
        [L("ab", "A", "B", 1, capacity=100.0, delay_ms=1.0),
         L("ac", "A", "C", 1, capacity=10.0, delay_ms=2.0),
         L("cb", "C", "B", 1, capacity=10.0, delay_ms=2.0),
         L("ad", "A", "D", 2, capacity=100.0, delay_ms=3.0),
         L("db", "D", "B", 2, capacity=100.0, delay_ms=3.0)],
        [("A", "B", 12.0), ("A", "C", 0.5)],
    )


def test_a_gate_sample_is_the_model_with_the_changes_in() -> None:
    state = squeeze_net()
    calm = gate_sample(state, [], 1.0)
    assert calm.max_util == pytest.approx(0.12)  # 12 on ab (100)
    assert calm.loss_pct == 0.0
    assert calm.throughput_bps == pytest.approx(12.5)
    assert calm.latency_ms == pytest.approx((12.0 * 1.0 + 0.5 * 2.0) / 12.5)
    drained = [PolicyChange(router="A", target=k, attr="metric", old=1, new=65_535)
               for k in ("ab", "ad")]
    squeezed = gate_sample(state, drained, 1.0)
    assert squeezed.max_util == pytest.approx(1.25)  # 12.5 on ac (10)
    # ac drops 1 - 10/12.5 = 20% of all it carries; cb (12 of 10) drops 1/6 more of A->B
    delivered = 0.5 * 0.8 + 12.0 * 0.8 * (10.0 / 12.0)
    assert squeezed.throughput_bps == pytest.approx(delivered)
    assert squeezed.loss_pct == pytest.approx(100.0 * (1 - delivered / 12.5))
    assert squeezed.latency_ms == pytest.approx((12.0 * 4.0 + 0.5 * 2.0) / 12.5)
    half = gate_sample(state, [], 0.5)  # the feedback's demand scale
    assert half.max_util == pytest.approx(0.06)
    assert gate_sample(state, [], 1.0) == calm  # the state is not changed


def test_a_change_that_does_not_fit_is_refused_by_name() -> None:
    wrong = PolicyChange(router="A", target="zz", attr="metric", old=1, new=5)
    with pytest.raises(InvalidChange, match="no link 'zz'"):
        gate_sample(squeeze_net(), [wrong], 1.0)


def test_the_worst_drain_keeps_the_thinnest_link_of_the_router_that_hurts_most() -> None:
    drain = worst_drain(squeeze_net(), max_metric=65_535)
    assert drain is not None
    assert (drain.router, drain.kept.id) == ("A", "ac")
    assert sorted((c.target, c.old, c.new) for c in drain.changes) == [
        ("ab", 1, 65_535), ("ad", 2, 65_535)]
    assert drain.predicted.loss_pct > 10.0
    assert drain.predicted == gate_sample(squeeze_net(), drain.changes, 1.0)


def test_no_drain_without_a_router_of_two_links() -> None:
    line = build([L("ab", "A", "B", 1, capacity=10.0)], [("A", "B", 1.0)])
    assert worst_drain(line, max_metric=65_535) is None
