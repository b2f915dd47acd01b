"""Routers' pre-policy running configs, kept durably so a restore works after a crash.

``STATE_DIR/rollouts/POLICY/ROUTER.conf`` holds ``show running-config`` as it was just
before the driver first touched ROUTER for POLICY. It is written whole or not at all
(temp file, fsync, rename, fsync of the directory), kept until a restore has verified
the router runs it again, then renamed ``ROUTER.restored.conf`` (kept for the record; a
later apply of the same policy saves afresh).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from shadowd.store.files import fsync_dir, write_durably

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(name: str) -> str:
    spelled = _UNSAFE.sub("_", name)
    return "_" + spelled if spelled.startswith(".") else spelled


class SavedConfigs:
    def __init__(self, state_dir: Path, subdir: str = "rollouts") -> None:
        self.root = state_dir / subdir

    def path(self, policy_id: str, router: str) -> Path:
        return self.root / safe_name(policy_id) / f"{safe_name(router)}.conf"

    def load(self, policy_id: str, router: str) -> str | None:
        try:
            return self.path(policy_id, router).read_text()
        except FileNotFoundError:
            return None

    def save(self, policy_id: str, router: str, running: str) -> Path:
        path = self.path(policy_id, router)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(path, running.encode())
        return path

    def retire(self, policy_id: str, router: str) -> None:
        """The router runs its saved config again: keep the file as a record only."""
        path = self.path(policy_id, router)
        path.replace(path.with_name(f"{safe_name(router)}.restored.conf"))
        fsync_dir(path.parent)
