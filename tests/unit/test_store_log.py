from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowd.core.errors import LogCorrupt
from shadowd.core.events import AnyEvent
from shadowd.store import log as log_module
from shadowd.store.frames import HEADER_SIZE
from shadowd.store.log import SEALS, EventLog, LogUnavailable
from shadowd.store.segments import scan_segment
from tests.fakes.store import FakeFsync, ring, telemetry

EVENTS = ring(6) + telemetry(200, 6)


def _write(directory: Path, *sizes: int, segment_bytes: int = 1 << 20) -> list[AnyEvent]:
    """Write records of ``sizes`` events; return every event written, in lsn order."""
    written: list[AnyEvent] = []
    with EventLog.open(directory, segment_bytes=segment_bytes, fsync=FakeFsync()) as log:
        for size in sizes:
            batch = EVENTS[len(written) : len(written) + size]
            assert log.write(batch) == len(written) + size
            written += batch
        log.sync()
    return written


def _read_all(directory: Path, from_lsn: int = 1, until: int | None = None) -> list[AnyEvent]:
    with EventLog.open(directory, readonly=True) as log:
        return [e for batch in log.read(from_lsn, until) for e in batch]


def _only_segment(directory: Path) -> Path:
    (segment,) = directory.glob("*.seg")
    return segment


def _frame_offsets(directory: Path) -> list[int]:
    return [b.offset for b in scan_segment(_only_segment(directory).read_bytes(), 1).batches]


def _last_frame_offset(directory: Path) -> int:
    return _frame_offsets(directory)[-1]


def test_written_events_read_back_in_order(tmp_path: Path) -> None:
    written = _write(tmp_path, 5, 1, 30)
    assert _read_all(tmp_path) == written
    with EventLog.open(tmp_path, readonly=True) as log:
        assert log.last_lsn == 36
        assert log.truncation is None


def test_reopening_continues_the_numbering(tmp_path: Path) -> None:
    _write(tmp_path, 4)
    with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
        assert log.last_lsn == 4
        assert log.write(EVENTS[4:7]) == 7
    assert _read_all(tmp_path) == EVENTS[:7]


@pytest.mark.parametrize(("first", "until"), [(1, None), (3, 9), (5, 5), (6, 6), (10, 40),
                                              (1, 0), (41, None), (20, 10)])
def test_read_returns_exactly_the_range(tmp_path: Path, first: int, until: int | None) -> None:
    written = _write(tmp_path, 5, 1, 7, 20)
    end = len(written) if until is None else min(until, len(written))
    assert _read_all(tmp_path, from_lsn=first, until=until) == written[first - 1 : end]


def test_events_pairs_each_event_with_its_lsn(tmp_path: Path) -> None:
    written = _write(tmp_path, 3, 4)
    with EventLog.open(tmp_path, readonly=True) as log:
        assert list(log.events(2, 5)) == list(zip(range(2, 6), written[1:5], strict=True))


def test_segments_roll_at_the_configured_size(tmp_path: Path) -> None:
    written = _write(tmp_path, *[10] * 12, segment_bytes=2_000)
    with EventLog.open(tmp_path, readonly=True) as log:
        firsts = [lsn for lsn, _ in log.segments()]
        sizes = [path.stat().st_size for _, path in log.segments()]
    assert len(firsts) > 2
    assert firsts[0] == 1
    assert all(size <= 2_000 for size in sizes)
    assert _read_all(tmp_path) == written
    assert _read_all(tmp_path, from_lsn=firsts[2], until=firsts[2]) == [written[firsts[2] - 1]]


def test_a_roll_seals_the_full_segment_with_an_fsync(tmp_path: Path) -> None:
    fsync = FakeFsync()
    with EventLog.open(tmp_path, segment_bytes=1_000, fsync=fsync) as log:
        calls = fsync.calls
        while len(log.segments()) == 1:
            log.write(EVENTS[log.last_lsn : log.last_lsn + 5])
        # the full segment; its seal (file, directory); the new segment's directory entry
        assert fsync.calls == calls + 4
    assert json.loads((tmp_path / SEALS).read_text()) == {
        path.name: [path.stat().st_size, path.stat().st_mtime_ns]
        for _, path in log.segments()[:1]}


def test_a_torn_last_frame_is_cut_off_at_every_byte(tmp_path: Path) -> None:
    written = _write(tmp_path, 4, 3, 6)
    segment = _only_segment(tmp_path)
    whole = segment.read_bytes()
    last = _last_frame_offset(tmp_path)
    for cut in range(last, len(whole)):
        segment.write_bytes(whole[:cut])
        with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
            truncation = log.truncation
            assert log.last_lsn == 7
        if cut == last:
            assert truncation is None
        else:
            assert truncation is not None
            assert (truncation.offset, truncation.dropped_bytes) == (last, cut - last)
            assert truncation.applied
        assert segment.stat().st_size == last
        assert _read_all(tmp_path) == written[:7]


def test_a_flipped_byte_in_the_last_frame_is_truncated_with_a_reason(tmp_path: Path) -> None:
    written = _write(tmp_path, 4, 3)
    segment = _only_segment(tmp_path)
    last = _last_frame_offset(tmp_path)
    data = bytearray(segment.read_bytes())
    for at in range(last, len(data)):
        broken = data.copy()
        broken[at] ^= 0x10
        segment.write_bytes(broken)
        with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
            assert log.truncation is not None
            assert log.truncation.offset == last
            assert log.truncation.reason
        assert _read_all(tmp_path) == written[:4]


def test_a_flipped_byte_in_a_middle_frame_is_corruption(tmp_path: Path) -> None:
    _write(tmp_path, 4, 3, 5)
    segment = _only_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    _, middle, last = _frame_offsets(tmp_path)
    for at in range(middle, last):
        broken = data.copy()
        broken[at] ^= 0x01
        segment.write_bytes(broken)
        with pytest.raises(LogCorrupt) as caught:
            EventLog.open(tmp_path, fsync=FakeFsync())
        assert caught.value.segment == str(segment)
        assert caught.value.offset == middle
    assert segment.read_bytes() == broken  # nothing was cut


def test_corruption_in_an_earlier_segment_fails_the_read_that_reaches_it(tmp_path: Path) -> None:
    written = _write(tmp_path, *[10] * 12, segment_bytes=2_000)
    with EventLog.open(tmp_path, readonly=True) as log:
        second = log.segments()[1]
    data = bytearray(second[1].read_bytes())
    data[HEADER_SIZE + 5] ^= 0xFF
    second[1].write_bytes(data)
    with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
        assert list(log.events(1, second[0] - 1)) == list(enumerate(written[: second[0] - 1], 1))
        with pytest.raises(LogCorrupt) as caught:
            list(log.read())
    assert caught.value.segment == str(second[1])
    assert caught.value.offset == 0


def test_a_missing_segment_is_corruption(tmp_path: Path) -> None:
    _write(tmp_path, *[10] * 12, segment_bytes=2_000)
    with EventLog.open(tmp_path, readonly=True) as log:
        log.segments()[1][1].unlink()
    with EventLog.open(tmp_path, readonly=True) as log, pytest.raises(LogCorrupt, match="next"):
        list(log.read())


def test_read_only_open_reports_a_torn_tail_and_leaves_the_file(tmp_path: Path) -> None:
    written = _write(tmp_path, 4, 3)
    segment = _only_segment(tmp_path)
    torn = segment.read_bytes()[:-2]
    segment.write_bytes(torn)
    with EventLog.open(tmp_path, readonly=True) as log:
        assert log.truncation is not None
        assert not log.truncation.applied
        assert [e for b in log.read() for e in b] == written[:4]
        with pytest.raises(ValueError, match="read-only"):
            log.write(EVENTS[:1])
    assert segment.read_bytes() == torn


def test_read_only_open_of_a_middle_corruption_reads_up_to_it(tmp_path: Path) -> None:
    written = _write(tmp_path, 4, 3, 5)
    segment = _only_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[_last_frame_offset(tmp_path) - 3] ^= 0x01  # inside the second record
    segment.write_bytes(data)
    assert _read_all(tmp_path, until=4) == written[:4]
    with pytest.raises(LogCorrupt):
        _read_all(tmp_path)


def test_one_writer_at_a_time(tmp_path: Path) -> None:
    with EventLog.open(tmp_path, fsync=FakeFsync()):
        with pytest.raises(LogUnavailable, match="another process"):
            EventLog.open(tmp_path)
        with EventLog.open(tmp_path, readonly=True) as reader:
            assert reader.last_lsn == 0


def test_a_failed_fsync_makes_the_log_unwritable(tmp_path: Path) -> None:
    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
        log.write(EVENTS[:2])
        log._fsync = failing
        with pytest.raises(LogUnavailable):
            log.sync()
        with pytest.raises(LogUnavailable, match="reopen"):
            log.write(EVENTS[2:3])


def test_an_empty_write_writes_nothing(tmp_path: Path) -> None:
    with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
        assert log.write([]) == 0
        assert _only_segment(tmp_path).stat().st_size == 0


@pytest.fixture
def dense_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "INDEX_EVERY_BYTES", 300)


@pytest.mark.usefixtures("dense_index")
def test_reads_from_the_middle_of_a_segment_start_at_the_index(tmp_path: Path) -> None:
    with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
        for start in range(0, 200, 3):
            log.write(EVENTS[start : start + 3])
        assert len(log._segments[-1].index) > 5
        assert [e for b in log.read(101, 130) for e in b] == EVENTS[100:130]
    for first in (1, 2, 50, 99, 100, 198, 200):
        assert _read_all(tmp_path, first, first + 7) == EVENTS[first - 1 : min(first + 7, 201)]


@pytest.mark.usefixtures("dense_index")
def test_damage_after_an_index_point_names_its_segment_offset(tmp_path: Path) -> None:
    _write(tmp_path, *[4] * 40)
    offsets = _frame_offsets(tmp_path)
    segment = _only_segment(tmp_path)
    data = bytearray(segment.read_bytes())
    data[offsets[30] + HEADER_SIZE + 2] ^= 0x01
    segment.write_bytes(data)
    assert _read_all(tmp_path, 100, 120) == EVENTS[99:120]
    with pytest.raises(LogCorrupt) as caught:
        _read_all(tmp_path, 110, 130)
    assert caught.value.offset == offsets[30]


def test_a_zero_filled_tail_is_cut_off(tmp_path: Path) -> None:
    written = _write(tmp_path, 4, 3)
    segment = _only_segment(tmp_path)
    size = segment.stat().st_size
    with segment.open("ab") as out:
        out.write(bytes(4096))  # what a crash can leave after a file grew but before data
    with EventLog.open(tmp_path, fsync=FakeFsync()) as log:
        assert log.truncation is not None
        assert (log.truncation.offset, log.truncation.dropped_bytes) == (size, 4096)
    assert _read_all(tmp_path) == written


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=1, max_size=8), data=st.data())
def test_damage_anywhere_is_cut_at_the_tail_or_refused_never_misread(
    sizes: list[int], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        written = _write(root, *sizes)
        segment = _only_segment(root)
        damaged = bytearray(segment.read_bytes())
        boundaries = [*_frame_offsets(root), len(damaged)]
        cut = None
        if data.draw(st.booleans(), label="flip (else cut)"):
            at = data.draw(st.integers(0, len(damaged) - 1), label="at")
            damaged[at] ^= data.draw(st.integers(1, 255), label="mask")
        else:
            cut = data.draw(st.integers(0, len(damaged) - 1), label="cut at")
            del damaged[cut:]
        segment.write_bytes(damaged)
        try:
            with EventLog.open(root, fsync=FakeFsync()) as log:
                truncation, kept = log.truncation, [e for b in log.read() for e in b]
        except LogCorrupt:
            return
    assert kept == written[: len(kept)]
    assert len(kept) < len(written)
    assert truncation is not None or cut in boundaries  # a cut between frames is a shorter log


def test_a_log_missing_its_first_segment_refuses_to_read_from_lsn_1(tmp_path: Path) -> None:
    written = _write(tmp_path, *[10] * 12, segment_bytes=2_000)
    with EventLog.open(tmp_path, readonly=True) as log:
        (_, first), (second_lsn, _), *_ = log.segments()
    first.unlink()
    assert _read_all(tmp_path, second_lsn) == written[second_lsn - 1 :]
    for until in (None, 1, second_lsn):
        with pytest.raises(LogCorrupt, match="is gone"):
            _read_all(tmp_path, 1, until)
