"""The fake service's policy book: a ``PolicyBook`` over an event list and its state, for
tests of ``shadowctl policies ...`` without a daemon, a lab or production."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from shadowd.core.errors import ShadowdError
from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    PolicyProposed,
    PolicyValidated,
    RolloutPhase,
    RolloutStep,
)
from shadowd.core.state import PolicyEntry, State, apply
from shadowd.policy.render import diff_running, render_frr, render_json


class FakeRefused(ShadowdError):
    """The fake book's "not now" (the daemon's is ``PolicyRefused``)."""


@dataclass(frozen=True, slots=True)
class FakeRendered:
    frr: dict[str, str]
    json: dict[str, Any]
    diffs: dict[str, str]


class _FakeTarget:
    """Interfaces and neighbours named after the link and peer: enough to render."""

    def pathspace(self, router: str) -> str:
        return router

    def interface(self, router: str, link: str) -> str:
        return f"to-{link}"

    def neighbor(self, router: str, peer: str) -> str:
        return "192.0.2.1"


_OPEN: Final = frozenset({"deploying", "held"})


class FakePolicyBook:
    """A ``PolicyBook`` whose records go into the service's log and state: a deploy starts
    a rollout that stays open (held first with ``manual_approval``) until rolled back or
    ``complete``d; ``propose`` records ``next_proposal`` (validated in the "model")."""

    def __init__(self, events: list[AnyEvent], state: State, clock: Callable[[], float]) -> None:
        self._events, self._state, self._clock = events, state, clock
        self.next_proposal: PolicyProposed | None = None
        self.manual_approval = False
        self.proposed_metrics: list[tuple[str, str, int]] = []  # the last propose's own changes
        self.running: dict[str, str] = {}  # router -> running config; else the old settings
        self._rollouts = 0

    def entries(self) -> list[PolicyEntry]:
        return list(self._state.policies.values())

    def entry(self, policy_id: str, /) -> PolicyEntry:
        found = self._state.policies.get(policy_id)
        if found is None:
            raise ShadowdError(f"no policy {policy_id!r}")
        return found

    async def rendered(self, policy_id: str, /) -> FakeRendered:
        policy, target = self.entry(policy_id).proposal, _FakeTarget()
        before = msgspec.structs.replace(policy, changes=tuple(
            msgspec.structs.replace(c, new=c.old) for c in policy.changes))
        was = render_frr(before, target, "ospf")
        diffs = {router: diff_running(router, self.running.get(router, text), policy, target,
                                      "ospf") for router, text in was.items()}
        return FakeRendered(frr=render_frr(policy, target, "ospf"), json=render_json(policy),
                            diffs=diffs)

    async def propose(self, reason: str = "manual",
                      metrics: Sequence[tuple[str, str, int]] = ()) -> PolicyEntry | None:
        self.proposed_metrics = list(metrics)
        if self.next_proposal is None:
            return None
        proposal = msgspec.structs.replace(self.next_proposal, reason=reason, **self._stamp())
        self.next_proposal = None
        self._record(proposal)
        self._record(PolicyValidated(policy_id=proposal.policy_id, tier="model", ok=True,
                                     wc_after=proposal.wc_after, **self._stamp()))
        return self.entry(proposal.policy_id)

    async def deploy(self, policy_id: str, /, segment: str | None = None,
                     rollout_percentage: float | None = None,
                     monitoring_interval_s: float | None = None, dry_run: bool = False) -> str:
        entry = self.entry(policy_id)
        if entry.validation is None or not entry.validation.ok:
            raise FakeRefused(f"policy {policy_id} is {entry.status}, not validated")
        if entry.status in _OPEN:
            raise FakeRefused(f"policy {policy_id} is already {entry.status}")
        self._rollouts += 1
        rollout_id = f"{policy_id}-r{self._rollouts}"
        routers = tuple(sorted({c.router for c in entry.proposal.changes}))
        self._step(entry, "started", rollout_id=rollout_id, segment=segment or "all",
                   routers=routers, percentage=rollout_percentage or 34.0,
                   interval_s=monitoring_interval_s or 60.0, dry_run=dry_run,
                   manual_approval=self.manual_approval, driver="fake")
        if self.manual_approval:
            self._step(entry, "held", detail="waiting for `shadowctl policies approve`")
        return rollout_id

    def approve(self, policy_id: str, /) -> str:
        entry = self.entry(policy_id)
        if entry.status != "held":
            raise FakeRefused(f"nothing of policy {policy_id} is held (it is {entry.status})")
        rollout_id = self._step(entry, "approved")
        return f"approve sent to rollout {rollout_id}"

    def rollback(self, policy_id: str, /) -> str:
        entry = self.entry(policy_id)
        if entry.status not in _OPEN:
            raise FakeRefused(f"policy {policy_id} has no rollout running")
        self._step(entry, "rolling_back")
        rollout_id = self._step(entry, "rolled_back", detail="manual rollback")
        return f"rollback sent to rollout {rollout_id}"

    def complete(self, policy_id: str) -> None:
        """The open rollout of ``policy_id`` widens to the whole segment and completes."""
        entry = self.entry(policy_id)
        self._step(entry, "applied", step=1, share=1.0)
        self._step(entry, "measured", step=1, share=1.0, verdict="success", loss_pct=0.1,
                   latency_ms=2.5, throughput_bps=9e8, max_util=0.7)
        self._step(entry, "completed", step=1, share=1.0)

    def history(self, policy_id: str | None, /) -> list[RolloutStep]:
        if policy_id is not None:
            return list(self.entry(policy_id).steps)
        return sorted((s for e in self.entries() for s in e.steps), key=lambda s: s.seq)

    def _step(self, entry: PolicyEntry, phase: RolloutPhase, **fields: Any) -> str:
        last = entry.steps[-1] if entry.steps else None
        fields.setdefault("rollout_id", last.rollout_id if last else "")
        fields.setdefault("segment", last.segment if last else "all")
        self._record(RolloutStep(policy_id=entry.proposal.policy_id, phase=phase,
                                 **fields, **self._stamp()))
        return str(fields["rollout_id"])

    def _stamp(self) -> dict[str, Any]:
        pos = self._state.sources.get(DAEMON_SOURCE)
        return {"source": DAEMON_SOURCE, "seq": (pos.seq if pos else 0) + 1,
                "ts": self._clock()}

    def _record(self, event: AnyEvent) -> None:
        self._events.append(event)
        apply(self._state, event)
