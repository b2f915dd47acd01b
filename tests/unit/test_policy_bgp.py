"""The BGP egress model: FRR's decision process, external traffic as internal demand, and
route-map proposals that move traffic off an overloaded egress; and the events' checks."""

from __future__ import annotations

import numpy as np
import pytest

from shadowd.core.checks import validate
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    AnyEvent,
    ExternalDemandSet,
    LinkAdded,
    PeerAdded,
    PeerRemoved,
    PolicyChange,
    PolicyProposed,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
    decode_batch,
    encode_batch,
)
from shadowd.core.state import State, apply, fold
from shadowd.policy.bgp import (
    BgpPolicy,
    IgpCosts,
    PeerPolicy,
    apply_changes,
    choose_egress,
    egress_demands,
    evaluate,
    peer_loads,
    policy_of,
    propose_bgp,
)
from shadowd.predict.records import Stamp

PREFIX = "203.0.113.0/24"
G = 1e9

#   r1 --1-- r2(A) --1-- r3 --1-- r4(B) --1-- r5, and r4 --5-- r1
# r1 is 1 from r2 and 3 from r4; r5 is 1 from r4 and 3 from r2; r3 is 1 from both.
RING = (("r1", "r2", 1), ("r2", "r3", 1), ("r3", "r4", 1), ("r4", "r1", 5), ("r4", "r5", 1))


def network(*peers: PeerAdded, demands: dict[str, float] | None = None,
            capacity: float = 10 * G) -> State:
    events: list[AnyEvent] = [RouterAdded(source="t", seq=i + 1, ts=0.0, router=f"r{i + 1}")
                              for i in range(5)]
    events += [LinkAdded(source="t", seq=10 + i, ts=0.0, link=f"{a}--{b}", a=a, b=b,
                         metric=m, capacity_bps=capacity) for i, (a, b, m) in enumerate(RING)]
    events += list(peers)
    events += [ExternalDemandSet(source="t", seq=100 + i, ts=0.0, src=src, prefix=PREFIX,
                                 rate_bps=rate)
               for i, (src, rate) in enumerate(sorted((demands or {}).items()))]
    state = State()
    for event in events:
        validate(state, event)
        apply(state, event)
    return state


def peer(name: str, router: str, *, asn: int = 64500, path: int = 1, med: int = 0,
         capacity: float = 10 * G, prefixes: tuple[str, ...] = (PREFIX,)) -> PeerAdded:
    return PeerAdded(source="t", seq=50 + ord(name[0]), ts=0.0, peer=name, router=router,
                     asn=asn, prefixes=prefixes, capacity_bps=capacity, as_path_len=path,
                     med=med)


EVERYONE = {f"r{i}": 1 * G for i in range(1, 6)}


def egress(state: State, policy: BgpPolicy | None = None) -> dict[str, str]:
    choices = choose_egress(state, policy or {}, IgpCosts.of(state))
    return {src: p for (src, _), p in choices.items()}


# --- the decision process -------------------------------------------------------------


def test_hot_potato_each_router_leaves_by_its_nearest_egress() -> None:
    state = network(peer("a", "r2", asn=1), peer("b", "r4", asn=2), demands=EVERYONE)
    # r3 is as near to both: the lowest egress router name (r2) breaks the tie
    assert egress(state) == {"r1": "a", "r2": "a", "r3": "a", "r4": "b", "r5": "b"}


def test_local_pref_beats_as_path_length() -> None:
    state = network(peer("a", "r2", path=3), peer("b", "r4"), demands=EVERYONE)
    assert set(egress(state).values()) == {"b"}
    assert set(egress(state, {"a": PeerPolicy(local_pref=200)}).values()) == {"a"}


def test_as_path_beats_med_and_prepending_moves_traffic() -> None:
    state = network(peer("a", "r2", med=100), peer("b", "r4", path=2), demands=EVERYONE)
    assert set(egress(state).values()) == {"a"}
    assert set(egress(state, {"a": PeerPolicy(prepend=2)}).values()) == {"b"}
    # equal lengths again: back to MED (same AS), which b wins
    assert set(egress(state, {"a": PeerPolicy(prepend=1)}).values()) == {"b"}


def test_med_beats_igp_cost_only_between_routes_of_the_same_as() -> None:
    same = network(peer("a", "r2", med=50), peer("b", "r4", med=10), demands=EVERYONE)
    assert set(egress(same).values()) == {"b"}
    other = network(peer("a", "r2", asn=1, med=50), peer("b", "r4", asn=2, med=10),
                    demands=EVERYONE)
    assert egress(other)["r1"] == "a"  # MEDs of different ASes are not compared: hot potato
    assert egress(same, {"b": PeerPolicy(med=90)})["r1"] == "a"  # the policy's MED wins


def test_an_egress_router_uses_another_egress_with_a_higher_local_pref() -> None:
    state = network(peer("a", "r2"), peer("b", "r4"), demands=EVERYONE)
    chosen = egress(state, {"b": PeerPolicy(local_pref=110)})
    assert chosen["r2"] == "b"  # its own eBGP route loses on local preference
    assert egress(state)["r2"] == "a"  # a tie: its own eBGP route first


def test_a_down_egress_router_withdraws_its_peer() -> None:
    state = network(peer("a", "r2"), peer("b", "r4"), demands={"r1": G})
    apply(state, RouterHealth(source="t", seq=200, ts=0.0, router="r2", up=False))
    assert egress(state) == {"r1": "b"}


def test_the_most_specific_announcement_wins() -> None:
    state = network(peer("a", "r2", prefixes=("203.0.112.0/23",)), peer("b", "r4"),
                    demands={"r1": G})
    assert egress(state) == {"r1": "b"}


# --- traffic ----------------------------------------------------------------------------


def test_external_traffic_becomes_internal_demand_to_the_egress() -> None:
    state = network(peer("a", "r2", asn=1), peer("b", "r4", asn=2), demands=EVERYONE)
    costs = IgpCosts.of(state)
    choices = choose_egress(state, {}, costs)
    matrix = egress_demands(state, choices, costs.net)
    i = costs.net.index
    assert matrix[i["r1"], i["r2"]] == G
    assert matrix[i["r5"], i["r4"]] == G
    assert matrix[i["r2"]].sum() == 0.0  # the egress's own traffic leaves directly
    assert np.count_nonzero(matrix) == 3
    assert peer_loads(state, choices) == {"a": 3 * G, "b": 2 * G}


def test_effect_counts_peer_links_and_internal_links() -> None:
    state = network(peer("a", "r2", asn=1, capacity=4 * G), peer("b", "r4", asn=2),
                    demands=EVERYONE, capacity=100 * G)
    effect = evaluate(state, {}, IgpCosts.of(state))
    assert effect.worst == "peer a"
    assert effect.worst_util == pytest.approx(0.75)


# --- proposals --------------------------------------------------------------------------


def test_an_overloaded_egress_gets_a_local_pref_raise_on_the_other_peer() -> None:
    state = network(peer("a", "r2", capacity=4 * G), peer("b", "r4", capacity=10 * G),
                    demands=EVERYONE, capacity=100 * G)
    proposal = propose_bgp(state, target_util=0.7, policy_id="p1", reason="cycle",
                           stamp=Stamp(seq=1, ts=5.0))
    assert proposal is not None
    assert proposal.kind == "bgp"
    assert proposal.changes == (PolicyChange(router="r4", target="b", attr="local_pref",
                                             old=100, new=110),)
    assert proposal.wc_before == pytest.approx(0.75)
    assert proposal.wc_link_before == "peer a"
    assert proposal.wc_after == pytest.approx(0.5)
    assert proposal.wc_link_after == "peer b"
    assert (proposal.demands_moved, proposal.disconnected) == (3, 0)
    assert decode_batch(encode_batch([proposal])) == [proposal]  # within the schema
    deployed = policy_of([proposal])
    assert set(egress(state, deployed).values()) == {"b"}


def test_nothing_is_proposed_under_target_or_when_no_setting_helps() -> None:
    state = network(peer("a", "r2"), peer("b", "r4"), demands=EVERYONE)
    assert propose_bgp(state, target_util=0.8, policy_id="p", reason="r",
                       stamp=Stamp(seq=1, ts=0.0)) is None
    lone = network(peer("a", "r2", capacity=G), demands=EVERYONE)
    assert propose_bgp(lone, target_util=0.8, policy_id="p", reason="r",
                       stamp=Stamp(seq=1, ts=0.0)) is None


def test_proposals_start_from_the_policy_production_runs() -> None:
    state = network(peer("a", "r2", capacity=4 * G), peer("b", "r4", capacity=20 * G),
                    demands=EVERYONE, capacity=100 * G)
    current = {"a": PeerPolicy(prepend=1)}
    proposal = propose_bgp(state, target_util=0.9, policy_id="p", reason="r",
                           stamp=Stamp(seq=1, ts=0.0), current=current)
    assert proposal is None  # a's prepend already sends everything to b (at 25%)
    current = {"b": PeerPolicy(prepend=3)}
    proposal = propose_bgp(state, target_util=0.7, policy_id="p", reason="r",
                           stamp=Stamp(seq=1, ts=0.0), current=current)
    assert proposal is not None
    assert proposal.changes[0].target == "b"
    assert proposal.changes[0].attr == "local_pref"  # the preferred knob
    assert set(egress(state, apply_changes(current, proposal.changes)).values()) == {"b"}


def test_policy_of_folds_deployed_policies_in_order() -> None:
    def proposed(*changes: PolicyChange) -> PolicyProposed:
        return PolicyProposed(source="shadowd", seq=1, ts=0.0, policy_id="p", kind="bgp",
                              reason="r", changes=changes, target_util=0.8, wc_before=1.0,
                              wc_after=0.5)

    first = proposed(PolicyChange(router="r4", target="b", attr="local_pref", old=100, new=150),
                     PolicyChange(router="r2", target="a", attr="prepend", old=0, new=2))
    second = proposed(PolicyChange(router="r4", target="b", attr="local_pref", old=150, new=120),
                      PolicyChange(router="r1", target="r1--r2", attr="metric", old=1, new=5))
    assert policy_of([first, second]) == {"b": PeerPolicy(local_pref=120),
                                          "a": PeerPolicy(prepend=2)}


# --- the events' checks ---------------------------------------------------------------------


def test_peers_and_external_demands_are_validated() -> None:
    state = network()
    with pytest.raises(InvalidEvent, match="unknown egress router 'r9'"):
        validate(state, peer("a", "r9"))
    with pytest.raises(InvalidEvent, match="bad prefix"):
        validate(state, peer("a", "r1", prefixes=("203.0.113.1/24",)))
    with pytest.raises(InvalidEvent, match="unknown demand source"):
        validate(state, ExternalDemandSet(source="t", seq=1, ts=0.0, src="r9", prefix=PREFIX,
                                          rate_bps=1.0))
    with pytest.raises(InvalidEvent, match="unknown peer"):
        validate(state, PeerRemoved(source="t", seq=1, ts=0.0, peer="zz"))


def test_removing_a_router_drops_its_peers_and_external_demands() -> None:
    state = network(peer("a", "r2"), peer("b", "r4"), demands={"r2": G, "r1": G})
    fold([RouterRemoved(source="t", seq=300, ts=0.0, router="r2")], state)
    assert set(state.peers) == {"b"}
    assert state.ext_demands == {"r1": {PREFIX: G}}
    assert egress(state) == {"r1": "b"}
