"""The predictor survives a restart of the real daemon: its forecasts are saved beside each
snapshot of the state, and on start they are restored and fed the log tail, so
``shadowctl forecast`` has a ready forecast for every link at once, the same as before the
restart, instead of none for a season. A damaged saved state is a warning naming the file,
and the daemon starts as it did before there was one: serving, its forecasts relearning.

A spike predicted before a restart and not run yet is run after it, before its peak,
under its own record. A replay at full speed cannot be stopped between the two (its
workers lag the log by hours of trace time), so the test makes the log a daemon keeping
up would leave when stopped right after recording the spike: the first run's log up to
the spike's prediction, then the spike's record, beside the first run's snapshot before
it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shadowd.core.events import SpikePredicted
from shadowd.store.log import EventLog
from tests.integration.harness import CONFIG, REPLAY, Daemon, poll, shadowctl_json
from tests.integration.test_daemon_predict import _check_runs_precede_their_spikes, _settled
from tests.integration.test_daemon_predict import _config as _surges_config

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAYS = 3  # two seasons of warm-up (a day each), then a day of forecasts
PREDICT = """
[predict]
scenarios_dir = "{scenarios}"
"""


def _config(directory: Path) -> Path:
    source = REPLAY.format(trace="builtin:geant", speed=0.0, days=DAYS)
    text = CONFIG.format(window=2.0, snapshot_every=30_000,
                         socket=directory / "shadowd.sock", sources=source)
    path = directory / "shadowd.toml"
    path.write_text(text + PREDICT.format(scenarios=REPO / "scenarios"))
    return path


def _forecast(d: Daemon) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = shadowctl_json(d, "forecast", "-n", "10000")["links"]
    return sorted(rows, key=lambda r: (r["link"], r["direction"]))


def _finished(d: Daemon) -> bool | None:
    """The replay has finished and no prediction job is waiting."""
    if not any(r.get("kind") == "source_finished" for r in d.log_records()):
        return None
    return True if not shadowctl_json(d, "scenarios", "runs")["pending"] else None


def _events(d: Daemon, event: str) -> list[dict[str, Any]]:
    return [r for r in d.log_records() if r.get("event") == event]


def _newest_snapshot_lsn(d: Daemon) -> int:
    return max(int(p.stem) for p in (d.state_dir / "snapshots").glob("*.snap"))


def test_forecasts_are_ready_at_once_after_a_restart(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    d = daemons(_config(tmp_path / "d"), name="d")
    d.start().wait_ready()
    poll("the replay to finish", lambda: _finished(d), interval=0.5)
    before = _forecast(d)
    assert before
    assert all(row["ready"] and row["peak_ts"] is not None for row in before)
    seq = d.status().seq
    assert d.stop() == 0

    snapshot = _newest_snapshot_lsn(d)
    assert 0 < snapshot < seq  # the restart restores at the snapshot, then folds a tail
    sidecar = d.state_dir / "snapshots" / f"{snapshot:020d}.predict"
    assert sidecar.stat().st_size > 0
    assert len(list((d.state_dir / "snapshots").glob("*.predict"))) == len(
        list((d.state_dir / "snapshots").glob("*.snap")))  # kept and pruned together

    d.start()
    assert d.wait_ready().seq == seq  # nothing new: the replay had finished
    assert _forecast(d) == before
    [restored] = _events(d, "predictor state restored")
    assert (restored["seq"], restored["path"]) == (snapshot, str(sidecar))
    assert restored["ready_series"] > 0
    assert d.stop() == 0

    data = bytearray(sidecar.read_bytes())
    data[len(data) // 2] ^= 0xFF
    sidecar.write_bytes(data)
    d.start()
    d.wait_ready()
    [warning] = [r for r in _events(d, "predictor state not restored; forecasts start "
                                     "again and relearn a season")]
    assert warning["level"] == "warning"
    assert warning["path"] == str(sidecar)
    assert "CRC mismatch" in warning["reason"]
    relearning = _forecast(d)  # what every restart was before: blind for a season
    assert [(r["link"], r["direction"]) for r in relearning] == [
        (r["link"], r["direction"]) for r in before]
    assert not any(row["ready"] for row in relearning)
    assert d.stop() == 0


def _stopped_after_first_spike(first: Daemon, after: Path) -> SpikePredicted:
    """``after``'s state dir: ``first``'s log up to its first spike's prediction and that
    spike's record (no run yet), and ``first``'s snapshots before it; the spike."""
    with EventLog.open(first.state_dir / "log", readonly=True) as log:
        spike = next(e for _, e in log.events() if isinstance(e, SpikePredicted))
        assert spike.seq == 1  # nothing of shadowd's own before it to leave out
        with EventLog.open(after / "log") as cut:
            for batch in log.read(1, spike.at_lsn):
                cut.write(batch)
            cut.write([spike])
            cut.sync()
    (after / "snapshots").mkdir()
    kept = [p for p in (first.state_dir / "snapshots").iterdir()
            if int(p.name.split(".")[0]) <= spike.at_lsn]
    assert any(p.suffix == ".predict" for p in kept)  # the watch restored, then the tail
    for path in kept:
        (after / "snapshots" / path.name).write_bytes(path.read_bytes())
    return spike


def _resumed_settled(d: Daemon) -> dict[str, Any] | None:
    """The resumed spike's line once it and every spike predicted since have their runs."""
    resumed = _events(d, "spike resumed after restart")
    if not resumed or not _settled(d):
        return None
    runs = [r for r in d.log_records() if r.get("event") in ("scenario run",
                                                            "scenario run failed")]
    mine = [r for r in runs if r.get("spike_seq") == resumed[0]["seq"] and r["tier"] == "model"]
    return resumed[0] if len(mine) == len(resumed[0]["scenarios"]) else None


def test_a_spike_recorded_before_a_restart_is_run_after_it_before_its_peak(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    (tmp_path / "first").mkdir()
    first = daemons(_surges_config(tmp_path / "first", REPO / "scenarios"), name="first")
    first.start().wait_ready()
    poll("the replay and its predictions to finish", lambda: _settled(first), interval=0.5)
    assert first.stop() == 0

    (tmp_path / "after" / "state").mkdir(parents=True)
    spike = _stopped_after_first_spike(first, tmp_path / "after" / "state")
    after = daemons(_surges_config(tmp_path / "after", REPO / "scenarios"), name="after")
    after.start().wait_ready()
    resumed = poll("the resumed spike's runs", lambda: _resumed_settled(after), interval=0.5)
    assert (resumed["seq"], resumed["link"], resumed["direction"]) == (
        spike.seq, spike.link, spike.direction)
    assert resumed["inject_at"] < resumed["peak"]  # ISO times, UTC
    assert not _events(after, "spikes dropped after restart: their peaks passed before "
                              "their runs")
    assert after.stop() == 0

    with EventLog.open(after.state_dir / "log", readonly=True) as log:
        events = list(log.events())
    assert [e for _, e in events if isinstance(e, SpikePredicted)
            and (e.link, e.direction, e.peak_ts) == (spike.link, spike.direction,
                                                     spike.peak_ts)] == [spike]  # no second
    _check_runs_precede_their_spikes(events)  # the resumed one's too, from the log alone
