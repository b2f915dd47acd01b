"""FRR reader, pure parts: vtysh JSON (shapes as FRR 8 prints them) to interfaces, links
inferred from shared subnets, and counter deltas to rates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shadowd.agent.config import FrrReaderConfig, parse_agent_config
from shadowd.agent.frr import (
    FrrReader,
    IfCounters,
    build_state,
    infer_links,
    interval_rates,
    parse_isis_router,
    parse_router,
)
from shadowd.core.errors import ConfigError

DATA = Path(__file__).parent.parent / "data" / "frr"


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
    assert (eth0.up, eth0.speed_mbit, eth0.networks, eth0.cost, eth0.adjacent) == (
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


# --- IS-IS: JSON captured from FRR 8.4 isisd (router r2 of the lab: r1 -- r2 -- r3) ---------


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def isis_r2(neighbors: str = "isis_neighbor_r2.json",
            interfaces: str = "isis_interface_detail_r2.json") -> Any:
    shown = show_interface("agt-r2r1", "10.91.1.2/30") | show_interface("agt-r2r3",
                                                                          "10.91.2.1/30")
    return parse_isis_router(shown, fixture(interfaces), fixture(neighbors))


def test_isis_metrics_and_up_adjacencies_come_from_isisd_json() -> None:
    r2 = isis_r2()
    r2r1, r2r3 = r2.ifaces["agt-r2r1"], r2.ifaces["agt-r2r3"]
    assert (r2r1.igp, r2r1.cost, r2r1.adjacent) == (True, 20, True)
    assert (r2r3.igp, r2r3.cost, r2r3.adjacent) == (True, 5, True)
    assert (r2.ifaces["lo"].igp, r2.ifaces["lo"].cost) == (False, None)
    assert r2.router_id is None


def test_a_gone_isis_adjacency_makes_its_link_down() -> None:
    r2 = isis_r2("isis_neighbor_r2_r3_down.json", "isis_interface_detail_r2_r3_down.json")
    assert r2.ifaces["agt-r2r1"].adjacent
    assert not r2.ifaces["agt-r2r3"].adjacent  # isisd leaves {"circuit": 0} behind
    assert r2.ifaces["agt-r2r3"].cost == 5  # still configured, still known
    r3 = parse_isis_router(show_interface("agt-r3r2", "10.91.2.2/30"),
                           {"areas": [{"area": "lab", "circuits": [{"circuit": 0, "interface": {
                               "name": "agt-r3r2", "levels": [{"level": "L2", "metric": 7}]}}]}]},
                           {"areas": [{"area": "lab", "circuits": [{"circuit": 0}]}]})
    state = build_state({"r2": r2, "r3": r3}, {"r2": True, "r3": True}, {},
                        default_capacity_bps=1e9)
    [link] = state.links.values()
    assert (link.a, link.b, link.metric, link.reverse_metric, link.up) == ("r2", "r3", 5, 7,
                                                                          False)


def test_isis_level_1_metric_wins_and_detail_neighbour_form_is_read() -> None:
    levels = [{"level": "L1", "metric": 3}, {"level": "L2", "metric": 30}]
    r = parse_isis_router(
        show_interface("e0", "10.0.0.1/30"),
        {"areas": [{"circuits": [{"interface": {"name": "e0", "levels": levels}}]}]},
        {"areas": [{"circuits": [{"adj": "x", "interface": {"name": "e0", "state": "Up"}}]}]})
    assert (r.ifaces["e0"].cost, r.ifaces["e0"].adjacent) == (3, True)


def test_reader_igp_is_ospf_by_default_isis_on_request_and_nothing_else() -> None:
    base = """
[agent]
source = "s"
state_file = "/tmp/p"
[reader]
kind = "frr"
{igp}
[[reader.routers]]
name = "r1"
[publisher]
kind = "kafka"
bootstrap = "127.0.0.1:9092"
"""
    default = parse_agent_config(base.format(igp="")).reader
    assert isinstance(default, FrrReaderConfig)
    assert default.igp == "ospf"
    isis = parse_agent_config(base.format(igp='igp = "isis"')).reader
    assert isinstance(isis, FrrReaderConfig)
    assert FrrReader.from_config(isis).igp == "isis"
    with pytest.raises(ConfigError) as err:
        parse_agent_config(base.format(igp='igp = "eigrp"'))
    assert err.value.path == "$.reader.igp"
