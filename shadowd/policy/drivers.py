"""Drivers deploy a policy to routers and take it back: ``FrrDriver`` through vtysh (one
FRR pathspace per router), ``DryRunDriver`` only writing down what it would do.

``apply(policy, routers)`` acts on the changes whose router is in ``routers``. Before it
first touches a router for a policy, ``FrrDriver`` saves that router's whole
``show running-config`` durably (``saved.SavedConfigs``); re-applying is harmless.
``restore(policy, routers)`` puts back, slot by slot, what the saved config held (the
same line again, ``no ...`` where there was none), then checks that ``show
running-config`` is byte-identical to the saved text (FRR 8.4 prints no timestamps or
counters there, so nothing is ignored) and raises ``RestoreMismatch`` with the diff if
not. It reads only what apply saved, so it works from a fresh driver after a crash, and
does nothing on routers it never touched. ``DryRunDriver`` keeps its saves and its idea of
the running configs durably in the same way.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, Protocol, TypeVar

import msgspec

from shadowd import logs
from shadowd.core.errors import CommandFailed, ShadowdError
from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.igp import Igp
from shadowd.lab.shell import run, vtysh_cmd
from shadowd.policy.render import (
    commands,
    refresh,
    restore_commands,
    with_policy,
)
from shadowd.policy.saved import SavedConfigs, safe_name, write_durably
from shadowd.policy.targets import RenderError, Target

log = logs.get_logger()

VERIFY_S: Final = 2.0  # how long restore waits for the running config to read back


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


@dataclass(frozen=True, slots=True)
class DryRunCall:
    """One call to the dry-run driver: per router, the vtysh lines and the diff."""

    action: Literal["apply", "restore"]
    policy_id: str
    routers: tuple[str, ...]
    lines: dict[str, list[str]] = field(default_factory=dict)
    diffs: dict[str, str] = field(default_factory=dict)
    files: tuple[Path, ...] = ()


class _Named:
    """Any link or peer spelled as itself, for a dry run without a real target."""

    def pathspace(self, router: str) -> str:
        return router

    def interface(self, router: str, link: str) -> str:
        return link

    def neighbor(self, router: str, peer: str) -> str:
        raise RenderError(f"{router}: peer {peer!r}'s address comes from the running config")


class DryRunDriver:
    """Writes what it would apply or restore under ``out_dir/POLICY/`` (``NNN-ACTION
    .vtysh`` and ``.diff`` per call, numbered on from what is there), records every call
    in ``calls``, and keeps its own idea of each router's running config (``configs``,
    empty text if not given). That idea (``out_dir/running.json``), the changes it holds
    applied (``in_effect()``, from ``out_dir/in-effect.json``: what the dry run's gates
    measure in the shadow) and the configs saved before a policy touched a router
    (``out_dir/saved/``) are written durably, so a rollout recovered after a restart
    restores what it applied, as with FRR."""

    name = "dry-run"

    def __init__(self, out_dir: Path, *, target: Target | None = None, igp: Igp = "ospf",
                 configs: Mapping[str, str] | None = None) -> None:
        self.out_dir = out_dir
        self.target: Target = target if target is not None else _Named()
        self.igp = igp
        self.configs = {**(configs or {}), **_load(out_dir / _RUNNING, dict[str, str])}
        self.applied = _load(out_dir / _IN_EFFECT, dict[str, list[PolicyChange]])
        self.calls: list[DryRunCall] = []
        self.saved = SavedConfigs(out_dir, "saved")

    async def running(self, router: str) -> str:
        return self.configs.get(router, "")

    def in_effect(self) -> list[PolicyChange]:
        """Every change the dry run holds applied: policy by policy, in the order they were
        first applied, each on the routers it has reached."""
        return [c for changes in self.applied.values() for c in changes]

    async def apply(self, policy: PolicyProposed, routers: Sequence[str]) -> None:
        lines, diffs = {}, {}
        for router, changes in changes_by_router(policy, routers).items():
            before = self.configs.get(router, "")
            saved = self.saved.load(policy.policy_id, router)
            if saved is None:
                saved = before
                self.saved.save(policy.policy_id, router, saved)
            lines[router] = apply_lines(changes, self.target, self.igp, saved)
            after = with_policy(before, changes, self.target, self.igp)
            diffs[router] = unified(router, before, after, f"with-{policy.policy_id}")
            self.configs[router] = after
        self._hold(policy, routers, add=True)
        self._record("apply", policy, routers, lines, diffs)

    async def restore(self, policy: PolicyProposed, routers: Sequence[str]) -> None:
        lines, diffs = {}, {}
        for router, changes in changes_by_router(policy, routers).items():
            saved = self.saved.load(policy.policy_id, router)
            if saved is None:
                continue
            lines[router] = restore_lines(changes, self.target, self.igp, saved)
            diffs[router] = unified(router, self.configs.get(router, ""), saved, "restored")
            self.configs[router] = saved
            self.saved.retire(policy.policy_id, router)
        self._hold(policy, routers, add=False)
        self._record("restore", policy, routers, lines, diffs)

    def _hold(self, policy: PolicyProposed, routers: Sequence[str], *, add: bool) -> None:
        """``policy``'s changes on ``routers`` now (add) or no longer (not add) applied."""
        touched = set(routers)
        kept = [c for c in self.applied.get(policy.policy_id, []) if c.router not in touched]
        if add:
            kept += [c for c in policy.changes if c.router in touched]
        if kept:
            self.applied[policy.policy_id] = kept
        else:
            self.applied.pop(policy.policy_id, None)

    def _record(self, action: Literal["apply", "restore"], policy: PolicyProposed,
                routers: Sequence[str], lines: dict[str, list[str]],
                diffs: dict[str, str]) -> None:
        write_durably(self.out_dir / _RUNNING, msgspec.json.encode(self.configs))
        write_durably(self.out_dir / _IN_EFFECT, msgspec.json.encode(self.applied))
        where = self.out_dir / safe_name(policy.policy_id)
        where.mkdir(parents=True, exist_ok=True)
        stem = where / f"{_next_number(where):03d}-{action}"
        vtysh = stem.with_suffix(".vtysh")
        vtysh.write_text("".join(
            f"# {router}: vtysh -N {self.target.pathspace(router)}\n"
            + "".join(f"{ln}\n" for ln in router_lines)
            for router, router_lines in lines.items()))
        diff = stem.with_suffix(".diff")
        diff.write_text("".join(diffs.values()))
        self.calls.append(DryRunCall(action=action, policy_id=policy.policy_id,
                                     routers=tuple(routers), lines=lines, diffs=diffs,
                                     files=(vtysh, diff)))


_RUNNING: Final = "running.json"  # the dry-run driver's idea of each router's config
_IN_EFFECT: Final = "in-effect.json"  # ... and of the policy changes it holds applied
_T = TypeVar("_T", dict[str, str], dict[str, list[PolicyChange]])


def _load(path: Path, kind: type[_T]) -> _T:
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except FileNotFoundError:
        return kind()
    except (OSError, msgspec.DecodeError) as err:
        log.warning("dry-run record not read; starting from none", path=str(path),
                    reason=str(err))
        return kind()


def _next_number(where: Path) -> int:
    """One past the highest ``NNN-`` call already written in ``where``."""
    numbers = [int(p.name[:3]) for p in where.glob("[0-9][0-9][0-9]-*")]
    return max(numbers, default=0) + 1
