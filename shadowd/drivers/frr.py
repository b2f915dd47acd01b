"""``FrrDriver``: policies onto FRR routers through ``vtysh -N PATHSPACE``, each router's
running config saved before it is first touched and checked byte-identical after a
restore."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from shadowd import logs
from shadowd.core.errors import CommandFailed
from shadowd.core.events import PolicyProposed
from shadowd.core.igp import Igp
from shadowd.drivers.base import (
    RestoreMismatch,
    apply_lines,
    changes_by_router,
    restore_lines,
    unified,
)
from shadowd.drivers.saved import SavedConfigs
from shadowd.policy.targets import Target
from shadowd.shell import run, vtysh_cmd

log = logs.get_logger()

VERIFY_S: Final = 2.0  # how long restore waits for the running config to read back


class FrrDriver:
    """Policies onto FRR routers through ``vtysh -N PATHSPACE``."""

    name = "frr"

    def __init__(self, target: Target, igp: Igp, state_dir: Path, vtysh: str = "vtysh",
                 *, timeout_s: float = 20.0) -> None:
        self.target, self.igp, self.vtysh = target, igp, vtysh
        self.saved = SavedConfigs(state_dir)
        self.timeout_s = timeout_s

    async def running(self, router: str) -> str:
        return await self._vtysh(router, ["show running-config"])

    async def apply(self, policy: PolicyProposed, routers: Sequence[str]) -> None:
        started = time.monotonic()
        todo = changes_by_router(policy, routers)
        for router, changes in todo.items():
            saved = self.saved.load(policy.policy_id, router)
            if saved is None:
                saved = await self.running(router)
                self.saved.save(policy.policy_id, router, saved)
            await self._vtysh(router, apply_lines(changes, self.target, self.igp, saved))
        log.info("policy applied", driver=self.name, policy_id=policy.policy_id,
                 routers=list(todo), took_s=round(time.monotonic() - started, 3))

    async def restore(self, policy: PolicyProposed, routers: Sequence[str]) -> None:
        started = time.monotonic()
        diffs: dict[str, str] = {}
        done = []
        for router, changes in changes_by_router(policy, routers).items():
            saved = self.saved.load(policy.policy_id, router)
            if saved is None:
                continue  # never touched (or already restored)
            await self._vtysh(router, restore_lines(changes, self.target, self.igp, saved))
            now = await self._read_back(router, saved)
            if now != saved:
                diffs[router] = unified(router, saved, now, "after-restore")
                continue
            self.saved.retire(policy.policy_id, router)
            done.append(router)
        log.info("policy restored", driver=self.name, policy_id=policy.policy_id,
                 routers=done, mismatched=sorted(diffs),
                 took_s=round(time.monotonic() - started, 3))
        if diffs:
            raise RestoreMismatch(policy.policy_id, diffs)

    async def _read_back(self, router: str, saved: str) -> str:
        """The running config, polled briefly until it equals ``saved``."""
        deadline = time.monotonic() + VERIFY_S
        while True:
            now = await self.running(router)
            if now == saved or time.monotonic() > deadline:
                return now
            await asyncio.sleep(0.1)

    async def _vtysh(self, router: str, lines: list[str]) -> str:
        cmd = vtysh_cmd(self.target.pathspace(router), lines, vtysh=self.vtysh)
        out = await run(cmd, timeout_s=self.timeout_s)
        complaints = [ln for ln in out.splitlines() if ln.startswith("%")]
        if complaints:
            raise CommandFailed(cmd, 0, "; ".join(complaints))
        return out


