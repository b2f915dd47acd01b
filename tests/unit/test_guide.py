"""The guided main job narrates the loop from the log and rolls the first validated
policy out with the dry-run driver, then writes the report and a summary."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from shadowd.core.events import LinkUtilization, ScenarioRan, SpikePredicted
from shadowd.core.state import State
from shadowd.tiers.guide import Guide
from tests.unit.test_policy_generate import detour_net
from tests.unit.test_policy_service import GOOD, ScriptedMonitor, service, until

Logged = list[MutableMapping[str, Any]]

SPIKE = SpikePredicted(source="shadowd", seq=1, ts=10.0, link="ac", direction="ab",
                       peak_ts=900.0, predicted_bps=9.0, threshold_bps=8.0,
                       predicted_util=0.9, made_at=10.0, worst_failure="link:ab",
                       extreme_util=0.95)
RUN = ScenarioRan(source="shadowd", seq=2, ts=20.0, run_id="run-2", scenario="wc-link-ab",
                  kind="link_cut", trigger="spike:ac ab", tier="model", injected_ts=20.0,
                  worst_link="ac A->C", worst_util=0.95)


@pytest.fixture
def logged() -> Iterator[Logged]:
    with structlog.testing.capture_logs() as captured:
        yield captured


def said(logged: Logged) -> list[str]:
    return [str(e["event"]) for e in logged if e.get("component") == "guide"]


async def test_the_guide_narrates_deploys_in_dry_run_and_sums_up(tmp_path: Path,
                                                                   logged: Logged) -> None:
    state: State = detour_net()
    reports: list[Path] = []

    async def report() -> Path:
        reports.append(tmp_path / "report" / "index.html")
        return reports[-1]

    async with service(state, ScriptedMonitor(GOOD), tmp_path) as policies:
        guide = Guide(state, policies, report)
        worker = asyncio.create_task(guide.run())
        try:
            guide.note([LinkUtilization(source="agent", seq=1, ts=1.0, link="ab", ab_bps=1.0,
                                        ba_bps=1.0), SPIKE, RUN])
            entry = await policies.propose("scenario")
            assert entry is not None
            assert entry.validation is not None
            guide.note([entry.proposal, entry.validation])  # as the log hook hands them on
            pid = entry.proposal.policy_id
            await until(lambda: policies.entry(pid).status == "deployed")
            guide.note(list(policies.history(pid)))
            await until(lambda: bool(reports))
            await until(lambda: any(t.startswith("report: file://") for t in said(logged)))
        finally:
            worker.cancel()
    lines = said(logged)
    assert [t.split("]")[0] for t in lines if t.startswith("[")] == [
        "[1/5 ingest", "[2/5 predict", "[3/5 scenarios", "[4/5 policy", "[5/5 rollout"]
    assert any("dry-run driver" in t for t in lines)
    summary = next(e for e in logged if e["event"] == "summary")
    assert summary["stages_seen"] == "5/5"
    assert summary["policies_validated"] == 1
    assert summary["report"] == str(reports[0])


async def test_the_end_of_the_replay_sums_up_what_was_reached(tmp_path: Path,
                                                              logged: Logged) -> None:
    state: State = detour_net()

    async def report() -> Path:
        return tmp_path / "index.html"

    async with service(state, ScriptedMonitor(GOOD), tmp_path) as policies:
        guide = Guide(state, policies, report)
        worker = asyncio.create_task(guide.run())
        try:
            guide.source_finished("replay")
            await until(lambda: any(e["event"] == "summary" for e in logged))
        finally:
            worker.cancel()
    summary = next(e for e in logged if e["event"] == "summary")
    assert summary["stages_not_reached"] == ["ingest", "predict", "scenarios", "policy",
                                             "rollout"]
