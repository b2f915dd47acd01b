"""What a state directory holds, checked end to end without changing or trusting anything.

Unlike ``EventLog.open`` this never raises on damage: it is the tool for looking at it.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from shadowd.core.errors import LogCorrupt
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR
from shadowd.store.segments import SegmentScan, list_segments, scan_segment
from shadowd.store.snapshot import SnapshotStore


class DamageReport(msgspec.Struct, kw_only=True):
    offset: int
    reason: str
    torn_tail: bool  # the last write, cut off on the next open; otherwise corruption


class SegmentReport(msgspec.Struct, kw_only=True):
    name: str
    first_lsn: int
    last_lsn: int  # first_lsn - 1 when empty
    frames: int
    bytes: int
    damage: DamageReport | None = None


class SnapshotReport(msgspec.Struct, kw_only=True):
    name: str
    lsn: int
    bytes: int
    problem: str | None = None


class StateDirReport(msgspec.Struct, kw_only=True):
    state_dir: str
    first_lsn: int
    last_lsn: int
    segments: list[SegmentReport]
    snapshots: list[SnapshotReport]
    corruption: list[str]  # damage recovery will refuse: anywhere but the log's tail

    @property
    def events(self) -> int:
        return self.last_lsn - self.first_lsn + 1 if self.segments else 0


def inspect_state_dir(state_dir: str | Path) -> StateDirReport:
    root = Path(state_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no state directory {root}")
    found = list_segments(root / LOG_DIR)
    scans = [scan_segment(path.read_bytes(), lsn) for lsn, path in found]
    segments = [_segment(path, scan, last=path == found[-1][1]) for (_, path), scan in zip(
        found, scans, strict=True
    )]
    return StateDirReport(
        state_dir=str(root),
        first_lsn=found[0][0] if found else 1,
        last_lsn=_intact_end(scans),
        segments=segments,
        snapshots=_snapshots(SnapshotStore(root / SNAPSHOT_DIR)),
        corruption=_corruption(segments),
    )


def _segment(path: Path, scan: SegmentScan, *, last: bool) -> SegmentReport:
    damage = None
    if scan.damage is not None:
        damage = DamageReport(
            offset=scan.damage.offset, reason=scan.damage.reason, torn_tail=last and scan.tail
        )
    return SegmentReport(
        name=path.name, first_lsn=scan.first_lsn, last_lsn=scan.next_lsn - 1,
        frames=len(scan.batches), bytes=scan.size, damage=damage,
    )


def _intact_end(scans: list[SegmentScan]) -> int:
    """The last lsn reachable from the start without crossing damage or a gap."""
    end = 0
    for scan in scans:
        if end and scan.first_lsn != end + 1:
            break
        end = scan.next_lsn - 1
        if scan.damage is not None:
            break
    return end


def _corruption(segments: list[SegmentReport]) -> list[str]:
    found = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg.damage is not None and not seg.damage.torn_tail:
            found.append(f"{seg.name}: offset {seg.damage.offset}: {seg.damage.reason}")
        if not last and segments[i + 1].first_lsn != seg.last_lsn + 1:
            found.append(f"{seg.name}: ends at lsn {seg.last_lsn}, "
                         f"next segment starts at {segments[i + 1].first_lsn}")
    return found


def _snapshots(store: SnapshotStore) -> list[SnapshotReport]:
    reports = []
    for file in store.files():
        report = SnapshotReport(name=file.path.name, lsn=file.lsn, bytes=file.path.stat().st_size)
        try:
            store.load(file)
        except (OSError, LogCorrupt) as err:
            report.problem = str(err)
        reports.append(report)
    return reports
