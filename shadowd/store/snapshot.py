"""Snapshots: the state plus its position (lsn, and each source's broker offsets).

Each is one CRC'd frame (see ``frames``) holding a msgpack ``Snapshot``, in
``snapshots/<lsn, zero-padded>.snap``, written atomically; the newest ``keep`` are kept.
A snapshot that fails its CRC or does not decode is skipped and reported, never trusted.

A snapshot may have *sidecars*: state of another part taken at the same lsn (the
predictor's forecasts: ``<lsn>.predict``), each one CRC'd frame of bytes its owner
encodes. They are written before their snapshot, pruned and set aside with it, and read
by their owner, which decides what a missing or damaged one costs. The snapshot's own
format does not change: tools that read snapshots never decode them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from shadowd.core.errors import LogCorrupt
from shadowd.core.state import State
from shadowd.store.files import Fsync, fsync_dir, write_durably
from shadowd.store.frames import Frame, FrameScan, frame

SCHEMA: Final = 1
SUFFIX: Final = ".snap"
ORPHAN: Final = ".orphan"

Offsets = dict[str, dict[str, int]]  # source -> partition (or topic) -> next offset


class Snapshot(msgspec.Struct, kw_only=True):
    schema: int = SCHEMA
    lsn: int
    state: State
    offsets: Offsets = msgspec.field(default_factory=dict)


_ENCODER: Final = msgspec.msgpack.Encoder()
_DECODER: Final = msgspec.msgpack.Decoder(Snapshot)


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    lsn: int
    path: Path


@dataclass(frozen=True, slots=True)
class SnapshotProblem:
    path: Path
    reason: str
    lsn: int = 0  # the snapshot's, where known

    def __str__(self) -> str:
        return f"skipped snapshot: {self.reason}"


def snapshot_name(lsn: int) -> str:
    return f"{lsn:020d}{SUFFIX}"


def sidecar_name(lsn: int, kind: str) -> str:
    return f"{lsn:020d}.{kind}"


def encode_snapshot(state: State, offsets: Offsets | None = None) -> bytes:
    return frame(_ENCODER.encode(Snapshot(lsn=state.lsn, state=state, offsets=offsets or {})))


def _payload(data: bytes, path: Path) -> memoryview:
    """The one intact frame's payload in ``data``, or ``LogCorrupt`` saying what is wrong."""
    scan = FrameScan(data)
    frames: list[Frame] = list(scan)
    if scan.damage is not None or len(frames) != 1:
        reason = scan.damage.reason if scan.damage else f"{len(frames)} frames, expected 1"
        raise LogCorrupt(f"{path}: {reason}", segment=str(path))
    return frames[0].payload


def decode_snapshot(data: bytes, path: Path, lsn: int) -> Snapshot:
    """The snapshot in ``data``, or ``LogCorrupt`` saying why it cannot be trusted."""
    payload = _payload(data, path)
    try:
        snap = _DECODER.decode(payload)
    except msgspec.DecodeError as err:
        raise LogCorrupt(f"{path}: undecodable snapshot: {err}", segment=str(path)) from None
    if not snap.lsn == snap.state.lsn == lsn:
        reason = f"named for lsn {lsn}, holds lsn {snap.lsn} (state at {snap.state.lsn})"
        raise LogCorrupt(f"{path}: {reason}", segment=str(path))
    return snap


class SnapshotStore:
    def __init__(self, directory: str | Path, *, keep: int = 3, fsync: Fsync = os.fsync) -> None:
        if keep < 1:
            raise ValueError("keep at least one snapshot")
        self.directory = Path(directory)
        self._keep = keep
        self._fsync = fsync

    def files(self) -> list[SnapshotFile]:
        """Every snapshot file, oldest first (checked only when loaded)."""
        if not self.directory.is_dir():
            return []
        found = (p for p in self.directory.glob(f"*{SUFFIX}") if p.stem.isdigit())
        return sorted((SnapshotFile(int(p.stem), p) for p in found), key=lambda f: f.lsn)

    def sidecars(self) -> list[SnapshotFile]:
        """Every sidecar file (``<lsn>.<kind>``), oldest first."""
        if not self.directory.is_dir():
            return []
        found = (p for p in self.directory.iterdir()
                 if p.stem.isdigit() and p.suffix not in (SUFFIX, ORPHAN, ""))
        return sorted((SnapshotFile(int(p.stem), p) for p in found), key=lambda f: f.lsn)

    def save(self, state: State, offsets: Offsets | None = None,
             sidecars: Mapping[str, bytes] | None = None) -> Path:
        """Write a snapshot durably and atomically, with its ``sidecars`` (kind -> bytes,
        written first, under the same lsn), then prune the oldest.

        Blocking (encode, write, fsyncs): run it in a thread, on a state nobody changes
        meanwhile (``state.fork()``) whose events are all durable, and sidecars taken at
        that same lsn.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind, data in (sidecars or {}).items():
            write_durably(self.sidecar_path(state.lsn, kind), frame(data), self._fsync)
        path = self.directory / snapshot_name(state.lsn)
        write_durably(path, encode_snapshot(state, offsets), self._fsync)
        self._prune()
        return path

    def _prune(self) -> None:
        snapshots = self.files()
        for old in snapshots[: -self._keep]:
            old.path.unlink(missing_ok=True)
        oldest = snapshots[-self._keep :][0].lsn if snapshots else 0
        for side in self.sidecars():
            if side.lsn < oldest:  # its snapshot is gone (or was never written)
                side.path.unlink(missing_ok=True)

    def sidecar_path(self, lsn: int, kind: str) -> Path:
        return self.directory / sidecar_name(lsn, kind)

    def sidecar(self, lsn: int, kind: str) -> bytes:
        """The bytes saved as ``kind`` beside the snapshot at ``lsn``: ``FileNotFoundError``
        when there are none, ``LogCorrupt`` when they fail their CRC."""
        path = self.sidecar_path(lsn, kind)
        return bytes(_payload(path.read_bytes(), path))

    def beyond(self, lsn: int, *, set_aside: bool = False) -> list[SnapshotProblem]:
        """Snapshots past ``lsn`` (the log's end: the log lost their events), optionally
        renamed ``*.orphan`` so no later recovery mistakes them for the log's history."""
        problems = []
        for file in self.files():
            if file.lsn > lsn:
                problems.append(SnapshotProblem(file.path, f"{file.path}: lsn {file.lsn} is "
                                                f"past the end of the log (lsn {lsn})",
                                                file.lsn))
                if set_aside:
                    file.path.rename(file.path.with_suffix(ORPHAN))
        if set_aside:
            sidecars = [f for f in self.sidecars() if f.lsn > lsn]
            for file in sidecars:
                file.path.rename(file.path.with_name(file.path.name + ORPHAN))
            if problems or sidecars:
                fsync_dir(self.directory, self._fsync)
        return problems

    def load(self, file: SnapshotFile) -> Snapshot:
        return decode_snapshot(file.path.read_bytes(), file.path, file.lsn)

    def latest(self, until: int | None = None) -> tuple[Snapshot | None, list[SnapshotProblem]]:
        """The newest intact snapshot with lsn <= ``until``, and the broken ones skipped."""
        problems: list[SnapshotProblem] = []
        for file in reversed(self.files()):
            if until is not None and file.lsn > until:
                continue
            try:
                return self.load(file), problems
            except (OSError, LogCorrupt) as err:
                problems.append(SnapshotProblem(file.path, str(err)))
        return None, problems
