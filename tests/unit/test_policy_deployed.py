"""The BGP settings the shadow lab mirrors: production's deployed BGP policies, per
(egress router, peer), the edits between two such maps and their vtysh lines; and the
lab's side remembering what it set (without FRR: its lines function is a fake)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import msgspec

from shadowd.core.events import PolicyChange, PolicyProposed, RolloutStep
from shadowd.core.state import State, apply
from shadowd.lab.plan import LabPlan, LabSettings, plan
from shadowd.lab.route_maps import Key, RouteMapSync
from shadowd.policy.bgp import PeerPolicy
from shadowd.policy.deployed import Edit, deployed_bgp, edit_lines, edits, route_maps
from shadowd.services.lab_target import LabTarget
from tests.unit.test_policy_bgp import network, peer

Attr = Literal["metric", "local_pref", "med", "prepend"]
Phase = Literal["completed", "rolled_back", "aborted", "held"]


def two_peers() -> State:
    return network(peer("a", "r2", asn=64501), peer("b", "r4", asn=64502))


def propose(state: State, policy_id: str, *changes: tuple[str, str, Attr, int],
            kind: Literal["igp_metric", "bgp"] = "bgp") -> None:
    apply(state, PolicyProposed(
        source="shadowd", seq=len(state.policies) + 1, ts=1.0, policy_id=policy_id,
        kind=kind, reason="t", target_util=0.8, wc_before=0.9, wc_after=0.7,
        changes=tuple(PolicyChange(router=r, target=t, attr=attr, old=0, new=new)
                      for r, t, attr, new in changes)))


def close(state: State, policy_id: str, phase: Phase, ts: float) -> None:
    apply(state, RolloutStep(source="shadowd", seq=int(ts), ts=ts, rollout_id=f"ro-{policy_id}",
                             policy_id=policy_id, segment="all", phase=phase))


def test_deployed_bgp_policies_fold_in_the_order_their_rollouts_completed() -> None:
    state = two_peers()
    propose(state, "later", ("r2", "a", "local_pref", 150), ("r4", "b", "med", 30))
    propose(state, "first", ("r2", "a", "local_pref", 200))
    propose(state, "undone", ("r4", "b", "prepend", 3))
    propose(state, "waiting", ("r4", "b", "local_pref", 300))
    propose(state, "igp", ("r1", "r1--r2", "metric", 7), kind="igp_metric")
    close(state, "first", "completed", 5.0)
    close(state, "later", "completed", 7.0)  # proposed first, deployed last: it wins
    close(state, "undone", "completed", 8.0)
    close(state, "undone", "rolled_back", 9.0)
    close(state, "igp", "completed", 10.0)
    assert [p.policy_id for p in deployed_bgp(state)] == ["first", "later"]
    assert route_maps(state) == {("r2", "a"): PeerPolicy(local_pref=150),
                                 ("r4", "b"): PeerPolicy(med=30)}


def test_peers_gone_and_settings_back_at_their_defaults_are_left_out() -> None:
    state = two_peers()
    propose(state, "p", ("r2", "a", "local_pref", 200), ("r4", "b", "local_pref", 100))
    close(state, "p", "completed", 2.0)
    del state.peers["a"]
    assert route_maps(state) == {}


def test_no_deployed_policy_asks_for_nothing() -> None:
    state = two_peers()
    propose(state, "p", ("r2", "a", "local_pref", 200))
    close(state, "p", "aborted", 2.0)
    assert route_maps(state) == {}


def test_edits_are_the_settings_that_differ_with_their_new_values() -> None:
    have = {("r2", "a"): PeerPolicy(local_pref=200), ("r4", "b"): PeerPolicy(prepend=2)}
    want = {("r2", "a"): PeerPolicy(local_pref=200, med=30)}
    assert edits(have, want) == [Edit("r2", "a", "med", 30), Edit("r4", "b", "prepend", 0)]
    back = edits(want, {})
    assert back == [Edit("r2", "a", "local_pref", 100), Edit("r2", "a", "med", None)]
    assert all(e.clears for e in back)
    assert edits(want, dict(want)) == []


def lab_of(state: State) -> LabPlan:
    return plan(state, LabSettings(lab_id="t"))


def test_edit_lines_set_and_clear_then_refresh_each_session_once() -> None:
    target = LabTarget(lab_of(two_peers()))
    todo = [Edit("r2", "a", "local_pref", 200), Edit("r2", "a", "med", None),
            Edit("r4", "b", "prepend", 2)]
    assert edit_lines(todo, target, "ospf") == {
        "r2": ["configure terminal",
               "route-map PEER-a-in permit 10", "set local-preference 200", "exit",
               "route-map PEER-a-in permit 10", "no set metric", "exit",
               "end", "clear bgp ipv4 unicast 10.128.0.1 soft in"],
        "r4": ["configure terminal",
               "route-map PEER-b-in permit 10", "no set as-path prepend",
               "set as-path prepend last-as 2", "exit",
               "end", "clear bgp ipv4 unicast 10.128.0.3 soft in"]}
    cleared = edit_lines([Edit("r2", "a", "local_pref", 100)], target, "ospf")["r2"]
    assert cleared[1:4] == ["route-map PEER-a-in permit 10", "no set local-preference", "exit"]


class Recorder:
    """A lines function that records what it was asked and asks for no vtysh."""

    def __init__(self) -> None:
        self.asked: list[tuple[dict[Key, PeerPolicy], dict[Key, PeerPolicy]]] = []

    def __call__(self, have: Mapping[Key, PeerPolicy], want: Mapping[Key, PeerPolicy],
                 lab: LabPlan) -> dict[str, list[str]]:
        self.asked.append((dict(have), dict(want)))
        return {}


async def test_the_lab_side_forgets_settings_of_routers_restarted_or_peers_rebuilt() -> None:
    state = two_peers()
    propose(state, "p", ("r2", "a", "local_pref", 200), ("r4", "b", "med", 30))
    close(state, "p", "completed", 2.0)
    lab, everyone = lab_of(state), {"r1", "r2", "r3", "r4", "r5"}
    lines = Recorder()
    sync = RouteMapSync(route_maps, lines)
    want = route_maps(state)
    assert await sync.reconcile(state, lab, everyone) == []
    assert lines.asked[-1] == ({}, want)
    await sync.reconcile(state, lab, everyone)
    assert lines.asked[-1] == (want, want)

    await sync.reconcile(state, lab, everyone - {"r4"})  # r4 stopped: bare when it starts
    assert lines.asked[-1] == ({("r2", "a"): want[("r2", "a")]}, {("r2", "a"): want[("r2", "a")]})
    await sync.reconcile(state, lab, everyone)
    assert lines.asked[-1][0] == {("r2", "a"): want[("r2", "a")]}

    rebuilt = state.fork()  # a's session is rebuilt (another AS): its route-map with it
    rebuilt.peers["a"] = msgspec.structs.replace(state.peers["a"], asn=64999)
    await sync.reconcile(rebuilt, lab_of(rebuilt), everyone)
    assert lines.asked[-1][0] == {("r4", "b"): want[("r4", "b")]}

    sync.forget()
    await sync.reconcile(state, lab, everyone)
    assert lines.asked[-1][0] == {}
