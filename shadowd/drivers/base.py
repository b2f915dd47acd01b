"""What every driver shares: the ``Driver`` protocol, a policy's changes per router, and
the vtysh lines that apply and restore them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Protocol

from shadowd.core.errors import ShadowdError
from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.igp import Igp
from shadowd.policy.render import (
    commands,
    refresh,
    restore_commands,
)
from shadowd.policy.targets import Target


class RestoreMismatch(ShadowdError):
    """After a restore, routers do not run exactly their saved configs; ``diffs`` holds,
    per router, the unified diff saved -> running."""

    def __init__(self, policy_id: str, diffs: Mapping[str, str]) -> None:
        super().__init__(f"policy {policy_id}: not restored exactly on "
                         f"{', '.join(sorted(diffs))}")
        self.policy_id = policy_id
        self.diffs = dict(diffs)


class Driver(Protocol):
    name: str

    async def apply(self, policy: PolicyProposed, routers: Sequence[str]) -> None: ...
    async def restore(self, policy: PolicyProposed, routers: Sequence[str]) -> None: ...
    async def running(self, router: str) -> str: ...


def changes_by_router(policy: PolicyProposed,
                      routers: Sequence[str]) -> dict[str, list[PolicyChange]]:
    """The policy's changes on ``routers``, per router, in ``routers``' order."""
    out: dict[str, list[PolicyChange]] = {}
    for router in dict.fromkeys(routers):
        mine = [c for c in policy.changes if c.router == router]
        if mine:
            out[router] = mine
    return out


def unified(router: str, before: str, after: str, to: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="",
                                 fromfile=f"{router}/running-config", tofile=f"{router}/{to}")
    text = "\n".join(lines)
    return text + "\n" if text else ""


def apply_lines(changes: Sequence[PolicyChange], target: Target, igp: Igp,
                saved: str) -> list[str]:
    """One vtysh session's lines: configure the changes, then refresh BGP peers."""
    config = [ln for c in changes for ln in commands(c, target, igp)]
    return ["configure terminal", *config, "end", *refresh(changes, target, saved)]


def restore_lines(changes: Sequence[PolicyChange], target: Target, igp: Igp,
                  saved: str) -> list[str]:
    return ["configure terminal", *restore_commands(changes, target, igp, saved), "end",
            *refresh(changes, target, saved)]


