"""Policies end to end against a real "production": FRR routers (lab id ``prod``) read by
the FRR agent, published over a real mosquitto with the demands as a second source, and
shadowd (a subprocess) proposing, validating, rolling out with the FRR driver, and
learning from what production then shows.

1. An overload under a single link failure gets an IGP metric proposal; shadowd's own
   shadow lab (lab id ``prodshd``) confirms the worst case under target; the phased
   rollout completes in production (every changed router runs the new cost, and the agent
   reports it back); the journal is in order; the feedback's demand scale is the next
   proposal's.
2. A SIGKILL mid-rollout; the restarted daemon says it resumed (or rolled back) and
   production ends as the journal says.
3. A bad policy: the operator's own change, which the shadow finds harmless, moves r1's
   traffic to r2 onto r1--r3, which production has degraded behind the shadow's back (tc
   at 1 Mbit/s; the agent still reads the veth's 10G). The first gate's UDP probe loses
   most of its datagrams; the rollout rolls back automatically and every production
   router's running config is byte-identical to before.

Every wait polls what can be observed (shadowctl, vtysh); nothing sleeps blind.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from shadowd.agent.frr import link_id
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LabPlan
from tests.brokers import (  # noqa: F401  (this tier's own broker: no conftest registers one)
    Mosquitto,
    mosquitto_fixture,
    mosquitto_session_fixture,
)
from tests.integration.harness import Daemon, poll
from tests.lab.labs import needs_lab, nothing_left
from tests.lab.production import (
    DEMANDS,
    SHADOW_LAB,
    TARGET_UTIL,
    DemandFeed,
    ProdDaemon,
    configs,
    ctl,
    daemon_config,
    history,
    holds_policy,
    plan_of,
    production,
    running_agent,
    view_has_metrics,
    wait_lab_mirrors,
    wait_outcome,
    wait_source,
    wait_view,
)

pytestmark = [*needs_lab, pytest.mark.skipif(shutil.which("mosquitto") is None,
                                             reason="needs mosquitto (make sysdeps)")]

END: Final = ("deployed", "rolled_back", "aborted")


def phases(steps: list[dict[str, Any]]) -> list[str]:
    return [s["phase"] for s in steps]


def propose(d: Daemon) -> dict[str, Any]:
    entry: dict[str, Any] | None = ctl(d, "policies", "propose")["entry"]
    assert entry is not None, "no proposal for an overloaded network"
    return entry


def fed(d: Daemon, plan: LabPlan, feed: DemandFeed) -> None:
    """Production seen through the agent, and the demands, in shadowd's view."""
    wait_view(d, plan)
    wait_source(d, "demands", feed.send(DEMANDS))


@dataclass(frozen=True, slots=True)
class Setup:
    lab: Lab
    plan: LabPlan
    daemon: ProdDaemon
    feed: DemandFeed


@asynccontextmanager
async def shadowd_on_production(mosquitto: Mosquitto, tmp_path: Path, *,
                                lab_id: str | None, udp_bps: float = 0.0
                                ) -> AsyncIterator[Setup]:
    """Production, the agent reading it, and a shadowd (not started yet) deploying to it;
    the daemon must stop cleanly (exit 0) afterwards, and its lab leave nothing."""
    prefix = f"p{uuid.uuid4().hex[:8]}"
    async with production() as lab:
        plan = plan_of(lab)
        with running_agent(tmp_path, plan, mosquitto, prefix):
            directory = tmp_path / "d"
            directory.mkdir()
            config = daemon_config(directory, plan, mosquitto, prefix, lab_id=lab_id,
                                   udp_bps=udp_bps)
            d = ProdDaemon(directory, config)
            try:
                yield Setup(lab, plan, d, DemandFeed(mosquitto, prefix))
            finally:
                code = await asyncio.to_thread(stopped, d)
            assert code in (0, None), d.log_text()[-3000:]
    if lab_id is not None:
        assert nothing_left(lab_id) == {"namespaces": [], "processes": [], "run_dirs": []}


async def test_overload_gets_a_lab_proven_metric_policy_rolled_out_and_learnt_from(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with shadowd_on_production(mosquitto, tmp_path, lab_id=SHADOW_LAB) as s:
        await asyncio.to_thread(overload_fixed, s.daemon, s.plan, s.feed)


def stopped(d: Daemon) -> int | None:
    """SIGTERM (shadowd takes its lab down), or a kill if it had not started or hung."""
    code = d.stop() if d.proc is not None and d.proc.poll() is None else None
    d.cleanup()
    return code


def overload_fixed(d: Daemon, plan: LabPlan, feed: DemandFeed) -> None:
    d.start()
    d.wait_ready()
    fed(d, plan, feed)
    wait_lab_mirrors(d)
    entry = propose(d)
    policy = entry["proposal"]
    assert policy["kind"] == "igp_metric"
    assert policy["wc_before"] > TARGET_UTIL > policy["wc_after"]
    assert policy["wc_failure_before"].startswith("link:")
    assert policy["changes"]
    assert policy["disconnected"] == 0
    validation = entry["validation"]
    assert (validation["tier"], validation["ok"]) == ("lab", True), validation
    assert validation["wc_after"] < TARGET_UTIL
    assert entry["status"] == "validated"
    rolled_out(d, plan, policy)
    learnt_from(d, feed, policy["policy_id"])


def rolled_out(d: Daemon, plan: LabPlan, policy: dict[str, Any]) -> None:
    """Deployed in two phases; production runs it, the agent reports it back."""
    pid, changes = policy["policy_id"], policy["changes"]
    routers = sorted({c["router"] for c in changes})
    before = configs(plan)
    deployed = ctl(d, "policies", "deploy", pid, "--percentage", "50", "--interval", "2")
    assert deployed["rollout_id"]
    shown = wait_outcome(d, pid, END)
    journal = history(d, pid)
    assert shown["entry"]["status"] == "deployed", phases(journal)

    assert holds_policy(plan, changes)
    after = configs(plan)
    assert {r for r in after if after[r] != before[r]} == set(routers)
    poll("the agent to report the new metrics",
         lambda: True if view_has_metrics(d, changes) else None, interval=0.3)

    steps = [s["routers"] for s in journal if s["phase"] == "applying"]
    assert len(steps) == min(2, len(routers))  # 50 % a step
    assert sorted(r for step in steps for r in step) == routers
    assert phases(journal) == ["started", *["applying", "applied", "measured"] * len(steps),
                               "completed"]
    assert all(s["verdict"] == "success" for s in journal if s["phase"] == "measured")


def learnt_from(d: Daemon, feed: DemandFeed, pid: str) -> None:
    """The feedback is recorded, and scales the next cycle's demands."""
    feedback = poll("the policy's feedback",
                    lambda: ctl(d, "policies", "show", pid)["entry"]["feedback"], interval=0.3)
    scale = feedback["demand_scale"]
    assert scale != pytest.approx(1.0)  # production carries less than the model predicted
    more = tuple((src, dst, rate * 2.4) for src, dst, rate in DEMANDS)
    wait_source(d, "demands", feed.send(more))
    again = propose(d)["proposal"]
    assert again["demand_scale"] == pytest.approx(scale)


async def test_sigkill_mid_rollout_resumes_or_rolls_back_as_the_journal_says(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with shadowd_on_production(mosquitto, tmp_path, lab_id=None) as s:
        await asyncio.to_thread(killed_and_recovered, s.daemon, s.plan, s.feed)


def killed_and_recovered(d: Daemon, plan: LabPlan, feed: DemandFeed) -> None:
    d.start()
    d.wait_ready()
    fed(d, plan, feed)
    entry = propose(d)
    assert (entry["validation"]["tier"], entry["validation"]["ok"]) == ("model", True)
    pid, changes = entry["proposal"]["policy_id"], entry["proposal"]["changes"]
    before = configs(plan)
    ctl(d, "policies", "deploy", pid, "--percentage", "50", "--interval", "10")
    poll("step 1 applied", lambda: True if "applied" in phases(history(d, pid)) else None)
    d.kill()  # mid-gate: step 1's routers hold the policy, not yet verified

    d.start()
    d.wait_ready()
    shown = wait_outcome(d, pid, END)
    journal = history(d, pid)
    resumed = [s for s in journal if s["phase"] == "resumed"]
    assert len(resumed) == 1, journal
    assert resumed[0]["detail"], journal  # which it chose, and why
    killed_at = phases(journal[:journal.index(resumed[0])])
    assert killed_at == ["started", "applying", "applied"]  # step 1 unverified
    if shown["entry"]["status"] == "deployed":
        assert phases(journal)[-1] == "completed"
        assert holds_policy(plan, changes)
        after, changed = configs(plan), {c["router"] for c in changes}
        assert {r for r in after if after[r] != before[r]} == changed
    else:
        assert phases(journal)[-1] == "rolled_back"
        assert configs(plan) == before


SMALL: Final = (("r1", "r2", 2e9), ("r2", "r1", 2e9))  # nothing near the target


async def test_a_bad_policy_is_rolled_back_at_the_first_gate_byte_identical(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with shadowd_on_production(mosquitto, tmp_path, lab_id=None, udp_bps=4e6) as s:
        await asyncio.to_thread(fed_small, s.daemon, s.plan, s.feed)
        before = await asyncio.to_thread(configs, s.plan)
        await s.lab.shape("r1--r3", 1e6)  # production degrades; the shadow never hears
        await asyncio.to_thread(bad_policy_rolled_back, s.daemon, s.plan, before)


def fed_small(d: Daemon, plan: LabPlan, feed: DemandFeed) -> None:
    d.start()
    d.wait_ready()
    wait_view(d, plan)
    wait_source(d, "demands", feed.send(SMALL))


def bad_policy_rolled_back(d: Daemon, plan: LabPlan, before: dict[str, str]) -> None:
    r1r2 = plan.links["r1--r2"]
    direct = link_id(r1r2.a, r1r2.ifname, r1r2.b, r1r2.ifname)  # as the agent names it
    entry = ctl(d, "policies", "propose", "--reason", "move r1's traffic off r1--r2",
                "--metric", "r1", direct, "30")["entry"]
    assert entry is not None
    assert (entry["validation"]["tier"], entry["validation"]["ok"]) == ("model", True), entry
    pid = entry["proposal"]["policy_id"]
    ctl(d, "policies", "deploy", pid, "--interval", "4")
    shown = wait_outcome(d, pid, END)
    journal = history(d, pid)
    assert shown["entry"]["status"] == "rolled_back", phases(journal)
    assert phases(journal) == ["started", "applying", "applied", "measured", "rolling_back",
                               "rolled_back"]
    gate = journal[3]
    assert (gate["step"], gate["verdict"]) == (1, "failure")
    assert gate["loss_pct"] > 50.0, gate
    assert configs(plan) == before
