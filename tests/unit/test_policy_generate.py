"""IGP metric proposals: checked by re-evaluating with the engine, never by trusting the
proposal's own numbers."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest

from shadowd.core.errors import ShadowdError
from shadowd.core.events import ENCODER, PolicyChange, PolicyProposed, decode_event
from shadowd.core.state import State, fold
from shadowd.engine.loads import route
from shadowd.engine.network import Network, demand_matrix
from shadowd.engine.sweep import SweepResult, single_links, single_routers, sweep
from shadowd.policy.effect import InvalidChange, apply_changes, predicted_utilisation
from shadowd.policy.generate import propose_metrics, search_metrics
from shadowd.predict.records import Stamp
from shadowd.topology import topohub_topology
from tests.fakes.engine import L, build

STAMP = Stamp(seq=7, ts=1000.0)


def engine_sweep(state: State, scale: float = 1.0, nodes: bool = False) -> SweepResult:
    net = Network.from_state(state)
    routing = route(net, demand_matrix(state, net) * scale)
    return sweep(routing, single_routers(net) if nodes else single_links(net))


def detour_net() -> State:
    """A->B goes direct over a fat link; when it fails, the thin detour A-C-B (cost 2)
    takes all 9 (90%) although the fat A-D-B (cost 4) has room. A->C rides the thin link."""
    return build(
        [L("ab", "A", "B", 1, capacity=100.0), L("ac", "A", "C", 1, capacity=10.0),
         L("cb", "C", "B", 1, capacity=10.0), L("ad", "A", "D", 2, capacity=100.0),
         L("db", "D", "B", 2, capacity=100.0)],
        [("A", "B", 9.0), ("A", "C", 0.5)],
    )


def propose(state: State, target: float, **kw: Any) -> PolicyProposed | None:
    return propose_metrics(state, stamp=STAMP, policy_id="p1", reason="manual",
                           target_util=target, **kw)


def test_a_failure_overload_gets_a_small_fix_the_engine_confirms() -> None:
    state = detour_net()
    assert engine_sweep(state).wc_util.max() == pytest.approx(0.95)
    policy = propose(state, 0.8)
    assert policy is not None
    assert 1 <= len(policy.changes) <= 2
    confirmed = engine_sweep(apply_changes(state, policy.changes))
    assert confirmed.wc_util.max() <= 0.8
    assert policy.wc_after == pytest.approx(confirmed.wc_util.max())
    assert policy.wc_before == pytest.approx(0.95)
    assert policy.wc_link_before == "ac A->C"
    assert policy.wc_failure_before == "link:ab"
    assert policy.failure_set == "single links"
    assert policy.disconnected == 0
    assert all(1 <= c.new <= 65_535 and c.attr == "metric" for c in policy.changes)
    assert (policy.source, policy.seq, policy.ts) == ("shadowd", 7, 1000.0)
    assert decode_event(ENCODER.encode(policy)) == policy  # within every limit


def test_demands_moved_counts_changed_no_failure_paths() -> None:
    state = detour_net()
    policy = propose(state, 0.8)
    assert policy is not None
    after = apply_changes(state, policy.changes)
    net_before, net_after = Network.from_state(state), Network.from_state(after)
    moved = 0
    for src, dst in (("A", "B"), ("A", "C")):  # the two demands, by their paths
        old, new = (route(net, _one(net, src, dst)).load > 0 for net in (net_before, net_after))
        moved += not np.array_equal(old, new)
    assert policy.demands_moved == moved


def _one(net: Network, src: str, dst: str) -> np.ndarray:
    demand = np.zeros((net.size, net.size))
    demand[net.index[src], net.index[dst]] = 1.0
    return demand


def test_already_under_target_is_none() -> None:
    assert propose(detour_net(), 0.96) is None


def test_a_bridge_that_must_carry_everything_is_none() -> None:
    state = build([L("ab", "A", "B", 1, capacity=10.0), L("bc", "B", "C", 1, capacity=100.0),
                   L("cd", "C", "D", 1, capacity=100.0), L("bd", "B", "D", 3, capacity=100.0)],
                  [("A", "C", 15.0), ("A", "D", 5.0)])
    assert propose(state, 0.9) is None
    found = search_metrics(state, target_util=0.9, budget=50)
    assert not found.changes
    assert found.evaluations <= 50


def test_demand_scale_multiplies_every_demand() -> None:
    state = detour_net()
    assert propose(state, 0.8, demand_scale=0.5) is None  # 0.475 at half the traffic
    policy = propose(state, 0.8, demand_scale=1.5)
    assert policy is not None
    assert policy.demand_scale == 1.5
    assert policy.wc_before == pytest.approx(1.425)
    assert engine_sweep(apply_changes(state, policy.changes), 1.5).wc_util.max() <= 0.8


def test_a_change_never_disconnects() -> None:
    state = detour_net()
    policy = propose(state, 0.5, max_changes=4)
    assert policy is not None
    before, after = engine_sweep(state), engine_sweep(apply_changes(state, policy.changes))
    assert policy.disconnected == 0
    assert [len(x) for x in after.disconnected] == [len(x) for x in before.disconnected]
    assert after.wc_util.max() < before.wc_util.max()


def test_node_failures() -> None:
    # A->B goes over E; when router E fails the thin A-C-B (cost 3) takes it all.
    state = build(
        [L("ae", "A", "E", 1, capacity=100.0), L("eb", "E", "B", 1, capacity=100.0),
         L("ac", "A", "C", 1, capacity=10.0), L("cb", "C", "B", 2, capacity=10.0),
         L("ad", "A", "D", 2, capacity=100.0), L("db", "D", "B", 2, capacity=100.0)],
        [("A", "B", 9.0)],
    )
    assert engine_sweep(state).wc_util.max() == pytest.approx(0.9)  # single links too
    policy = propose(state, 0.5, failure_set="nodes")
    assert policy is not None
    assert policy.failure_set == "single routers"
    assert policy.wc_failure_before == "router:E"
    after = engine_sweep(apply_changes(state, policy.changes), nodes=True).wc_util.max()
    assert after == pytest.approx(policy.wc_after)
    assert after <= 0.5


def test_apply_changes_sets_the_routers_own_direction_and_leaves_the_state() -> None:
    state = detour_net()
    fork = apply_changes(state, [
        PolicyChange(router="A", target="ab", attr="metric", old=1, new=5),
        PolicyChange(router="B", target="db", attr="metric", old=2, new=9),
        PolicyChange(router="A", target="peer1", attr="local_pref", old=100, new=200),
    ])
    assert (fork.links["ab"].metric, fork.links["ab"].reverse_metric) == (5, 1)
    assert (fork.links["db"].metric, fork.links["db"].reverse_metric) == (2, 9)
    assert state.links["ab"].metric == 1
    assert state.links["db"].reverse_metric == 2


@pytest.mark.parametrize(("change", "words"), [
    (PolicyChange(router="A", target="zz", attr="metric", old=1, new=2), ["no link 'zz'"]),
    (PolicyChange(router="C", target="ab", attr="metric", old=1, new=2),
     ["'C' is not an end of ab", "A", "B"]),
    (PolicyChange(router="A", target="ab", attr="metric", old=1, new=0), ["outside 1.."]),
])
def test_apply_changes_errors_name_what_is_wrong(change: PolicyChange, words: list[str]) -> None:
    with pytest.raises(InvalidChange) as err:
        apply_changes(detour_net(), [change])
    assert isinstance(err.value, ShadowdError)
    assert err.value.change == change
    text = str(err.value)
    assert f"metric of {change.router} on {change.target}" in text
    assert all(w in text for w in words)


def test_predicted_utilisation_is_the_no_failure_load_with_the_policy() -> None:
    state = detour_net()
    policy = propose(state, 0.8)
    assert policy is not None
    util = predicted_utilisation(state, policy)
    assert set(util) == {(k, d) for k in state.links for d in ("ab", "ba")}
    assert policy.changes == (PolicyChange(router="A", target="ac", attr="metric", old=1, new=5),)
    assert util[("ab", "ab")] == pytest.approx(0.095)  # A->C now goes A-B-C
    assert util[("cb", "ba")] == pytest.approx(0.05)
    assert util[("ac", "ab")] == util[("ab", "ba")] == 0.0
    doubled = predicted_utilisation(state, policy, demand_scale=2.0)
    assert doubled[("ab", "ab")] == pytest.approx(0.19)
    noop = msgspec.structs.replace(policy, changes=())
    assert predicted_utilisation(state, noop)[("ac", "ab")] == pytest.approx(0.05)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="target_util"):
        search_metrics(detour_net(), target_util=0.0)
    with pytest.raises(ValueError, match="failure set"):
        search_metrics(detour_net(), target_util=0.5, failure_set="pairs")  # type: ignore[arg-type]


def test_geant_over_target_gets_a_proposal_the_engine_confirms() -> None:
    state = fold(topohub_topology("sndlib/geant"))
    scale = 1.0 / float(engine_sweep(state).wc_util.max())  # the worst case at 100%
    found = search_metrics(state, target_util=0.9, demand_scale=scale, max_changes=4)
    assert found.reached
    assert 1 <= len(found.changes) <= 4
    assert found.evaluations <= 400
    confirmed = engine_sweep(apply_changes(state, found.changes), scale).wc_util.max()
    assert confirmed <= 0.9
    assert confirmed == pytest.approx(found.after.wc)
    assert found.disconnected == 0


def test_geant_unreachable_target_is_best_effort_or_none() -> None:
    state = fold(topohub_topology("sndlib/geant"))
    scale = 1.2 / float(engine_sweep(state).wc_util.max())
    best = propose(state, 0.9, demand_scale=scale, budget=120)
    assert best is not None
    assert 0.9 < best.wc_after < best.wc_before
    assert len(best.changes) <= 4
    assert engine_sweep(apply_changes(state, best.changes), scale).wc_util.max() == (
        pytest.approx(best.wc_after))
    assert propose(state, 0.9, demand_scale=scale, budget=120, partial=False) is None
