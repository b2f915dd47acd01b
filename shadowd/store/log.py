"""The event log on local disk: append-only segment files of CRC'd record frames.

Event number n has log sequence number (lsn) n, from 1. ``write`` appends one record per
call without fsync; ``sync`` makes everything written durable. On open, a torn or corrupt
tail is cut off (or, read-only, ignored) and described in ``truncation``; damage anywhere
else raises ``LogCorrupt`` naming the segment and offset, never skipped.

One process writes a log directory at a time (an ``flock`` on it says so).

A start reads only the segments after the newest snapshot. So that damage in the older
ones is not silent either, each segment is *sealed* when the log rolls past it: its size
and mtime go into ``sealed.json``. ``check_sealed`` (the daemon's start) scans every
earlier segment whose size or mtime no longer match its seal (or that has none yet) and
reports damage there as ``SealedDamage``; what matches is not read again. Bit rot that
leaves both alone is found by ``shadowd log inspect``, which reads everything.
"""

from __future__ import annotations

import bisect
import fcntl
import mmap
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

import msgspec

from shadowd.core.errors import LogCorrupt, ShadowdError
from shadowd.core.events import AnyEvent, decode_batch
from shadowd.store.files import Fsync, write_all, write_durably
from shadowd.store.frames import Buffer, Damage, record_frame
from shadowd.store.segments import (
    Batch,
    BatchScan,
    SegmentScan,
    list_segments,
    scan_segment,
    segment_name,
)

DEFAULT_SEGMENT_BYTES: Final = 64 << 20
INDEX_EVERY_BYTES: Final = 64 << 10  # a read from lsn n skips at most this much of a segment


class LogUnavailable(ShadowdError):
    """The log cannot be written: another process holds it, or a write or fsync failed
    (after which what reached the disk is unknown until the log is reopened)."""


@dataclass(frozen=True, slots=True)
class Truncation:
    """A torn or corrupt tail found on open. ``applied`` is false when opened read-only."""

    segment: str
    offset: int
    dropped_bytes: int
    reason: str
    applied: bool

    def __str__(self) -> str:
        verb = "truncated" if self.applied else "ignored"
        return (
            f"{verb} torn log tail: {self.segment} at offset {self.offset}, "
            f"{self.dropped_bytes} bytes dropped ({self.reason})"
        )


@dataclass(frozen=True, slots=True)
class SealedDamage:
    """Damage in a segment the start did not read: ``lsns`` is the range it holds."""

    segment: str
    offset: int
    reason: str
    lsns: tuple[int, int]

    def __str__(self) -> str:
        first, last = self.lsns
        return (f"damaged log segment {self.segment} at offset {self.offset} ({self.reason}): "
                f"events {first}..{last} are covered by a later snapshot, so the shadow is "
                "whole, but history through them cannot be replayed")


SEALS: Final = "sealed.json"  # segment name -> (size, mtime_ns) when it was sealed
_Seals = dict[str, tuple[int, int]]


@dataclass(slots=True)
class _Segment:
    first_lsn: int
    path: Path
    intact_bytes: int | None = None  # known-good prefix; None: check the whole file on read
    index: list[tuple[int, int]] = field(default_factory=list)  # (first lsn, offset), sparse

    def note(self, first_lsn: int, offset: int) -> None:
        """Index a record, if it is far enough past the last one indexed."""
        if not self.index or offset - self.index[-1][1] >= INDEX_EVERY_BYTES:
            self.index.append((first_lsn, offset))

    def seek(self, lsn: int) -> tuple[int, int]:
        """``(first lsn, offset)`` of an indexed record at or before ``lsn``."""
        at = bisect.bisect_right(self.index, (lsn, sys.maxsize)) - 1
        return self.index[at] if at >= 0 else (self.first_lsn, 0)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _corrupt(path: Path, offset: int, reason: str) -> LogCorrupt:
    return LogCorrupt(f"{path}: offset {offset}: {reason}", segment=str(path), offset=offset)


def _check_segment_end(path: Path, batches: BatchScan, next_first: int | None) -> None:
    if batches.damage is not None:
        raise _corrupt(path, batches.damage.offset, batches.damage.reason)
    if next_first is not None and batches.next_lsn != next_first:
        reason = f"segment ends before lsn {batches.next_lsn}, next starts at {next_first}"
        raise _corrupt(path, batches.end, reason)


def _trimmed(events: list[AnyEvent], batch: Batch, from_lsn: int, stop: int) -> list[AnyEvent]:
    if batch.first_lsn >= from_lsn and batch.last_lsn <= stop:
        return events
    return events[max(from_lsn - batch.first_lsn, 0) : stop - batch.first_lsn + 1]


def _read(segment: _Segment) -> bytes:
    with segment.path.open("rb") as f:
        return f.read()


def _map(segment: _Segment) -> Buffer:
    """The segment's intact bytes, mapped rather than copied: a replay reads them once.

    Safe to map: nothing truncates a segment below ``intact_bytes`` while it is open."""
    with segment.path.open("rb") as f:
        size = segment.intact_bytes
        if size is None:
            size = os.fstat(f.fileno()).st_size
        return mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) if size else b""


class EventLog:
    """Use ``EventLog.open``; while a ``GroupCommitter`` runs, it alone writes."""

    def __init__(self, directory: Path, segments: list[_Segment], *, segment_bytes: int,
                 fsync: Fsync, readonly: bool) -> None:
        self.directory = directory
        self._segments = segments
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._readonly = readonly
        self._dir_fd = -1
        self._fd = -1
        self._failed: LogUnavailable | None = None
        self._corrupt: LogCorrupt | None = None
        self.last_lsn = 0
        self.truncation: Truncation | None = None

    # --- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES,
             fsync: Fsync = os.fsync, readonly: bool = False) -> EventLog:
        """Open (creating, unless read-only) a log directory and check its tail."""
        path = Path(directory)
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        found = list_segments(path) if path.is_dir() else []
        segments = [_Segment(lsn, file) for lsn, file in found]
        log = cls(path, segments, segment_bytes=segment_bytes, fsync=fsync, readonly=readonly)
        try:
            log._attach()
        except BaseException:
            log.close()
            raise
        return log

    def _attach(self) -> None:
        if not self._readonly:
            self._lock()
        if self._segments:
            last = self._segments[-1]
            self._check_tail(scan_segment(_read(last), last.first_lsn))
        if not self._readonly:
            self._start_writing()

    def _lock(self) -> None:
        self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._dir_fd)
            self._dir_fd = -1
            raise LogUnavailable(f"{self.directory}: log is open in another process") from None

    def _check_tail(self, scan: SegmentScan) -> None:
        last = self._segments[-1]
        last.intact_bytes = scan.end
        for batch in scan.batches:
            last.note(batch.first_lsn, batch.offset)
        self.last_lsn = scan.next_lsn - 1
        if scan.damage is None:
            return
        if not scan.tail:
            self._corrupt = _corrupt(last.path, scan.damage.offset, scan.damage.reason)
            if not self._readonly:
                raise self._corrupt
            return
        self.truncation = Truncation(
            last.path.name, scan.end, scan.dropped_bytes, scan.damage.reason, not self._readonly
        )
        if not self._readonly:
            os.truncate(last.path, scan.end)

    def _start_writing(self) -> None:
        if not self._segments:
            self._start_segment(1)
            return
        last = self._segments[-1]
        self._fd = os.open(last.path, os.O_WRONLY | os.O_APPEND)
        if self.truncation is not None:
            self._fsync(self._fd)

    def _start_segment(self, first_lsn: int) -> None:
        path = self.directory / segment_name(first_lsn)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._segments.append(_Segment(first_lsn, path, intact_bytes=0))
        self._fsync(self._dir_fd)

    # --- writing -------------------------------------------------------------------

    def write(self, events: Sequence[AnyEvent]) -> int:
        """Append ``events`` as one record (no fsync); return the lsn of the last one.

        Only when the active segment is full is it fsynced, before the next one is made,
        so a crash can tear the last segment only.
        """
        self._check_writable()
        if not events:
            return self.last_lsn
        data = record_frame(self.last_lsn + 1, events if isinstance(events, list) else [*events])
        active = self._segments[-1]
        size = active.intact_bytes or 0
        if size and size + len(data) > self._segment_bytes:
            self._roll()
            active, size = self._segments[-1], 0
        try:
            write_all(self._fd, data)
        except OSError as err:
            self._undo_partial_write(size, err)
            raise
        active.intact_bytes = size + len(data)
        active.note(self.last_lsn + 1, size)
        self.last_lsn += len(events)
        return self.last_lsn

    def sync(self) -> None:
        """Make every write so far durable (one fsync of the active segment)."""
        self._check_writable()
        self._durable(self._fd)

    def _durable(self, fd: int) -> None:
        try:
            self._fsync(fd)
        except OSError as err:
            self._failed = LogUnavailable(f"fsync failed: {err}; reopen the log to recover")
            raise self._failed from err

    def _roll(self) -> None:
        self._durable(self._fd)
        os.close(self._fd)
        self._seal([self._segments[-1]])
        self._start_segment(self.last_lsn + 1)

    # --- seals ---------------------------------------------------------------------

    def check_sealed(self) -> list[SealedDamage]:
        """Scan every segment but the last (``open`` scans that one) whose size or mtime
        differ from its seal; seal those found whole (unless read-only)."""
        seals = self._seals()
        damaged, whole = [], []
        following = [s.first_lsn for s in self._segments[1:]]
        for segment, next_first in zip(self._segments[:-1], following, strict=True):
            if seals.get(segment.path.name) == _stamp(segment.path):
                continue
            scan = scan_segment(_read(segment), segment.first_lsn)
            if scan.damage is not None or scan.next_lsn != next_first:
                damage = scan.damage or Damage(scan.end, f"ends at lsn {scan.next_lsn - 1}, "
                                               f"the next segment starts at {next_first}")
                damaged.append(SealedDamage(segment.path.name, damage.offset, damage.reason,
                                            (segment.first_lsn, next_first - 1)))
            else:
                whole.append(segment)
        if whole and not self._readonly:
            self._seal(whole)
        return damaged

    def _seals(self) -> _Seals:
        try:
            return msgspec.json.decode((self.directory / SEALS).read_bytes(), type=_Seals)
        except (OSError, msgspec.DecodeError):  # none yet, or unreadable: check everything
            return {}

    def _seal(self, segments: list[_Segment]) -> None:
        seals = self._seals()
        seals.update({s.path.name: _stamp(s.path) for s in segments})
        present = {s.path.name for s in self._segments}
        write_durably(self.directory / SEALS,
                      msgspec.json.encode({k: v for k, v in seals.items() if k in present}),
                      self._fsync)

    def _undo_partial_write(self, size: int, err: OSError) -> None:
        try:
            os.ftruncate(self._fd, size)
        except OSError:
            self._failed = LogUnavailable(f"write failed ({err}) and could not be undone")

    def _check_writable(self) -> None:
        if self._failed is not None:
            raise self._failed
        if self._fd < 0:
            raise ValueError("log is closed or read-only")

    # --- reading -------------------------------------------------------------------

    def read(self, from_lsn: int = 1, until: int | None = None) -> Iterator[list[AnyEvent]]:
        """Yield the events with ``from_lsn <= lsn <= until`` in batches, in log order.

        Each frame is checked and decoded in one pass; damage raises ``LogCorrupt`` when
        the read reaches it, after the intact events before it were yielded.
        """
        if from_lsn < 1:
            raise ValueError(f"lsns start at 1, not {from_lsn}")
        stop = self._stop(until)
        for segment, next_first in self._segments_for(from_lsn, stop):
            first_lsn, offset = segment.seek(from_lsn)
            batches = BatchScan(_map(segment), first_lsn, offset)
            for batch in batches:
                if batch.last_lsn < from_lsn:
                    continue
                if batch.first_lsn > stop:
                    return
                yield _trimmed(decode_batch(batch.events), batch, from_lsn, stop)
            _check_segment_end(segment.path, batches, next_first)

    def events(self, from_lsn: int = 1, until: int | None = None,
               ) -> Iterator[tuple[int, AnyEvent]]:
        """``(lsn, event)`` for each event in ``from_lsn..until``: ``read``, one at a time."""
        lsn = from_lsn
        for batch in self.read(from_lsn, until):
            for event in batch:
                yield lsn, event
                lsn += 1

    def _stop(self, until: int | None) -> int:
        if self._corrupt is not None and (until is None or until > self.last_lsn):
            raise self._corrupt
        return self.last_lsn if until is None else min(until, self.last_lsn)

    def _segments_for(self, from_lsn: int, stop: int) -> list[tuple[_Segment, int | None]]:
        """The segments holding ``from_lsn..stop``, each with the next one's first lsn."""
        if from_lsn > stop:
            return []
        chosen = [s for s in self._segments if s.first_lsn <= stop]
        if not chosen or chosen[0].first_lsn > from_lsn:
            first = self._segments[0]
            reason = f"log starts at lsn {first.first_lsn}, lsn {from_lsn} is gone"
            raise _corrupt(first.path, 0, reason)
        start = max(i for i, s in enumerate(chosen) if s.first_lsn <= from_lsn)
        following = [s.first_lsn for s in self._segments[start + 1 :]]
        return list(zip(chosen[start:], [*following, None], strict=False))

    def segments(self) -> list[tuple[int, Path]]:
        """``(first_lsn, path)`` of each segment, in log order."""
        return [(s.first_lsn, s.path) for s in self._segments]

    # --- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Release the files. Does not sync: call ``sync`` first for durability."""
        for fd in (self._fd, self._dir_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._dir_fd = -1

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
