"""Each policy and rollout alert from its smallest trigger: the policy service on the
fakes of tests/unit/test_policy_service.py (model validation, dry-run driver, scripted
monitor), a restart being a second service on the same state."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from shadowd.core.conditions import Sample
from shadowd.core.state import State
from shadowd.services.policy import Policies
from tests.alerts import assert_alert
from tests.unit.test_policy_generate import detour_net
from tests.unit.test_policy_service import (
    GOOD,
    LOSSY,
    DivergingLab,
    ScriptedMonitor,
    service,
    until,
)

Logged = list[MutableMapping[str, Any]]
GREY = Sample(latency_ms=5.0, throughput_bps=9e6, loss_pct=1.5, max_util=0.5)


@pytest.fixture
def logged() -> Iterator[Logged]:
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.fixture(name="state")
def state_fixture() -> State:
    return detour_net()


async def _deployed(policies: Policies) -> str:
    entry = await policies.propose()
    assert entry is not None
    await policies.deploy(entry.proposal.policy_id)
    return entry.proposal.policy_id


async def test_policy_rejected_when_the_lab_disagrees(
        state: State, tmp_path: Path, logged: Logged) -> None:
    async with service(state, ScriptedMonitor(GOOD), tmp_path, lab=DivergingLab()) as policies:
        entry = await policies.propose()
        assert entry is not None
        assert entry.status == "rejected"
    assert_alert(logged, "policy_rejected", policy=entry.proposal.policy_id, tier="lab")


async def test_rollout_completed(state: State, tmp_path: Path, logged: Logged) -> None:
    async with service(state, ScriptedMonitor(GOOD), tmp_path) as policies:
        pid = await _deployed(policies)
        await until(lambda: policies.entry(pid).status == "deployed")
    done = assert_alert(logged, "rollout_completed", policy=pid, policy_id=pid)
    assert done["steps"] == done["step"] >= 1


async def test_rollout_failed_gate_then_rollout_rolled_back(
        state: State, tmp_path: Path, logged: Logged) -> None:
    async with service(state, ScriptedMonitor(LOSSY), tmp_path) as policies:
        pid = await _deployed(policies)
        await until(lambda: policies.entry(pid).status == "rolled_back")
    failed = assert_alert(logged, "rollout_failed_gate", policy=pid, step=1, failures=1,
                          failure_limit=0, loss_pct=30.0)
    back = assert_alert(logged, "rollout_rolled_back", policy=pid, reason=failed["reason"])
    assert back["routers"]
    assert back["log_level"] == "error"


async def test_rollout_held_on_an_inconclusive_gate(
        state: State, tmp_path: Path, logged: Logged) -> None:
    async with service(state, ScriptedMonitor(GREY, GOOD), tmp_path) as policies:
        pid = await _deployed(policies)
        await until(lambda: policies.entry(pid).status == "held")
    assert_alert(logged, "rollout_held", policy=pid, step=1)


async def test_rollout_recovered_after_a_restart_mid_gate(
        state: State, tmp_path: Path, logged: Logged) -> None:
    async with service(state, ScriptedMonitor(GOOD, hang=True), tmp_path) as policies:
        pid = await _deployed(policies)
        await until(lambda: "applied" in [s.phase for s in policies.history(pid)])
    async with service(state, ScriptedMonitor(GOOD), tmp_path) as again:
        await until(lambda: again.entry(pid).status in ("deployed", "rolled_back"))
    recovered = assert_alert(logged, "rollout_recovered", policy=pid)
    assert recovered["decision"] in ("resume", "rollback")
