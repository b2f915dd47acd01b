"""The dry-run driver: what it would apply and restore, as files and as a record, and
its own idea of each router's running config; and the durable saved configs."""

from __future__ import annotations

from pathlib import Path

from shadowd.core.events import DAEMON_SOURCE, PolicyChange, PolicyProposed
from shadowd.drivers.base import changes_by_router
from shadowd.drivers.dryrun import DryRunDriver
from shadowd.drivers.saved import SavedConfigs

RUNNING = """\
frr defaults traditional
hostname r1
!
interface l0
 ip ospf area 0
 ip ospf cost 10
exit
!
router bgp 65001
 address-family ipv4 unicast
  neighbor 10.9.0.0 route-map PEER-x-in in
 exit-address-family
exit
!
route-map PEER-x-in permit 10
exit
!
end
"""


def policy() -> PolicyProposed:
    changes = (PolicyChange(router="r1", target="l0", attr="metric", old=10, new=30),
               PolicyChange(router="r1", target="x", attr="prepend", old=0, new=2),
               PolicyChange(router="r2", target="l5", attr="metric", old=10, new=30))
    return PolicyProposed(source=DAEMON_SOURCE, seq=1, ts=0.0, policy_id="p/1",
                          kind="bgp", reason="manual", changes=changes, target_util=0.8,
                          wc_before=1.0, wc_after=0.5)


async def test_dry_run_writes_and_records_apply_and_restore(tmp_path: Path) -> None:
    driver = DryRunDriver(tmp_path, configs={"r1": RUNNING})
    await driver.apply(policy(), ["r1"])
    applied = await driver.running("r1")
    assert " ip ospf cost 30\n" in applied
    assert " set as-path prepend last-as 2\n" in applied
    call = driver.calls[0]
    assert (call.action, call.routers) == ("apply", ("r1",))
    assert call.lines["r1"] == [
        "configure terminal", "interface l0", "ip ospf cost 30", "exit",
        "route-map PEER-x-in permit 10", "no set as-path prepend", "set as-path prepend last-as 2",
        "exit", "end",
        "clear bgp ipv4 unicast 10.9.0.0 soft in"]
    vtysh, diff = call.files
    assert vtysh.parent == tmp_path / "p_1"
    assert vtysh.read_text().startswith("# r1: vtysh -N r1\nconfigure terminal\n")
    assert "+ ip ospf cost 30" in diff.read_text()

    await driver.apply(policy(), ["r1"])  # again: same text
    assert await driver.running("r1") == applied
    await driver.restore(policy(), ["r1", "r3"])
    assert await driver.running("r1") == RUNNING
    restore = driver.calls[-1]
    assert restore.lines["r1"][1:4] == ["interface l0", "ip ospf cost 10", "exit"]
    assert "no set as-path prepend" in restore.lines["r1"]
    await driver.restore(policy(), ["r1"])  # nothing left to restore
    assert driver.calls[-1].lines == {}
    assert [p.name for p in sorted((tmp_path / "p_1").iterdir())] == [
        "001-apply.diff", "001-apply.vtysh", "002-apply.diff", "002-apply.vtysh",
        "003-restore.diff", "003-restore.vtysh", "004-restore.diff", "004-restore.vtysh"]


async def test_a_dry_run_survives_a_restart(tmp_path: Path) -> None:
    """A rollout recovered after a restart restores what the driver before it applied,
    and its files number on instead of overwriting the first ones."""
    await DryRunDriver(tmp_path, configs={"r1": RUNNING}).apply(policy(), ["r1"])
    applied = (tmp_path / "p_1" / "001-apply.vtysh").read_text()
    fresh = DryRunDriver(tmp_path, configs={"r1": "given at start, older than the file"})
    assert " ip ospf cost 30\n" in await fresh.running("r1")
    await fresh.restore(policy(), ["r1"])
    assert await fresh.running("r1") == RUNNING
    assert (tmp_path / "p_1" / "001-apply.vtysh").read_text() == applied
    assert (tmp_path / "p_1" / "002-restore.vtysh").exists()
    assert await DryRunDriver(tmp_path).running("r1") == RUNNING


async def test_the_dry_run_knows_which_changes_it_holds_applied(tmp_path: Path) -> None:
    """What its gates measure in the shadow: each policy's changes on the routers it has
    reached, across a restart, until they are restored."""
    r1_changes, r2_changes = list(policy().changes[:2]), list(policy().changes[2:])
    driver = DryRunDriver(tmp_path, configs={"r1": RUNNING})
    assert driver.in_effect() == []
    await driver.apply(policy(), ["r1"])
    assert driver.in_effect() == r1_changes
    await driver.apply(policy(), ["r2", "r1"])  # r1 again: held once
    assert driver.in_effect() == r1_changes + r2_changes
    fresh = DryRunDriver(tmp_path)
    assert fresh.in_effect() == r1_changes + r2_changes
    await fresh.restore(policy(), ["r1"])
    assert fresh.in_effect() == r2_changes
    await fresh.restore(policy(), ["r2"])
    assert fresh.in_effect() == []
    assert DryRunDriver(tmp_path).in_effect() == []


async def test_a_damaged_dry_run_record_starts_empty(tmp_path: Path) -> None:
    (tmp_path / "running.json").write_text("{not json")
    assert await DryRunDriver(tmp_path, configs={"r1": RUNNING}).running("r1") == RUNNING


def test_changes_by_router_keeps_the_given_order() -> None:
    assert list(changes_by_router(policy(), ["r2", "r9", "r1", "r2"])) == ["r2", "r1"]


def test_saved_configs_survive_and_retire(tmp_path: Path) -> None:
    saved = SavedConfigs(tmp_path)
    assert saved.load("p1", "r1") is None
    path = saved.save("p1", "r1", RUNNING)
    assert path == tmp_path / "rollouts" / "p1" / "r1.conf"
    assert SavedConfigs(tmp_path).load("p1", "r1") == RUNNING  # a fresh instance reads it
    assert not list(path.parent.glob("*.tmp"))
    saved.retire("p1", "r1")
    assert saved.load("p1", "r1") is None
    assert (path.parent / "r1.restored.conf").read_text() == RUNNING
