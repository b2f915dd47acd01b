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
    HEAD_DECODER,
    Damage,
    FrameScan,
    array_length,
    find_record_after,
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

    def __init__(self, data: bytes, first_lsn: int, base: int = 0) -> None:
        self._data = data
        self._base = base  # where ``data`` starts in the segment: offsets count from there
        self.next_lsn = first_lsn
        self.end = base
        self.damage: Damage | None = None

    def __iter__(self) -> Iterator[Batch]:
        frames = FrameScan(self._data)
        for frame in frames:
            batch = _batch(self._base + frame.offset, frame.payload, self.next_lsn)
            if isinstance(batch, Damage):
                self.damage = batch
                return
            self.next_lsn, self.end = batch.last_lsn + 1, self._base + frame.end
            yield batch
        if frames.damage is not None:
            self.damage = Damage(self._base + frames.damage.offset, frames.damage.reason)


def scan_segment(data: bytes, first_lsn: int) -> SegmentScan:
    """Check every frame and record of a segment; stop at the first damage."""
    batches = BatchScan(data, first_lsn)
    scan = SegmentScan(first_lsn, len(data), list(batches), batches.end, batches.damage)
    if scan.damage is not None:
        scan.tail = find_record_after(data, scan.damage.offset, scan.next_lsn - 1) is None
    return scan


def _batch(offset: int, payload: memoryview, expected_lsn: int) -> Batch | Damage:
    try:
        head = HEAD_DECODER.decode(payload)
        count = array_length(memoryview(head.events))
    except (msgspec.DecodeError, ValueError, IndexError) as err:
        return Damage(offset, f"undecodable record: {err}")
    if head.first_lsn != expected_lsn:
        return Damage(offset, f"record starts at lsn {head.first_lsn}, expected {expected_lsn}")
    if count == 0:
        return Damage(offset, "empty record")
    return Batch(offset, head.first_lsn, count, memoryview(head.events))
