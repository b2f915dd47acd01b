"""The lab's pure core: the plan from a state, the FRR configs, the RIB comparison."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from shadowd.core.events import LinkAdded, LinkMetric, LinkStatus, RouterAdded, RouterHealth
from shadowd.core.state import State, apply, fold
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab import availability, daemons
from shadowd.lab.availability import LabUnavailable, check_available
from shadowd.lab.fidelity import compare, lab_table
from shadowd.lab.frrconf import cost_commands, interface_commands, render
from shadowd.lab.plan import LabError, LabSettings, loopback_net, namespace, plan
from shadowd.services.drill import failure_drill
from shadowd.topology import load_topology

DATA = Path(__file__).parent.parent / "data"
SETTINGS = LabSettings(lab_id="t")


def example() -> State:
    return fold(load_topology(DATA / "topologies" / "example.toml"))


def test_names_fit_frr_and_the_interface_limit() -> None:
    assert namespace("shadow", "de1.de") == "shadow-de1_de"  # FRR's -N refuses dots
    assert namespace("shadow", "Aachen") == "shadow-Aachen"
    long = namespace("shadow", "x" * 200)
    assert len(long) <= 64
    assert long != namespace("shadow", "x" * 199)
    lab = plan(example(), SETTINGS)
    assert all(len(lk.ifname) <= 15 for lk in lab.links.values())
    assert len({lk.ifname for lk in lab.links.values()}) == len(lab.links)


def test_addresses_are_31s_and_loopbacks_are_unique() -> None:
    lab = plan(example(), SETTINGS)
    for link in lab.links.values():
        assert link.a_addr.endswith(("0", "2", "4", "6", "8"))
        a, b = (int(x.rsplit(".", 1)[1]) for x in (link.a_addr, link.b_addr))
        assert b == a + 1
    assert len({r.loopback for r in lab.routers.values()}) == len(lab.routers)


def test_costs_follow_metrics_per_direction_and_rates_scale_capacity() -> None:
    lab = plan(example(), LabSettings(lab_id="t", scale=1e-2))
    link = lab.links["fra--ams"]
    assert (link.a, link.a_cost, link.b_cost) == ("fra", 10, 12)
    assert link.rate_bps == pytest.approx(100e9 * 1e-2)


def test_a_new_plan_keeps_the_old_allocations() -> None:
    state = example()
    first = plan(state, SETTINGS)
    apply(state, RouterAdded(source="t", seq=1, ts=1.0, router="aaa"))
    apply(state, LinkAdded(source="t", seq=2, ts=2.0, link="aaa--fra", a="aaa", b="fra",
                           metric=5, capacity_bps=1e9))
    second = plan(state, SETTINGS, first)
    for name, router in first.routers.items():
        assert second.routers[name].loopback == router.loopback
    for link_id, link in first.links.items():
        assert second.links[link_id].ifname == link.ifname
        assert second.links[link_id].a_addr == link.a_addr
    assert second.links["aaa--fra"].index == len(first.links)  # the next free one


def test_a_failed_router_darkens_its_links() -> None:
    state = example()
    apply(state, RouterHealth(source="t", seq=1, ts=1.0, router="ams", up=False))
    lab = plan(state, SETTINGS)
    assert not lab.routers["ams"].up
    assert {lk.id for lk in lab.links.values() if not lk.up} == {
        "fra--ams", "fra--ams#2", "ams--lon"}


def test_impossible_metrics_and_ids_are_refused_with_the_reason() -> None:
    state = example()
    apply(state, LinkMetric(source="t", seq=1, ts=1.0, link="lon-par", metric=70_000))
    with pytest.raises(LabError, match=r"'lon-par'.*70000.*OSPF.*--igp isis"):
        plan(state, SETTINGS)
    assert plan(state, LabSettings(lab_id="t", igp="isis")).links["lon-par"].a_cost == 70_000
    with pytest.raises(LabError, match="lower-case"):
        LabSettings(lab_id="Bad-Id")
    with pytest.raises(LabError, match="scale"):
        LabSettings(lab_id="ok", scale=0.0)


def test_routers_that_would_share_a_namespace_are_refused() -> None:
    state = State()
    for i, name in enumerate(("a.b", "a_b")):
        apply(state, RouterAdded(source="t", seq=i + 1, ts=1.0, router=name))
    with pytest.raises(LabError, match=r"'a\.b' and 'a_b'"):
        plan(state, SETTINGS)


def test_ospf_config_has_costs_areas_and_fast_timers() -> None:
    lab = plan(example(), SETTINGS)
    conf = render(lab, "fra", SETTINGS)
    link = lab.links["fra--ams"]
    block = conf.split(f"interface {link.ifname}\n")[1].split("!")[0]
    assert " ip ospf cost 10" in block
    assert " ip ospf area 0" in block
    assert " ip ospf network point-to-point" in block
    assert "dead-interval 3" in block
    assert f"ospf router-id {lab.routers['fra'].loopback}" in conf
    ams = render(lab, "ams", SETTINGS).split(f"interface {link.ifname}\n")[1].split("!")[0]
    assert " ip ospf cost 12" in ams  # the reverse metric is ams's cost


def test_isis_config_sets_the_lsp_interval_before_anything_schedules_an_lsp() -> None:
    settings = LabSettings(lab_id="t", igp="isis")
    lab = plan(example(), settings)
    conf = render(lab, "fra", settings)
    process = conf.split("\nrouter isis lab\n")[1].splitlines()
    assert process[0] == " lsp-gen-interval 1"
    assert f" net {loopback_net(lab.routers['fra'].loopback)}" in process
    assert "metric-style wide" in conf
    assert " isis metric 10" in conf


def test_loopback_net_spells_the_address() -> None:
    assert loopback_net("10.255.0.1") == "49.0001.0102.5500.0001.00"


def test_vtysh_commands_for_running_changes() -> None:
    lab = plan(example(), SETTINGS)
    link = lab.links["fra--ams"]
    assert cost_commands(lab, "ams", link) == [
        "configure terminal", f"interface {link.ifname}", "ip ospf cost 12"]
    added = interface_commands(lab, "fra", link, SETTINGS)
    assert added[:2] == ["configure terminal", f"interface {link.ifname}"]
    assert "ip ospf cost 10" in added


def test_lab_table_reads_the_selected_routes_next_hops() -> None:
    """A real ``show ip route json`` of fra in the example lab (OSPF, ECMP over the two
    parallel links to ams)."""
    lab = plan(example(), SETTINGS)
    rib = json.loads((DATA / "lab" / "rib_fra.json").read_text())
    table = lab_table(lab, "fra", rib)
    assert table["ams"] == frozenset({"fra--ams", "fra--ams#2"})
    assert table["lon"] == frozenset({"fra--ams", "fra--ams#2"})
    assert set(table) == {"ams", "lon", "par"}
    model = next_hop_links(Engine(example()))
    report = compare({"fra": model["fra"]}, {"fra": table}, sorted(lab.routers))
    assert (report.routes, report.agreeing, report.agreement) == (3, 3, 1.0)


def test_compare_names_each_differing_route() -> None:
    model = {"a": {"b": frozenset({"l1"}), "c": frozenset({"l1", "l2"})}, "b": {}}
    lab = {"a": {"b": frozenset({"l1"}), "c": frozenset({"l2"})},
           "b": {"a": frozenset({"l1"})}}
    report = compare(model, lab, ["a", "b", "c"])
    assert report.routes == 4
    assert report.agreeing == 2
    assert [(d.router, d.destination, d.model, d.lab) for d in report.differences] == [
        ("a", "c", ["l1", "l2"], ["l2"]), ("b", "a", [], ["l1"])]
    assert msgspec.json.decode(msgspec.json.encode(report), type=type(report)) == report


def test_next_hop_links_leave_out_failed_routers() -> None:
    state = example()
    apply(state, RouterHealth(source="t", seq=1, ts=1.0, router="lon", up=False))
    tables = next_hop_links(Engine(state))
    assert "lon" not in tables
    assert "lon" not in tables["fra"]
    assert "par" not in tables["fra"]


def test_failure_drill_fails_and_repairs_links_then_routers() -> None:
    state = example()
    steps = failure_drill(state, links=2, routers=1)
    kinds = [(type(e).__name__, e.up) for s in steps for e in s.events
             if isinstance(e, LinkStatus | RouterHealth)]
    assert kinds == [("LinkStatus", False), ("LinkStatus", True)] * 2 + [
        ("RouterHealth", False), ("RouterHealth", True)]
    for step in steps:
        for event in step.events:
            apply(state, event)
    assert all(lk.up for lk in state.links.values())


def test_without_frr_the_lab_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setattr(daemons, "FRR_LIB", tmp_path)
    monkeypatch.setattr(availability, "_effective_caps", lambda: ~0)
    with pytest.raises(LabUnavailable, match="apt-get install frr"):
        check_available()
    monkeypatch.setattr(availability, "_effective_caps", lambda: 0)
    with pytest.raises(LabUnavailable, match="needs root"):
        check_available()
