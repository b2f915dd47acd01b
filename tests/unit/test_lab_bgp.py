"""The lab's BGP side as data: peers in the plan, their FRR config, and reading routes."""

from __future__ import annotations

import pytest

from shadowd.core.events import RouterAdded
from shadowd.core.state import apply
from shadowd.lab.bgpread import BgpBest, best_routes
from shadowd.lab.frrconf import render, render_peer
from shadowd.lab.plan import LabError, LabSettings, plan
from tests.unit.test_policy_bgp import PREFIX, network, peer

SETTINGS = LabSettings(lab_id="t")


def test_peers_get_a_namespace_a_31_and_keep_them() -> None:
    state = network(peer("a", "r2", asn=64501, med=5, path=3), peer("b", "r4", asn=64502))
    first = plan(state, SETTINGS)
    a = first.peers["a"]
    assert (a.ns, a.ifname, a.addr, a.peer_addr, a.route_map) == (
        "t-peer-a", "p0", "10.128.0.0", "10.128.0.1", "PEER-a-in")
    assert first.bgp
    del state.peers["a"]
    again = plan(state, SETTINGS, first)
    assert again.peers["b"] == first.peers["b"]


def test_a_peer_namespace_taken_by_a_router_is_refused() -> None:
    state = network(peer("a", "r2"))
    apply(state, RouterAdded(source="t", seq=999, ts=0.0, router="peer-a"))
    with pytest.raises(LabError, match="would share namespace t-peer-a"):
        plan(state, SETTINGS)


def test_frr_config_of_an_egress_router_and_its_peer() -> None:
    lab = plan(network(peer("a", "r2", asn=64501, med=5, path=3)), SETTINGS)
    egress = render(lab, "r2", SETTINGS)
    assert "router bgp 65000\n bgp router-id 10.255.0.2\n" in egress
    assert " neighbor 10.128.0.1 remote-as 64501\n" in egress
    assert "  neighbor 10.128.0.1 route-map PEER-a-in in\n" in egress
    assert "  neighbor 10.255.0.1 next-hop-self\n" in egress
    assert "route-map PEER-a-in permit 10\n!\n" in egress
    assert "route-map" not in render(lab, "r1", SETTINGS).split("router bgp")[1]
    outside = render_peer(lab, "a")
    assert f"  network {PREFIX}\n" in outside
    assert " set metric 5\n set as-path prepend 64501 64501\n" in outside
    assert "router bgp" not in render(plan(network(), SETTINGS), "r1", SETTINGS)


def test_best_routes_name_the_egress_and_the_peer() -> None:
    lab = plan(network(peer("a", "r2", asn=64501), peer("b", "r4", asn=64502)), SETTINGS)
    rib = {"routes": {PREFIX: [
        {"valid": True, "pathFrom": "internal", "path": "64501",
         "nexthops": [{"ip": "10.255.0.2"}]},
        {"valid": True, "bestpath": True, "pathFrom": "internal", "path": "64502",
         "nexthops": [{"ip": "10.255.0.4"}]},
    ]}}
    assert best_routes(lab, rib) == {PREFIX: BgpBest(
        prefix=PREFIX, nexthop="10.255.0.4", egress="r4", peer="b", external=False,
        as_path="64502")}
    direct = {"routes": {PREFIX: [{"bestpath": True, "pathFrom": "external", "path": "64501",
                                   "nexthops": [{"ip": "10.128.0.1"}]}]}}
    assert best_routes(lab, direct)[PREFIX].peer == "a"
