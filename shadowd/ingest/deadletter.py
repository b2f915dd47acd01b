"""Dead letters: every message shadowd could not use, kept with why, for people to look at.

One JSON object per line in ``STATE_DIR/deadletter.jsonl``: when (``ts``, the daemon's
wall clock), which feed and source, where from (``origin``: topic, partition and offset, or
the MQTT topic), the ``reason``, and the message's ``raw`` bytes in base64: at most the
first ``KEEP_RAW`` of them, with the whole message's length and SHA-256 beside. The file is
appended and flushed, not fsynced: it is a diagnostic, not the truth. A Kafka feed also
publishes each letter to its dead-letter topic.

Nothing a sender does can fill the disk through it or stop the daemon: the file is rotated
(``deadletter.jsonl.1``) at half of ``max_bytes``, and a write that fails (a full disk)
costs only that letter, counted, with one ``disk_full`` alert until writing works again.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Final

import msgspec

from shadowd import logs

FILE_NAME: Final = "deadletter.jsonl"
KEEP_RAW: Final = 4096  # bytes of a message kept in its letter
MAX_BYTES: Final = 64 * 2**20  # the file and its one rotated predecessor, in all
_ENCODER: Final = msgspec.json.Encoder()

log = logs.get_logger()


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    ts: float
    feed: str
    source: str  # the message's source, when it could be read; "" otherwise
    origin: str
    reason: str
    raw: str  # base64 of the bytes as received (their first KEEP_RAW)
    raw_bytes: int = -1  # the whole message's length (-1: a letter from before this field)
    raw_sha256: str = ""  # ... and its hash, to match it with the sender's copy

    @classmethod
    def of(cls, raw: bytes, *, ts: float, feed: str, source: str, origin: str,
           reason: str) -> DeadLetter:
        return cls(ts=ts, feed=feed, source=source, origin=origin, reason=reason[:2000],
                   raw=base64.b64encode(raw[:KEEP_RAW]).decode("ascii"),
                   raw_bytes=len(raw), raw_sha256=hashlib.sha256(raw).hexdigest())

    def encode(self) -> bytes:
        return _ENCODER.encode(self)


class DeadLetterFile:
    """Appends letters to one JSON-lines file, opened on the first letter, rotated at half
    of ``max_bytes``; a write that fails is counted in ``lost``, never raised."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self._half = max_bytes // 2
        self._file: BinaryIO | None = None
        self._size = 0
        self._failing = False
        self.written = 0
        self.lost = 0

    def write(self, letter: DeadLetter) -> None:
        line = letter.encode() + b"\n"
        try:
            self._append(line)
        except OSError as err:
            self._failed(err)
            return
        self.written += 1
        if self._failing:
            self._failing = False
            log.info("dead letters written again", path=str(self.path), lost=self.lost)

    def _append(self, line: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            self._size = self._file.tell()
        if self._size and self._size + len(line) > self._half:
            self._rotate()
        self._file.write(line)
        self._file.flush()
        self._size += len(line)

    def _rotate(self) -> None:
        self.close()
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = self.path.open("ab")
        self._size = 0

    def _failed(self, err: OSError) -> None:
        self.lost += 1
        self.close()  # whatever is buffered is gone with the failed write; start afresh
        if not self._failing:
            self._failing = True
            logs.alert(log, "disk_full", "critical", "dead letters cannot be written",
                       path=str(self.path), error=str(err))

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # an unflushed buffer: that letter is lost
                self._file.close()
            self._file = None


def read_letters(path: Path) -> list[DeadLetter]:
    """Every letter in ``path`` (for tools and tests)."""
    if not path.exists():
        return []
    decoder = msgspec.json.Decoder(DeadLetter)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line]
