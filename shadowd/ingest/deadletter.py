"""Dead letters: every message shadowd could not use, kept with why, for people to look at.

One JSON object per line in ``STATE_DIR/deadletter.jsonl``: when (``ts``, the daemon's
wall clock), which feed and source, where from (``origin``: topic, partition and offset, or
the MQTT topic), the ``reason``, and the message's ``raw`` bytes in base64. The file is
appended and flushed, not fsynced: it is a diagnostic, not the truth. A Kafka feed also
publishes each letter to its dead-letter topic.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import BinaryIO, Final

import msgspec

FILE_NAME: Final = "deadletter.jsonl"
_ENCODER: Final = msgspec.json.Encoder()


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    ts: float
    feed: str
    source: str  # the message's source, when it could be read; "" otherwise
    origin: str
    reason: str
    raw: str  # base64 of the bytes as received

    @classmethod
    def of(cls, raw: bytes, *, ts: float, feed: str, source: str, origin: str,
           reason: str) -> DeadLetter:
        return cls(ts=ts, feed=feed, source=source, origin=origin, reason=reason,
                   raw=base64.b64encode(raw).decode("ascii"))

    def encode(self) -> bytes:
        return _ENCODER.encode(self)


class DeadLetterFile:
    """Appends letters to one JSON-lines file, opened on the first letter."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self.written = 0

    def write(self, letter: DeadLetter) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(letter.encode() + b"\n")
        self._file.flush()
        self.written += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_letters(path: Path) -> list[DeadLetter]:
    """Every letter in ``path`` (for tools and tests)."""
    if not path.exists():
        return []
    decoder = msgspec.json.Decoder(DeadLetter)
    return [decoder.decode(line) for line in path.read_bytes().splitlines() if line]
