from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from shadowd.cli.log import configure
from shadowd.core.state import digest, fold
from shadowd.store.log import EventLog
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR
from shadowd.store.snapshot import SnapshotStore
from tests.fakes.store import FakeFsync, ring, telemetry

EVENTS = ring(4) + telemetry(120, 4)


def _shadowd(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="shadowd log")
    configure(parser)
    args = parser.parse_args(argv[1:])  # argv[0] is "log"
    code: int = args.func(args)
    return code


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    with EventLog.open(tmp_path / LOG_DIR, segment_bytes=2_000, fsync=FakeFsync()) as log:
        for start in range(0, len(EVENTS), 10):
            log.write(EVENTS[start : start + 10])
        log.sync()
    SnapshotStore(tmp_path / SNAPSHOT_DIR, fsync=FakeFsync()).save(fold(EVENTS[:60]))
    return tmp_path


def test_replay_json_gives_seq_digest_and_counts(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _shadowd("log", "replay", "--state-dir", str(state_dir), "--until", "37", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    expected = fold(EVENTS[:37])
    assert doc["seq"] == 37
    assert doc["digest"] == digest(expected)
    assert (doc["routers"], doc["links"], doc["demands"]) == (4, 4, 2)
    assert doc["sources"]["collector"]["seq"] == expected.sources["collector"].seq


def test_replay_defaults_to_the_end_and_uses_the_snapshot(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _shadowd("log", "replay", "--state-dir", str(state_dir), "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["seq"], doc["snapshot_lsn"], doc["replayed"]) == (len(EVENTS), 60, 70)
    assert doc["digest"] == digest(fold(EVENTS))


def test_replay_prints_a_readable_summary(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _shadowd("log", "replay", "--state-dir", str(state_dir), "--until", "8") == 0
    out = capsys.readouterr().out
    assert out.startswith("state at lsn 8 ")
    assert "routers  4 (4 up)" in out
    assert digest(fold(EVENTS[:8])) in out


def test_inspect_lists_segments_and_snapshots(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _shadowd("log", "inspect", "--state-dir", str(state_dir), "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["first_lsn"], doc["last_lsn"], doc["events"]) == (1, len(EVENTS), len(EVENTS))
    assert len(doc["segments"]) > 1
    assert sum(s["frames"] for s in doc["segments"]) == 13
    assert [s["lsn"] for s in doc["snapshots"]] == [60]
    assert doc["corruption"] == []
    assert _shadowd("log", "inspect", "--state-dir", str(state_dir)) == 0
    assert "00000000000000000001.seg" in capsys.readouterr().out


def test_inspect_shows_a_torn_tail_without_failing(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    last = sorted((state_dir / LOG_DIR).glob("*.seg"))[-1]
    last.write_bytes(last.read_bytes()[:-1])
    assert _shadowd("log", "inspect", "--state-dir", str(state_dir)) == 0
    assert "torn tail" in capsys.readouterr().out


def test_middle_corruption_is_one_line_on_stderr_and_exit_2(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = sorted((state_dir / LOG_DIR).glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[30] ^= 0x04
    first.write_bytes(data)
    for command in (["inspect"], ["replay", "--until", "5"]):  # before the snapshot covers it
        assert _shadowd("log", *command, "--state-dir", str(state_dir)) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert first.name in err
        assert "offset 0" in err


def test_a_missing_state_dir_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("inspect", "replay"):
        assert _shadowd("log", command, "--state-dir", str(tmp_path / "nope")) == 2
        assert "no state directory" in capsys.readouterr().err


def test_until_must_be_a_sequence_number(state_dir: Path) -> None:
    with pytest.raises(SystemExit):
        _shadowd("log", "replay", "--state-dir", str(state_dir), "--until", "-3")
