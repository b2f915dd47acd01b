"""The guided main job (``shadowd run --guided``, what ``make run`` runs): the daemon as
always, plus a narrator that says, as the log shows it happening, each stage of the loop
on the embedded default: telemetry in, a spike predicted, the scenarios run before it, a
policy proposed and validated in the shadow, and that policy rolled out by the dry-run
driver (never to a router). When the rollout ends (or the replay does, whatever it got
to), it writes the report and a summary with its path; the daemon then runs on, live,
until Ctrl-C.

The guide only reads what the log says and, once, deploys the first validated policy
with the dry-run driver; with any other driver it says what it would do and deploys
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from shadowd import logs
from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
    ScenarioRan,
    SpikePredicted,
)
from shadowd.core.state import State
from shadowd.tiers.policy import Policies, PolicyRefused

log = logs.get_logger(component="guide")

STAGES: Final = ("ingest", "predict", "scenarios", "policy", "rollout")
ROLLOUT_INTERVAL_S: Final = 5.0  # the guided dry-run's gates: seconds, not minutes
_ENDS: Final = frozenset({"completed", "rolled_back", "aborted", "held"})

Report = Callable[[], Awaitable[Path]]


@dataclass
class _Seen:
    stages: set[str] = field(default_factory=set)
    proposed: dict[str, PolicyProposed] = field(default_factory=dict)
    deploying: str = ""  # the policy the guide rolls out
    summary_due: bool = False


class Guide:
    def __init__(self, state: State, policies: Policies, report: Report) -> None:
        self._state, self._policies, self._report = state, policies, report
        self._seen = _Seen()
        self._wake = asyncio.Event()
        self._finished_sources: set[str] = set()

    # --- the hook (synchronous) ----------------------------------------------------------

    def note(self, events: list[AnyEvent]) -> None:
        if events and events[0].source != DAEMON_SOURCE and "ingest" in self._seen.stages:
            return  # telemetry (the hot path): nothing more to say about it
        for event in events:
            if event.source != DAEMON_SOURCE:
                self._stage("ingest", f"telemetry from {event.source!r} is flowing into the "
                            "log; the forecaster learns a day before it predicts")
            elif isinstance(event, SpikePredicted):
                self._stage("predict", f"spike predicted on {event.link} {event.direction}: "
                            f"{event.predicted_util:.0%} of capacity, worst case "
                            f"{event.extreme_util:.0%} if {event.worst_failure} fails")
            elif isinstance(event, ScenarioRan):
                self._stage("scenarios", f"{event.scenario} ran in the {event.tier} before "
                            f"the spike: worst link {event.worst_link} at "
                            f"{event.worst_util:.0%}")
            elif isinstance(event, PolicyProposed):
                self._seen.proposed[event.policy_id] = event
            elif isinstance(event, PolicyValidated):
                self._validated(event)
            elif isinstance(event, RolloutStep) and event.policy_id == self._seen.deploying \
                    and event.phase in _ENDS:
                self._stage("rollout", f"rollout {event.rollout_id} {event.phase} "
                            f"({event.detail or 'every gate passed'})")
                self._summary_due()

    def source_finished(self, name: str) -> None:
        """A finite source (the replay) ended: sum up whatever the loop got to."""
        self._finished_sources.add(name)
        self._summary_due()

    def _validated(self, event: PolicyValidated) -> None:
        policy = self._seen.proposed.get(event.policy_id)
        if policy is None or not event.ok or self._seen.deploying:
            return
        changes = ", ".join(f"{c.router} {c.attr} on {c.target} {c.old}->{c.new}"
                            for c in policy.changes)
        self._stage("policy", f"policy {policy.policy_id} ({changes}) takes the worst case "
                    f"from {policy.wc_before:.0%} to {policy.wc_after:.0%}"
                    f"{'' if policy.wc_after <= policy.target_util else ' (best effort)'}; "
                    f"confirmed in the {event.tier}")
        self._seen.deploying = policy.policy_id
        self._wake.set()

    def _stage(self, stage: str, text: str) -> None:
        if stage in self._seen.stages:
            return
        self._seen.stages.add(stage)
        number = STAGES.index(stage) + 1
        log.info(f"[{number}/{len(STAGES)} {stage}] {text}")

    def _summary_due(self) -> None:
        self._seen.summary_due = True
        self._wake.set()

    # --- the task --------------------------------------------------------------------------

    async def run(self) -> None:
        deployed = False
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._seen.deploying and not deployed:
                deployed = True
                await self._deploy(self._seen.deploying)
            if self._seen.summary_due:
                self._seen.summary_due = False
                await self._summary()

    async def _deploy(self, policy_id: str) -> None:
        if self._policies.driver_name != "dry-run":
            log.info(f"the guide deploys nothing with the {self._policies.driver_name!r} "
                     f"driver: `shadowctl policies deploy {policy_id}` when you are ready")
            return
        try:
            rollout = await self._policies.deploy(policy_id,
                                                  monitoring_interval_s=ROLLOUT_INTERVAL_S)
        except PolicyRefused as err:
            log.warning("the guided rollout was refused", error=str(err))
            return
        log.info(f"rolling {policy_id} out with the dry-run driver ({rollout}): it writes "
                 "what it would apply and touches no router")

    async def _summary(self) -> None:
        try:
            path = (await self._report()).resolve()
        except Exception as err:  # the summary still says what happened
            log.error("the report could not be written", error=f"{type(err).__name__}: {err}")
            path = None
        s, policies = self._state, self._state.policies.values()
        missing = [stage for stage in STAGES if stage not in self._seen.stages]
        log.info("summary", events=s.lsn, routers=len(s.routers), links=len(s.links),
                 policies_proposed=len(policies),
                 policies_validated=sum(e.validation is not None and e.validation.ok
                                        for e in policies),
                 stages_seen=f"{len(STAGES) - len(missing)}/{len(STAGES)}",
                 stages_not_reached=missing, report=str(path) if path else "none")
        if path is not None:
            log.info(f"report: file://{path}  (refresh: shadowctl report --out {path.parent})")
        log.info("shadowd runs on, live; `shadowctl status` in another terminal, Ctrl-C stops")
