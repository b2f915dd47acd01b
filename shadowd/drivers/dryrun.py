"""``DryRunDriver``: what a rollout would apply or restore, written down and never sent;
with its own durable idea of each router's running config and of the changes it holds
applied (what the dry run's gates measure in the shadow)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypeVar

import msgspec

from shadowd import logs
from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.igp import Igp
from shadowd.drivers.base import apply_lines, changes_by_router, restore_lines, unified
from shadowd.drivers.saved import SavedConfigs, safe_name
from shadowd.policy.render import with_policy
from shadowd.policy.targets import RenderError, Target
from shadowd.store.files import write_durably

log = logs.get_logger()


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
        self.out_dir.mkdir(parents=True, exist_ok=True)
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
