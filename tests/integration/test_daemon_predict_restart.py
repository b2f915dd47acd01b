"""The predictor survives a restart of the real daemon: its forecasts are saved beside each
snapshot of the state, and on start they are restored and fed the log tail, so
``shadowctl forecast`` has a ready forecast for every link at once, the same as before the
restart, instead of none for a season. A damaged saved state is a warning naming the file,
and the daemon starts as it did before there was one: serving, its forecasts relearning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import CONFIG, REPLAY, Daemon, poll, shadowctl_json

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
