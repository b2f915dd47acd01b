"""Segments, pure: naming, and checking the records of one segment's bytes.

A segment file is named by the lsn of its first event, zero-padded so names sort in log
order (``00000000000000000001.seg``), and holds record frames numbered without gaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec

from shadowd.store.frames import (
    Buffer,
    Damage,
    FrameScan,
    array_length,
    find_record_after,
    split_record,
)

SUFFIX: Final = ".seg"


def segment_name(first_lsn: int) -> str:
    return f"{first_lsn:020d}{SUFFIX}"


def list_segments(directory: Path) -> list[tuple[int, Path]]:
    """``(first_lsn, path)`` of every segment file, in log order; other files are ignored."""
    found = []
    for path in directory.glob(f"*{SUFFIX}"):
        if path.stem.isdigit():
            found.append((int(path.stem), path))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class Batch:
    """One record, its events still encoded."""

    offset: int
    first_lsn: int
    count: int
    events: memoryview

    @property
    def last_lsn(self) -> int:
        return self.first_lsn + self.count - 1


@dataclass(slots=True)
class SegmentScan:
    """What a segment holds: its intact records, where they end, and any damage after them.

    ``tail`` is true when nothing intact follows the damage: a torn or corrupt last write,
    which recovery may cut off. Otherwise the damage is in the middle and must not be.
    """

    first_lsn: int
    size: int
    batches: list[Batch] = field(default_factory=list)
    end: int = 0
    damage: Damage | None = None
    tail: bool = False

    @property
    def next_lsn(self) -> int:
        return self.batches[-1].last_lsn + 1 if self.batches else self.first_lsn

    @property
    def dropped_bytes(self) -> int:
        return self.size - self.end


class BatchScan:
    """Iterate the intact records of a segment, one frame at a time; afterwards ``damage``
    says why it stopped short (None: it did not), ``end`` where, ``next_lsn`` at what lsn."""

    def __init__(self, data: Buffer, first_lsn: int, start: int = 0) -> None:
        """``start``: the offset of a record numbered ``first_lsn`` (default: the first)."""
        self._data = data
        self._start = start
        self.next_lsn = first_lsn
        self.end = start
        self.damage: Damage | None = None

    def __iter__(self) -> Iterator[Batch]:
        frames = FrameScan(self._data, self._start)
        for frame in frames:
            batch = _batch(frame.offset, frame.payload, self.next_lsn)
            if isinstance(batch, Damage):
                self.damage = batch
                return
            self.next_lsn, self.end = batch.last_lsn + 1, frame.end
            yield batch
        self.damage = frames.damage


def scan_segment(data: bytes, first_lsn: int) -> SegmentScan:
    """Check every frame and record of a segment; stop at the first damage."""
    batches = BatchScan(data, first_lsn)
    scan = SegmentScan(first_lsn, len(data), list(batches), batches.end, batches.damage)
    if scan.damage is not None:
        scan.tail = find_record_after(data, scan.damage.offset, scan.next_lsn - 1) is None
    return scan


def _batch(offset: int, payload: memoryview, expected_lsn: int) -> Batch | Damage:
    try:
        first_lsn, events = split_record(payload)
        count = array_length(events)
    except (msgspec.DecodeError, ValueError, IndexError) as err:
        return Damage(offset, f"undecodable record: {err}")
    if first_lsn != expected_lsn:
        return Damage(offset, f"record starts at lsn {first_lsn}, expected {expected_lsn}")
    if count == 0:
        return Damage(offset, "empty record")
    return Batch(offset, first_lsn, count, events)
