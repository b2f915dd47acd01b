"""The few file operations durability needs, with ``fsync`` passed in so tests can watch it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeAlias

Fsync: TypeAlias = Callable[[int], None]


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """``os.write`` until every byte is written (a write may be partial)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path, fsync: Fsync = os.fsync) -> None:
    """Make a directory's entries (a created, renamed or removed file) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


FILE_MODE: Final = 0o640  # the daemon's files: its group may read them, nobody else


def write_durably(path: Path, data: bytes, fsync: Fsync = os.fsync) -> None:
    """Replace ``path`` atomically: a temporary file of its own (so writers of the same
    path never share one), fsync, rename, fsync the directory. Mode ``FILE_MODE``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        write_all(fd, data)
        fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent, fsync)
