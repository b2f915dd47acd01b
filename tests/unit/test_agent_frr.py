"""FRR reader, pure parts: vtysh JSON (shapes as FRR 8 prints them) to interfaces, links
inferred from shared subnets, and counter deltas to rates."""

from __future__ import annotations

from typing import Any

from shadowd.agent.frr import (
    IfCounters,
    build_state,
    infer_links,
    interval_rates,
    parse_router,
)


def show_interface(name: str, address: str, status: str = "up") -> dict[str, Any]:
    return {name: {"operationalStatus": status, "administrativeStatus": "up", "speed": 10000,
                   "ipAddresses": [{"address": address, "secondary": False},
                                   {"address": "fe80::1/64", "secondary": False}]},
            "lo": {"operationalStatus": "up", "speed": 0, "ipAddresses": []}}


def ospf_interface(name: str, cost: int) -> dict[str, Any]:
    return {"interfaces": {name: {"ifUp": True, "ospfEnabled": True, "cost": cost}}}


def ospf_neighbor(iface: str, state: str = "Full/-") -> dict[str, Any]:
    return {"neighbors": {"10.255.0.9": [{"nbrState": state, "ifaceName": f"{iface}:10.0.0.1",
                                          "ifaceAddress": "10.0.0.2"}]}}


def reading(name: str, address: str, cost: int, *, status: str = "up", nbr: str = "Full/-"
            ) -> Any:
    return parse_router(show_interface(name, address, status), ospf_interface(name, cost),
                        ospf_neighbor(name, nbr), {"routerId": "10.255.0.1"})


def test_parse_router_reads_state_speed_subnets_cost_and_adjacency() -> None:
    r = reading("eth0", "10.0.0.1/30", 15)
    eth0 = r.ifaces["eth0"]
    assert (eth0.up, eth0.speed_mbit, eth0.networks, eth0.cost, eth0.full) == (
        True, 10000, ("10.0.0.0/30",), 15, True)
    assert r.router_id == "10.255.0.1"
    assert r.ifaces["lo"].networks == ()


def test_links_are_point_to_point_subnets_between_two_routers() -> None:
    readings = {"b": reading("e1", "10.0.0.2/30", 7), "a": reading("e0", "10.0.0.1/30", 5),
                "c": reading("e9", "10.1.0.1/24", 1)}
    [link] = infer_links(readings)
    assert (link.a, link.a_iface, link.b, link.b_iface) == ("a", "e0", "b", "e1")
    state = build_state(readings, {"a": True, "b": True, "c": True}, {},
                        default_capacity_bps=1e9)
    built = state.links[link.id]
    assert (built.metric, built.reverse_metric, built.capacity_bps, built.up) == (
        5, 7, 10e9, True)


def test_a_link_without_full_adjacency_or_carrier_is_down() -> None:
    alive = {"a": True, "b": True}
    a = reading("e0", "10.0.0.1/30", 5, nbr="Init/-")
    for b in (reading("e1", "10.0.0.2/30", 7, status="down"),
              reading("e1", "10.0.0.2/30", 7, nbr="Init/-")):
        state = build_state({"a": a, "b": b}, alive, {}, default_capacity_bps=1e9)
        assert [lk.up for lk in state.links.values()] == [False]


def test_rates_are_counter_deltas_over_the_time_between_polls() -> None:
    c0 = IfCounters(tx_bytes=1000, rx_bytes=0, drops=1, errors=0)
    c1 = IfCounters(tx_bytes=3500, rx_bytes=250, drops=4, errors=0)
    rates = interval_rates({("a", "e0"): (10.0, c0)}, {("a", "e0"): (20.0, c1),
                                                       ("a", "e1"): (20.0, c1)})
    assert rates[("a", "e0")].tx_bps == 2000.0
    assert rates[("a", "e0")].rx_bps == 200.0
    assert rates[("a", "e0")].drops == 3
    assert ("a", "e1") not in rates  # seen once: no rate yet
    reset = IfCounters(tx_bytes=10, rx_bytes=0, drops=0, errors=0)
    assert interval_rates({("a", "e0"): (10.0, c1)}, {("a", "e0"): (20.0, reset)}) == {}
