"""Framing, pure: how records sit in segment and snapshot files, and how to find damage.

A frame is ``[u32 length][u32 crc][payload]``, both integers little-endian. ``length``
counts the payload bytes; ``crc`` is the CRC-32 (zlib) of the four length bytes followed
by the payload, so a flipped bit in the length is caught like one in the payload.

In a segment, each payload is a ``Record``: the msgpack array ``[first_lsn, [events...]]``,
one per group commit. Records are array-like so a later field can only be appended.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypeAlias

import msgspec

from shadowd.core.events import ENCODER, AnyEvent

Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap

HEADER: Final = struct.Struct("<II")
HEADER_SIZE: Final = HEADER.size
MAX_PAYLOAD: Final = 256 << 20


class Record(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One group commit: events numbered ``first_lsn``, ``first_lsn + 1``, ..."""

    first_lsn: int
    events: list[AnyEvent]


class RecordHead(msgspec.Struct, array_like=True, frozen=True):
    """A ``Record`` whose events are left encoded: cheap to read, decode them on demand."""

    first_lsn: int
    events: msgspec.Raw


HEAD_DECODER: Final = msgspec.msgpack.Decoder(RecordHead)


@dataclass(frozen=True, slots=True)
class Frame:
    offset: int
    payload: memoryview

    @property
    def end(self) -> int:
        return self.offset + HEADER_SIZE + len(self.payload)


@dataclass(frozen=True, slots=True)
class Damage:
    """Where the intact frames stop, and why."""

    offset: int
    reason: str


def _crc(length: int, payload: bytes | bytearray | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(length.to_bytes(4, "little")))


def frame(payload: bytes) -> bytes:
    """Frame an arbitrary payload (snapshots use this)."""
    return HEADER.pack(len(payload), _crc(len(payload), payload)) + payload


def record_frame(first_lsn: int, events: list[AnyEvent]) -> bytearray:
    """Encode and frame one record, encoding straight into the frame's buffer."""
    buf = bytearray(HEADER_SIZE)
    ENCODER.encode_into(Record(first_lsn=first_lsn, events=events), buf, HEADER_SIZE)
    length = len(buf) - HEADER_SIZE
    if length > MAX_PAYLOAD:
        raise ValueError(f"record of {length} bytes exceeds the {MAX_PAYLOAD}-byte frame limit")
    payload = memoryview(buf)[HEADER_SIZE:]
    HEADER.pack_into(buf, 0, length, _crc(length, payload))
    payload.release()
    return buf


def read_frame(buf: memoryview, offset: int) -> Frame | Damage:
    """The intact frame at ``offset``, or why there is none."""
    left = len(buf) - offset
    if left < HEADER_SIZE:
        return Damage(offset, f"torn frame header ({left} of {HEADER_SIZE} bytes)")
    length, crc = HEADER.unpack_from(buf, offset)
    if length > MAX_PAYLOAD:
        return Damage(offset, f"frame length {length} over the {MAX_PAYLOAD}-byte limit")
    if length > left - HEADER_SIZE:
        return Damage(offset, f"torn frame ({left - HEADER_SIZE} of {length} payload bytes)")
    payload = buf[offset + HEADER_SIZE : offset + HEADER_SIZE + length]
    if _crc(length, payload) != crc:
        return Damage(offset, "CRC mismatch")
    return Frame(offset, payload)


class FrameScan:
    """Iterate the intact frames of ``buf`` from ``start``; then ``damage`` says why it stopped.

    ``end`` is just past the last intact frame: the length a clean file would have.
    """

    def __init__(self, buf: Buffer, start: int = 0) -> None:
        self._buf = memoryview(buf)
        self.end = start
        self.damage: Damage | None = None

    def __iter__(self) -> Iterator[Frame]:
        while self.end < len(self._buf):
            found = read_frame(self._buf, self.end)
            if isinstance(found, Damage):
                self.damage = found
                return
            self.end = found.end
            yield found


def array_length(raw: memoryview) -> int:
    """How many items a msgpack array holds, read from its header."""
    first = raw[0]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F
    if first == 0xDC:
        return int.from_bytes(raw[1:3], "big")
    if first == 0xDD:
        return int.from_bytes(raw[1:5], "big")
    raise ValueError(f"not a msgpack array (first byte {first:#04x})")


_UINT_WIDTH: Final = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}


def read_uint(buf: memoryview, at: int) -> tuple[int, int] | None:
    """The msgpack unsigned integer starting at ``at`` and the offset just past it, if any."""
    if at >= len(buf):
        return None
    first = buf[at]
    if first < 0x80:
        return first, at + 1
    width = _UINT_WIDTH.get(first)
    if width is None or at + 1 + width > len(buf):
        return None
    return int.from_bytes(buf[at + 1 : at + 1 + width], "big"), at + 1 + width


def peek_uint(buf: memoryview, at: int) -> int | None:
    found = read_uint(buf, at)
    return None if found is None else found[0]


def split_record(payload: memoryview) -> tuple[int, memoryview]:
    """A record's first lsn and its events, still encoded.

    Today's two-field record is split by hand, without walking the events; a record with
    more fields (the schema may grow) goes through msgspec, which skips over them.
    """
    if len(payload) and payload[0] == 0x92:
        found = read_uint(payload, 1)
        if found is not None:
            return found[0], payload[found[1] :]
    head = HEAD_DECODER.decode(payload)
    return head.first_lsn, memoryview(head.events)


def find_record_after(data: bytes, start: int, after_lsn: int) -> int | None:
    """Offset of an intact record frame past ``start`` numbered after ``after_lsn``, if any.

    Used to tell a torn tail (nothing intact follows) from damage in the middle. Candidates
    are filtered on the record's array header and lsn before paying for a CRC.
    """
    view = memoryview(data)
    marker = data.find(b"\x92", start + HEADER_SIZE + 1)
    while marker != -1:
        if _is_record_frame(view, marker - HEADER_SIZE, after_lsn):
            return marker - HEADER_SIZE
        marker = data.find(b"\x92", marker + 1)
    return None


def _is_record_frame(buf: memoryview, offset: int, after_lsn: int) -> bool:
    lsn = peek_uint(buf, offset + HEADER_SIZE + 1)
    if lsn is None or not after_lsn < lsn <= after_lsn + len(buf) - offset:
        return False
    return isinstance(read_frame(buf, offset), Frame)
