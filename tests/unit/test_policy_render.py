"""Rendering policies as FRR configuration, JSON and running-config diffs (pure).

The running configs below are what FRR 8.4's ``show running-config`` printed for a lab
router (the statement order within an interface is FRR's, not the order written)."""

from __future__ import annotations

import pytest

from shadowd.core.events import (
    DAEMON_SOURCE,
    LinkAdded,
    PolicyChange,
    PolicyProposed,
    RouterAdded,
)
from shadowd.core.state import State, fold
from shadowd.lab.plan import LabSettings, plan
from shadowd.policy.render import (
    AgentLinkTarget,
    RenderError,
    commands,
    diff_running,
    refresh,
    render_frr,
    render_json,
    restore_commands,
    with_policy,
)
from shadowd.policy.runconf import Slot, peer_neighbors, set_slot, slot_lines
from shadowd.services.lab_target import LabTarget

OSPF_RUNNING = """\
Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname r1
!
interface l0
 description r1--r2 to r2
 ip ospf area 0
 ip ospf cost 10
 ip ospf network point-to-point
exit
!
interface lo
 ip ospf area 0
exit
!
router ospf
 ospf router-id 10.255.0.1
exit
!
end
"""

ISIS_RUNNING = """\
frr defaults traditional
hostname r1
!
interface l0
 ip router isis lab
 isis metric level-1 30
 isis metric level-2 50
 isis network point-to-point
exit
!
interface l1
 ip router isis lab
 isis network point-to-point
exit
!
end
"""

BGP_RUNNING = """\
frr defaults traditional
hostname r1
!
router bgp 65001
 neighbor 10.9.0.0 remote-as 65002
 !
 address-family ipv4 unicast
  neighbor 10.9.0.0 route-map PEER-x-in in
 exit-address-family
exit
!
route-map PEER-x-in permit 10
 set metric 50
exit
!
end
"""


def production() -> State:
    """r1 --(l0)-- r2 --(l1)-- r3."""
    return fold([*(RouterAdded(source="t", seq=i, ts=0.0, router=r)
                   for i, r in enumerate(("r1", "r2", "r3"), 1)),
                 LinkAdded(source="t", seq=4, ts=0.0, link="r1--r2", a="r1", b="r2",
                           metric=10, capacity_bps=10e9),
                 LinkAdded(source="t", seq=5, ts=0.0, link="r2--r3", a="r2", b="r3",
                           metric=5, capacity_bps=10e9)])


def metric(router: str, link: str, old: int, new: int) -> PolicyChange:
    return PolicyChange(router=router, target=link, attr="metric", old=old, new=new)


def policy(*changes: PolicyChange) -> PolicyProposed:
    return PolicyProposed(source=DAEMON_SOURCE, seq=1, ts=0.0, policy_id="p1",
                          kind="igp_metric", reason="manual", changes=changes,
                          target_util=0.8, wc_before=1.2, wc_after=0.7)


@pytest.fixture(name="target")
def target_fixture() -> LabTarget:
    lab = plan(production(), LabSettings(lab_id="drv"))
    return LabTarget(lab, neighbors={("r1", "x"): "10.9.0.0"})


def test_lab_target_resolves_interfaces_and_pathspaces(target: LabTarget) -> None:
    assert target.pathspace("r2") == "drv-r2"
    assert target.interface("r1", "r1--r2") == "l0"
    assert target.interface("r3", "r2--r3") == "l1"
    with pytest.raises(RenderError, match="no end"):
        target.interface("r3", "r1--r2")
    with pytest.raises(RenderError, match="no BGP neighbour"):
        target.neighbor("r2", "x")


def test_agent_link_target_reads_the_interface_from_the_link_name() -> None:
    target = AgentLinkTarget({"r1": "p-r1", "r2": "p-r2"},
                             interfaces={("r1", "r1--r2-0011aabb"): "eth9"})
    assert target.interface("r1", "r1:eth0--r2:eth3") == "eth0"
    assert target.interface("r2", "r1:eth0--r2:eth3") == "eth3"
    assert target.interface("r1", "r1--r2-0011aabb") == "eth9"  # a hashed long name
    assert target.pathspace("r2") == "p-r2"
    with pytest.raises(RenderError):
        target.interface("r3", "r1:eth0--r2:eth3")


def test_metric_commands_per_igp(target: LabTarget) -> None:
    change = metric("r2", "r2--r3", 5, 40)
    assert commands(change, target, "ospf") == ["interface l1", "ip ospf cost 40", "exit"]
    assert commands(change, target, "isis") == ["interface l1", "isis metric 40", "exit"]
    assert commands(change, target, "ospf", value=5)[1] == "ip ospf cost 5"
    with pytest.raises(RenderError, match="outside OSPF"):
        commands(metric("r2", "r2--r3", 5, 70_000), target, "ospf")
    assert commands(metric("r2", "r2--r3", 5, 70_000), target, "isis")[1] == \
        "isis metric 70000"


def test_bgp_commands_and_refresh(target: LabTarget) -> None:
    lp = PolicyChange(router="r1", target="x", attr="local_pref", old=100, new=200)
    med = PolicyChange(router="r1", target="x", attr="med", old=0, new=50)
    pre = PolicyChange(router="r2", target="y", attr="prepend", old=0, new=3)
    assert commands(lp, target, "ospf") == [
        "route-map PEER-x-in permit 10", "set local-preference 200", "exit"]
    assert commands(med, target, "ospf")[1] == "set metric 50"
    # the peer's AS, cleared first (FRR complains switching an AS list to last-as)
    assert commands(pre, target, "ospf") == [
        "route-map PEER-y-in permit 10", "no set as-path prepend",
        "set as-path prepend last-as 3", "exit"]
    assert commands(pre, target, "ospf", value=0) == [
        "route-map PEER-y-in permit 10", "no set as-path prepend", "exit"]
    with pytest.raises(RenderError, match=r"0\.\.10"):
        commands(pre, target, "ospf", value=11)
    assert refresh([lp, med, metric("r1", "r1--r2", 1, 2)], target) == [
        "clear bgp ipv4 unicast 10.9.0.0 soft in"]
    # no neighbour in the target: the running config's route-map convention names it
    assert refresh([pre], target, "router bgp 2\n neighbor 10.1.1.1 route-map PEER-y-in in\n"
                   ) == ["clear bgp ipv4 unicast 10.1.1.1 soft in"]


def test_render_frr_groups_settings_per_stanza(target: LabTarget) -> None:
    p = policy(metric("r1", "r1--r2", 10, 30),
               PolicyChange(router="r1", target="x", attr="local_pref", old=100, new=200),
               PolicyChange(router="r1", target="x", attr="med", old=0, new=5),
               metric("r3", "r2--r3", 5, 7))
    assert render_frr(p, target, "ospf") == {
        "r1": "interface l0\n ip ospf cost 30\nexit\n!\n"
              "route-map PEER-x-in permit 10\n set local-preference 200\n set metric 5\n"
              "exit\n!\n",
        "r3": "interface l1\n ip ospf cost 7\nexit\n!\n",
    }


def test_render_json_is_vendor_neutral() -> None:
    p = policy(metric("r1", "r1--r2", 10, 30),
               PolicyChange(router="r2", target="x", attr="prepend", old=0, new=2))
    doc = render_json(p)
    assert doc["routers"] == {
        "r1": [{"kind": "igp_metric", "target": "r1--r2", "from": 10, "to": 30}],
        "r2": [{"kind": "bgp_as_path_prepend", "target": "x", "from": 0, "to": 2}]}
    assert doc["policy_id"] == "p1"
    assert doc["predicted"]["wc_after"] == 0.7


def test_diff_replaces_the_ospf_cost_in_place(target: LabTarget) -> None:
    diff = diff_running("r1", OSPF_RUNNING, policy(metric("r1", "r1--r2", 10, 30)),
                        target, "ospf")
    assert diff.splitlines()[:2] == ["--- r1/running-config", "+++ r1/with-p1"]
    assert [ln for ln in diff.splitlines()[3:] if ln[:1] in "+-"] == [
        "- ip ospf cost 10", "+ ip ospf cost 30"]
    after = with_policy(OSPF_RUNNING, [metric("r1", "r1--r2", 10, 30)], target, "ospf")
    assert " ip ospf cost 30\n ip ospf network point-to-point\n" in after  # same place


def test_diff_is_empty_for_other_routers(target: LabTarget) -> None:
    assert diff_running("r2", OSPF_RUNNING, policy(metric("r1", "r1--r2", 10, 30)),
                        target, "ospf") == ""


def test_isis_per_level_metrics_are_replaced_by_one_line(target: LabTarget) -> None:
    after = with_policy(ISIS_RUNNING, [metric("r1", "r1--r2", 30, 40)], target, "isis")
    assert after.split("interface l1")[0].endswith(
        "interface l0\n ip router isis lab\n isis metric 40\n"
        " isis network point-to-point\nexit\n!\n")


def test_a_missing_line_is_added_at_the_end_of_its_stanza() -> None:
    slot = Slot("interface l1", "isis metric")
    after = set_slot(ISIS_RUNNING, slot, "isis metric 9")
    assert "interface l1\n ip router isis lab\n isis network point-to-point\n" \
           " isis metric 9\nexit\n" in after
    assert set_slot(after, slot, None) == ISIS_RUNNING


def test_route_map_set_lines_replace_and_add(target: LabTarget) -> None:
    changes = [PolicyChange(router="r1", target="x", attr="med", old=50, new=60),
               PolicyChange(router="r1", target="x", attr="local_pref", old=100, new=300)]
    after = with_policy(BGP_RUNNING, changes, target, "ospf")
    assert "route-map PEER-x-in permit 10\n set metric 60\n set local-preference 300\n" \
           "exit\n" in after
    prepend = PolicyChange(router="r1", target="x", attr="prepend", old=0, new=2)
    assert " set as-path prepend last-as 2\n" in with_policy(BGP_RUNNING, [prepend],
                                                                target, "ospf")


def test_a_missing_route_map_stanza_is_added_before_end(target: LabTarget) -> None:
    change = PolicyChange(router="r1", target="z", attr="local_pref", old=100, new=90)
    after = with_policy(BGP_RUNNING, [change], target, "ospf")
    assert after.endswith("route-map PEER-z-in permit 10\n set local-preference 90\nexit\n!\n"
                          "end\n")


def test_slot_lines_and_set_lines_do_not_confuse_prefixes() -> None:
    text = "route-map A permit 10\n set metric-type type-1\n set metric 5\nexit\n"
    assert slot_lines(text, Slot("route-map A permit 10", "set metric")) == ["set metric 5"]
    assert slot_lines(text, Slot("route-map B permit 10", "set metric")) is None
    assert peer_neighbors(BGP_RUNNING) == {"x": "10.9.0.0"}


def test_restore_commands_bring_back_what_was_saved(target: LabTarget) -> None:
    cost = metric("r1", "r1--r2", 10, 30)
    assert restore_commands([cost], target, "ospf", OSPF_RUNNING) == [
        "interface l0", "ip ospf cost 10", "exit"]
    assert restore_commands([cost], target, "isis", ISIS_RUNNING) == [
        "interface l0", "no isis metric", "isis metric level-1 30", "isis metric level-2 50",
        "exit"]
    lp = PolicyChange(router="r1", target="x", attr="local_pref", old=100, new=200)
    med = PolicyChange(router="r1", target="x", attr="med", old=50, new=60)
    assert restore_commands([lp, med], target, "ospf", BGP_RUNNING) == [
        "route-map PEER-x-in permit 10", "no set local-preference", "exit",
        "route-map PEER-x-in permit 10", "set metric 50", "exit"]
    gone = [PolicyChange(router="r1", target="z", attr=a, old=0, new=1)
            for a in ("local_pref", "med")]
    assert restore_commands(gone, target, "ospf", BGP_RUNNING) == [
        "no route-map PEER-z-in permit 10"]


def test_restore_of_the_edited_text_gives_back_the_original(target: LabTarget) -> None:
    # what the driver relies on: edit in, then the restore lines' effect, is the identity
    cost = metric("r1", "r1--r2", 10, 30)
    after = with_policy(OSPF_RUNNING, [cost], target, "ospf")
    assert after != OSPF_RUNNING
    back = set_slot(after, Slot("interface l0", "ip ospf cost"), "ip ospf cost 10")
    assert back == OSPF_RUNNING
