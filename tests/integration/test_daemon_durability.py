"""Crash safety and replay determinism of the real daemon process.

The embedded replay trace is deterministic and every one of its events is accepted in
order, so the n-th event in the log must be the trace's n-th event: the test folds the
trace itself and compares digests at any cut.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import pytest

from shadowd.config import ReplaySourceConfig
from shadowd.control.client import call_sync
from shadowd.control.protocol import SnapshotRequest
from shadowd.control.replies import StatusReply
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, digest, fold
from shadowd.ingest.builtin import builtin_batches, trace_spec
from shadowd.store.log import EventLog
from tests.alerts import assert_alert
from tests.integration.harness import Daemon, poll, write_config

pytestmark = pytest.mark.integration


def trace_digest(days: int, count: int) -> str:
    """The digest of the first ``count`` events of the embedded trace."""
    spec = trace_spec(ReplaySourceConfig(days=days))
    state = State()
    for batch in builtin_batches(spec):
        take = list(islice(batch, count - state.lsn))
        fold(take, state)
        if state.lsn >= count:
            break
    return digest(state)


def tear_last_segment(state_dir: Path) -> int:
    """Append the first half of a copy of the last frame: a write torn by a crash."""
    segment = max((state_dir / "log").glob("*.seg"))
    data = segment.read_bytes()
    torn = data[-64:][:32]
    with segment.open("ab") as out:
        out.write(torn)
    return len(torn)


@pytest.mark.adversarial
def test_sigkill_mid_ingest_loses_nothing_acknowledged(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, days=7, snapshot_every=50_000))
    d.start().wait_ready()
    acked = d.wait_seq(120_000).durable_seq
    d.kill()

    d.start()
    after = d.wait_ready()
    assert after.seq >= acked, "an acknowledged event was lost"
    assert d.replay_json(until=acked)["digest"] == trace_digest(7, acked)
    d.stop()

    recovered = d.replay_json()
    assert recovered["seq"] == recovered["sources"]["replay"]["seq"]  # no gap, no duplicate
    assert recovered["digest"] == trace_digest(7, recovered["seq"])
    assert d.replay_json(until=recovered["seq"])["digest"] == recovered["digest"]


def test_torn_last_record_is_truncated_with_a_warning(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, days=1, snapshot_every=1_000_000))
    d.start().wait_ready()
    d.wait_seq(50_000)
    d.stop()
    before = d.replay_json()
    dropped = tear_last_segment(d.state_dir)

    d.start()
    status = d.wait_ready()
    assert status.seq >= before["seq"]
    warnings = [r for r in d.log_records() if r.get("kind") == "log_truncated"]
    assert len(warnings) == 1
    assert warnings[0]["alert"] is True
    assert warnings[0]["dropped_bytes"] == dropped
    d.stop()
    assert d.replay_json(until=before["seq"])["digest"] == before["digest"]


def test_one_digest_from_zero_from_snapshots_and_after_restarts(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, days=1, snapshot_every=20_000))
    d.start().wait_ready()
    finished = _wait_finished(d)
    d.stop()
    d.start()
    restarted = d.wait_ready()
    d.stop()

    assert restarted.digest == finished.digest
    assert restarted.seq == finished.seq
    assert d.replay_json()["digest"] == finished.digest  # newest snapshot + tail
    from_zero = d.cli("log", "replay", "--state-dir", str(d.state_dir), "--json",
                      "--from-zero")
    assert from_zero.returncode == 0, from_zero.stderr
    assert f'"digest":"{finished.digest}"' in from_zero.stdout.replace(" ", "")
    for cut in (1, 777, 20_000, 20_001, finished.seq // 2):
        assert d.replay_json(until=cut)["digest"] == trace_digest(1, cut)
    assert finished.digest == trace_digest(1, finished.seq)
    assert len(list((d.state_dir / "snapshots").glob("*.snap"))) >= 1


def _wait_finished(d: Daemon) -> StatusReply:
    def finished() -> StatusReply | None:
        done = any(r.get("kind") == "source_finished" for r in d.log_records())
        return d.status() if done else None

    return poll("the replay to finish", finished)


def test_log_events_match_the_trace(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    d = daemons(write_config(tmp_path, days=1))
    d.start().wait_ready()
    _wait_finished(d)
    d.stop()
    spec = trace_spec(ReplaySourceConfig(days=1))
    expected: list[AnyEvent] = [e for batch in builtin_batches(spec) for e in batch]
    log = EventLog.open(d.state_dir / "log")
    try:
        logged = [e for _, e in log.events(1, len(expected))]
    finally:
        log.close()
    assert logged == expected


def test_sigterm_drains_and_exits_zero(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    d = daemons(write_config(tmp_path, days=7))
    d.start().wait_ready()
    d.wait_seq(10_000)
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    stopped = [r for r in d.log_records() if r.get("event") == "shadowd stopped"]
    assert stopped
    assert stopped[-1]["seq"] == stopped[-1]["durable_seq"]


@pytest.mark.adversarial
def test_a_log_cut_short_under_a_later_snapshot_refuses_to_start_and_repair_says_why(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, days=1, snapshot_every=1_000_000))
    d.start().wait_ready()
    d.wait_seq(50_000)
    snapshot = call_sync(SnapshotRequest(), path=d.socket)  # proves lsn <= this is durable
    d.stop()
    segment = sorted((d.state_dir / "log").glob("*.seg"))[-1]
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) // 2])  # half the newest segment gone

    refused = subprocess.run(d.command(), capture_output=True, text=True, timeout=120,
                             check=False)
    assert refused.returncode == 2
    assert f"snapshot(s) hold up to lsn {snapshot.lsn}" in refused.stderr
    assert "were durable and are gone from the log" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert segment.stat().st_size == len(data) // 2  # nothing was changed

    repair = d.cli("log", "repair", "--state-dir", str(d.state_dir))
    assert repair.returncode == 0, repair.stderr
    kept = int(repair.stdout.split("kept: the log to lsn ")[1].split()[0])
    assert f"lost: events {kept + 1}..{snapshot.lsn}" in repair.stdout
    d.start()
    assert d.wait_ready().seq >= kept  # it starts again, from what the log proves
    d.stop()
    from_zero = d.cli("log", "replay", "--state-dir", str(d.state_dir), "--until", str(kept),
                      "--from-zero", "--json")
    assert d.replay_json(until=kept)["digest"] == json.loads(from_zero.stdout)["digest"]


@pytest.mark.adversarial
def test_damage_under_a_later_snapshot_starts_with_a_critical_alert(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    """The newest snapshot stands in for the segments before it, so the daemon starts,
    and says, naming the segment, that their history is damaged."""
    config = write_config(tmp_path, days=1, snapshot_every=1_000_000)
    config.write_text(config.read_text().replace("[log]\n", "[log]\nsegment_mb = 1\n"))
    d = daemons(config)
    d.start().wait_ready()
    d.wait_seq(100_000)
    call_sync(SnapshotRequest(), path=d.socket)
    d.stop()
    segments = sorted((d.state_dir / "log").glob("*.seg"))
    assert len(segments) > 3
    victim = segments[1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(data)
    d.start()
    seq = d.wait_ready().seq
    assert seq >= 100_000
    assert_alert(d.log_records(), "log_damaged", segment=victim.name,
                 first_lsn=int(victim.stem))
    assert len([r for r in d.log_records() if r.get("kind") == "log_damaged"]) == 1
    d.stop()
