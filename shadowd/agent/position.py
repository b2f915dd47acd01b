"""The agent's place in its own sequence, kept in a small file so a restart never reuses a seq.

The file holds one JSON object ``{"source": ..., "seq": N}``: the highest seq the agent
may already have published. It is written (temp file, fsync, rename, fsync of the
directory) *before* messages carrying seqs up to N leave, so a crash can only make the
next run skip numbers (the consumer sees a gap and asks for a resync), never repeat one.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from shadowd.core.errors import ConfigError


class _Position(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    seq: int = 0


class PositionFile:
    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source

    def load(self) -> int:
        """The saved position, or 0 when there is no file yet."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        try:
            saved = msgspec.json.decode(data, type=_Position)
        except msgspec.DecodeError as err:
            raise ConfigError(f"{self.path}: unreadable agent position: {err}",
                              file=str(self.path)) from None
        if saved.source != self.source:
            raise ConfigError(f"{self.path} belongs to source {saved.source!r}, "
                              f"not {self.source!r}", file=str(self.path))
        return saved.seq

    def save(self, seq: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as out:
            out.write(msgspec.json.encode(_Position(source=self.source, seq=seq)))
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
