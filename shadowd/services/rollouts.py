"""The shell that drives one rollout (``shadowd.policy.rollout``) against production:
each ``Journal`` action is appended to the log before the actions after it run, each
``Apply``/``Restore`` goes to the driver, each ``Measure`` to the monitor, and the
operator's ``approve``/``rollback`` reach the machine between them (a rollback cuts a
running measurement short). An apply that fails rolls back; a restore that fails stops
the rollout with its journal left open, so the next start recovers it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

from shadowd import logs
from shadowd.core.conditions import Sample
from shadowd.core.events import PolicyProposed, RolloutStep
from shadowd.drivers.base import Driver
from shadowd.policy.actions import Alert, AnyAction, Apply, Done, Journal, Measure, Outcome, Restore
from shadowd.policy.rollout import Rollout, RolloutError
from shadowd.services.monitor import Monitor

log = logs.get_logger()

Command = Literal["approve", "rollback"]


class RolloutRunner:
    def __init__(self, machine: Rollout, policy: PolicyProposed, *, driver: Driver,
                 monitor: Monitor, journal: Callable[[Journal], RolloutStep],
                 clock: Callable[[], float] = time.time) -> None:
        self.machine, self.policy = machine, policy
        self._driver, self._monitor, self._journal = driver, monitor, journal
        self._clock = clock
        self._commands: asyncio.Queue[Command] = asyncio.Queue()

    @property
    def rollout_id(self) -> str:
        return self.machine.spec.rollout_id

    def command(self, command: Command) -> None:
        """An operator's ``approve``/``rollback``; refused (``RolloutError``) when the
        rollout is in no state to take it."""
        if command == "approve" and self.machine.state != "held":
            raise RolloutError(f"nothing to approve: the rollout is {self.machine.state}",
                               rollout_id=self.rollout_id)
        if command == "rollback" and self.machine.state in ("rolling_back", "done"):
            raise RolloutError(f"already {self.machine.state}", rollout_id=self.rollout_id)
        self._commands.put_nowait(command)

    async def run(self, actions: list[AnyAction]) -> Outcome:
        """Execute ``actions`` (the machine's first) and everything they lead to."""
        while True:
            follow: Callable[[], list[AnyAction]] | None = None
            for action in actions:
                if isinstance(action, Done):
                    return action.outcome
                follow = await self._execute(action) or follow
            actions = follow() if follow is not None else await self._operator()

    async def _execute(self, action: AnyAction) -> Callable[[], list[AnyAction]] | None:
        m = self.machine
        if isinstance(action, Journal):
            self._journal(action)
        elif isinstance(action, Alert):
            text, severity = _ALERTS[action.kind]
            logs.alert(log, action.kind, severity, text, rollout=self.rollout_id,
                       policy=self.policy.policy_id, **action.fields)
        elif isinstance(action, Apply):
            try:
                await self._driver.apply(self.policy, action.routers)
            except Exception as err:  # a router refused: what was applied goes back
                reason = f"apply failed: {type(err).__name__}: {err}"[:160]
                log.error("policy apply failed", rollout=self.rollout_id,
                          routers=list(action.routers), error=reason)
                return lambda: m.rollback(self._clock(), reason)
            return lambda: m.applied(self._clock())
        elif isinstance(action, Restore):
            await self._driver.restore(self.policy, action.routers)
            return lambda: m.restored(self._clock())
        elif isinstance(action, Measure):
            return await self._measure(action)
        return None

    async def _measure(self, action: Measure) -> Callable[[], list[AnyAction]]:
        seconds = max(0.0, action.until - self._clock())
        measuring = asyncio.ensure_future(self._monitor.measure(seconds))
        waiting = asyncio.ensure_future(self._commands.get())
        try:
            await asyncio.wait({measuring, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (measuring, waiting):
                if not task.done():
                    task.cancel()
        if waiting.done() and not waiting.cancelled():
            return self._after(waiting.result())
        sample: Sample = measuring.result()
        return lambda: self.machine.measured(sample, self._clock())

    async def _operator(self) -> list[AnyAction]:
        """Held: wait for the operator."""
        return self._after(await self._commands.get())()

    def _after(self, command: Command) -> Callable[[], list[AnyAction]]:
        if command == "approve":
            return lambda: self.machine.approve(self._clock())
        return lambda: self.machine.rollback(self._clock(), "rolled back by the operator")


_ALERTS: dict[str, tuple[str, logs.Severity]] = {
    "rollout_held": ("a rollout is held: approve or roll it back (shadowctl policies ...)",
                     "warning"),
    "rollout_rolled_back": ("a rollout was rolled back; production runs what it ran before",
                            "critical"),
    "rollout_completed": ("a rollout completed: the whole segment runs the policy", "info"),
    "rollout_failed_gate": ("a rollout gate failed", "warning"),
}
