"""One process at a time owns a lab id: an exclusive ``flock`` on ``ID.lock`` beside the
lab's record, taken when the lab is built and held until it is taken down (or the process
ends: the kernel drops the lock with it, so a crash never leaves a lab locked).

A second ``shadowd lab up`` (or a daemon) for an id another process holds gets one clear
``LabError`` naming that process, instead of two builders racing over the same
namespaces.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from shadowd.lab.cleanup import RECORD_DIR
from shadowd.lab.plan import LabError


class LabOwner:
    """The lock on one lab id, held by this process while it is ``held``."""

    def __init__(self, lab_id: str, directory: Path = RECORD_DIR) -> None:
        self.lab_id = lab_id
        self.path = directory / f"{lab_id}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self) -> None:
        """Hold the lab id, or raise ``LabError`` naming the process that does."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LabError(f"lab {self.lab_id!r} is held by another process (pid {holder}), "
                           "which is building, running or removing it; wait for it, or stop "
                           "it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
