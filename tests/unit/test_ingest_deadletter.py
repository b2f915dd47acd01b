"""Dead letters are bounded: a message's bytes, the file, and a full disk."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import structlog

from shadowd.ingest.deadletter import KEEP_RAW, DeadLetter, DeadLetterFile, read_letters
from tests.alerts import assert_alert

JUNK = bytes(range(256)) * 8192  # 2 MiB


def letter(raw: bytes = JUNK) -> DeadLetter:
    return DeadLetter.of(raw, ts=1.0, feed="mqtt", source="", origin="t/x", reason="junk")


def test_a_letter_keeps_the_head_of_a_big_message_with_its_length_and_hash() -> None:
    kept = letter()
    assert base64.b64decode(kept.raw) == JUNK[:KEEP_RAW]
    assert (kept.raw_bytes, kept.raw_sha256) == (len(JUNK), hashlib.sha256(JUNK).hexdigest())


def test_the_file_is_rotated_and_never_grows_past_its_bound(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    letters = DeadLetterFile(path, max_bytes=100_000)
    for _ in range(100):  # about 550 KB of letters
        letters.write(letter())
    letters.close()
    rotated = path.with_name("dead.jsonl.1")
    assert path.stat().st_size + rotated.stat().st_size <= 100_000
    assert len(read_letters(path)) + len(read_letters(rotated)) < 100  # the oldest went
    assert letters.written == 100


def test_a_full_disk_costs_the_letter_and_one_alert_never_the_daemon() -> None:
    letters = DeadLetterFile(Path("/dev/full"))  # every write: ENOSPC
    with structlog.testing.capture_logs() as logs:
        for _ in range(5):
            letters.write(letter(b"x"))
    assert (letters.written, letters.lost) == (0, 5)
    assert_alert(logs, "disk_full", path="/dev/full")
    assert len([e for e in logs if e.get("kind") == "disk_full"]) == 1
