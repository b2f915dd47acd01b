"""What a rollout asks its shell to do, in order: frozen, tagged msgspec Structs.

The shell executes a rollout's actions one after the other; a ``Journal`` is appended to
the log before anything after it runs, so the log always says first what is about to be
done (``applying``, ``rolling_back``) and then what was done (``applied``, ``measured``,
``rolled_back``, ``completed``).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from shadowd.core.events import RolloutPhase, RolloutStep

Outcome: TypeAlias = Literal["completed", "rolled_back", "aborted"]
AlertKind: TypeAlias = Literal["rollout_held", "rollout_rolled_back", "rollout_completed",
                               "rollout_failed_gate"]
AlertValue: TypeAlias = str | int | float


class Action(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    pass


class Journal(Action, frozen=True):
    """Append a ``RolloutStep`` with these fields (the shell stamps source, seq, ts)
    BEFORE executing the actions after it."""

    rollout_id: str
    policy_id: str
    segment: str
    phase: RolloutPhase
    step: int = 0
    routers: tuple[str, ...] = ()
    share: float = 0.0
    verdict: Literal["", "success", "failure", "inconclusive"] = ""
    failures: int = 0
    latency_ms: float = 0.0
    throughput_bps: float = 0.0
    loss_pct: float = 0.0
    max_util: float = 0.0
    driver: str = ""
    detail: str = ""
    percentage: float = 0.0
    interval_s: float = 0.0
    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    failure_limit: int = 0
    manual_approval: bool = False
    dry_run: bool = False

    def event(self, *, source: str, seq: int, ts: float) -> RolloutStep:
        return RolloutStep(source=source, seq=seq, ts=ts, **msgspec.structs.asdict(self))


class Apply(Action, frozen=True):
    """Apply the policy's changes on these routers (idempotent), then call ``applied``."""

    routers: tuple[str, ...]
    step: int


class Measure(Action, frozen=True):
    """Gather a ``Sample`` over [now, until], then call ``measured``."""

    until: float
    step: int


class Restore(Action, frozen=True):
    """Put back these routers' previous configuration, in this order (idempotent;
    harmless on routers never touched; may be empty), then call ``restored``."""

    routers: tuple[str, ...]


class Alert(Action, frozen=True):
    kind: AlertKind
    fields: dict[str, AlertValue]


class Done(Action, frozen=True):
    outcome: Outcome


AnyAction: TypeAlias = Journal | Apply | Measure | Restore | Alert | Done
