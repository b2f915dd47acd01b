from __future__ import annotations

import msgspec
import pytest

from shadowd.core.events import AnyEvent, decode_batch
from shadowd.store.frames import (
    HEAD_DECODER,
    HEADER_SIZE,
    Damage,
    Frame,
    FrameScan,
    array_length,
    find_record_after,
    frame,
    peek_uint,
    read_frame,
    record_frame,
    split_record,
)
from shadowd.store.segments import scan_segment, segment_name
from tests.fakes.store import ring, telemetry


def _records(*sizes: int) -> tuple[bytes, list[list[AnyEvent]]]:
    events = ring(4) + telemetry(sum(sizes), 4)
    out, batches, lsn = bytearray(), [], 1
    for size in sizes:
        batch = events[lsn - 1 : lsn - 1 + size]
        out += record_frame(lsn, batch)
        batches.append(batch)
        lsn += size
    return bytes(out), batches


def test_a_record_frame_round_trips() -> None:
    events = ring(3)
    data = bytes(record_frame(7, events))
    found = read_frame(memoryview(data), 0)
    assert isinstance(found, Frame)
    assert found.end == len(data)
    head = HEAD_DECODER.decode(found.payload)
    assert head.first_lsn == 7
    assert decode_batch(head.events) == events


def test_scan_yields_every_frame_and_ends_clean() -> None:
    data, _ = _records(3, 1, 5)
    scan = FrameScan(data)
    offsets = [f.offset for f in scan]
    assert len(offsets) == 3
    assert offsets[0] == 0
    assert scan.end == len(data)
    assert scan.damage is None


def test_scan_stops_at_a_torn_frame_and_says_where() -> None:
    data, _ = _records(2, 2)
    scan = FrameScan(data[:-1])
    frames = list(scan)
    assert len(frames) == 1
    assert scan.end == frames[0].end
    assert scan.damage is not None
    assert scan.damage.offset == frames[0].end
    assert "torn" in scan.damage.reason


@pytest.mark.parametrize("flip_at", [0, 3, 4, 7, 8, 20])
def test_a_flipped_byte_fails_the_frame(flip_at: int) -> None:
    data = bytearray(frame(b"some payload bytes here"))
    data[flip_at] ^= 0x40
    found = read_frame(memoryview(bytes(data)), 0)
    assert isinstance(found, Damage)
    assert found.offset == 0


def test_an_absurd_length_is_damage_not_an_allocation() -> None:
    data = b"\xff\xff\xff\xff" + b"\0" * 12
    found = read_frame(memoryview(data), 0)
    assert isinstance(found, Damage)
    assert "limit" in found.reason


def test_array_length_reads_every_msgpack_array_header() -> None:
    for n in (0, 1, 15, 16, 65_535, 65_536):
        assert array_length(memoryview(msgspec.msgpack.encode([0] * n))) == n
    with pytest.raises(ValueError, match="not a msgpack array"):
        array_length(memoryview(msgspec.msgpack.encode("x")))


def test_peek_uint_reads_every_width() -> None:
    for n in (0, 127, 128, 255, 256, 70_000, 2**32, 2**40):
        assert peek_uint(memoryview(msgspec.msgpack.encode(n)), 0) == n
    assert peek_uint(memoryview(b"\xa1x"), 0) is None
    assert peek_uint(memoryview(b"\xcd\x01"), 0) is None


def test_find_record_after_sees_past_a_damaged_frame() -> None:
    data, batches = _records(2, 3, 4)
    second = len(record_frame(1, batches[0]))
    broken = bytearray(data)
    broken[2] ^= 0x01  # the first frame's length: its end is no longer findable from it
    assert find_record_after(bytes(broken), 0, 0) == second
    assert find_record_after(data[:second], 0, 0) is None


def test_scan_segment_numbers_records_and_checks_their_lsns() -> None:
    data, _ = _records(2, 3)
    scan = scan_segment(data, 1)
    assert [(b.first_lsn, b.count) for b in scan.batches] == [(1, 2), (3, 3)]
    assert scan.next_lsn == 6
    misnamed = scan_segment(data, 5)
    assert misnamed.damage is not None
    assert "expected 5" in misnamed.damage.reason


def test_segment_names_sort_in_log_order() -> None:
    names = [segment_name(n) for n in (1, 9, 10, 123_456_789)]
    assert names == sorted(names)
    assert segment_name(1) == "00000000000000000001.seg"


def test_the_header_is_eight_bytes_little_endian() -> None:
    data = frame(b"abc")
    assert len(data) == HEADER_SIZE + 3
    assert data[:4] == (3).to_bytes(4, "little")


def test_split_record_matches_msgspec_and_copes_with_a_grown_record() -> None:
    events = ring(3)
    for lsn in (1, 200, 70_000, 2**40):
        payload = memoryview(bytes(record_frame(lsn, events)))[HEADER_SIZE:]
        first_lsn, raw = split_record(payload)
        assert first_lsn == lsn
        assert bytes(raw) == bytes(HEAD_DECODER.decode(payload).events)
    grown = memoryview(msgspec.msgpack.encode((9, events, "a field added later")))
    first_lsn, raw = split_record(grown)
    assert first_lsn == 9
    assert decode_batch(raw) == events
