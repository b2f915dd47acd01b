"""Predictive injection in the running daemon (issue 6, must-show 2): on a generated trace
with surges, replayed at full speed, every predicted spike is followed in the log by its
scenario runs, each injected (its state taken from the log) before the spike's peak; a
``predicted_overload`` alert is raised; and ``shadowctl scenarios`` works against it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shadowd.core.events import DAEMON_SOURCE, AnyEvent, ScenarioRan, SpikePredicted
from shadowd.store.log import EventLog
from tests.integration.harness import CONFIG, REPLAY, Daemon, poll, shadowctl_json

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAYS = 3  # a day for the forecaster to learn its season, then two of predictions
PREDICT = """
[predict]
scenarios_dir = "{scenarios}"
"""


def _config(directory: Path, scenarios: Path) -> Path:
    source = REPLAY.format(trace="builtin:geant", speed=0.0, days=DAYS) + \
        "surges_per_week = 21.0\n"
    text = CONFIG.format(window=2.0, snapshot_every=200_000,
                         socket=directory / "shadowd.sock", sources=source)
    path = directory / "shadowd.toml"
    path.write_text(text + PREDICT.format(scenarios=scenarios))
    return path


def _library(directory: Path) -> Path:
    """The bundled scenarios, and two broken files next to them."""
    library = directory / "scenarios"
    shutil.copytree(REPO / "scenarios", library)
    (library / "typo.toml").write_text('name = "typo"\nkind = "link_cut"\n'
                                       'link = "de1.de--atlantis"\nduration_s = 60\n')
    (library / "storm.yaml").write_text("name: storm\nkind: custom\nsteps:\n"
                                        "  - at_s: 0\n    kind: meteor_strike\n")
    return library


def _records(d: Daemon, event: str) -> list[dict[str, Any]]:
    return [r for r in d.log_records() if r.get("event") == event]


def _settled(d: Daemon) -> bool | None:
    """The replay has finished and every predicted spike has all its runs logged."""
    if not any(r.get("kind") == "source_finished" for r in d.log_records()):
        return None
    if shadowctl_json(d, "scenarios", "runs")["pending"]:
        return None
    spikes = _records(d, "spike predicted")
    runs = [r for r in d.log_records() if r.get("event") in ("scenario run",
                                                            "scenario run failed")]
    done = {s["seq"]: sum(r.get("spike_seq") == s["seq"] and r["tier"] == "model"
                          for r in runs) for s in spikes}
    return True if all(done[s["seq"]] == len(s["scenarios"]) for s in spikes) else None


def test_spikes_are_predicted_and_their_scenarios_run_before_them(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    library = _library(tmp_path)
    (tmp_path / "d").mkdir()
    d = daemons(_config(tmp_path / "d", library), name="d")
    d.start().wait_ready()
    poll("the replay and its predictions to finish", lambda: _settled(d), interval=0.5)

    listed = shadowctl_json(d, "scenarios", "list")
    assert {"geant-ch-fr-cut", "geant-de-failure", "geant-nl-evening"} <= {
        s["name"] for s in listed["scenarios"]}
    errors = {Path(e["file"]).name: e for e in listed["errors"]}
    assert set(errors) == {"typo.toml", "storm.yaml"}
    assert errors["typo.toml"]["line"] == 3
    assert errors["typo.toml"]["message"].endswith(
        "typo.toml:3: $.link: unknown link 'de1.de--atlantis'")
    assert errors["storm.yaml"]["line"] == 5
    assert "unknown step type 'meteor_strike'" in errors["storm.yaml"]["reason"]

    manual = shadowctl_json(d, "scenarios", "run", "geant-ch-fr-cut")["run"]
    assert (manual["trigger"], manual["tier"], manual["error"]) == ("manual", "model", "")
    assert manual["steps"] == 2
    forecast = shadowctl_json(d, "forecast", "-n", "3")
    assert len(forecast["links"]) == 3
    assert all(row["ready"] and row["wc_failure"] for row in forecast["links"])
    d.stop()

    events = list(EventLog.open(d.state_dir / "log", readonly=True).events())
    _check_runs_precede_their_spikes(events)
    spikes = [e for _, e in events if isinstance(e, SpikePredicted)]
    alerts = [r for r in d.log_records() if r.get("kind") == "predicted_overload"]
    assert alerts, "no predicted_overload alert"
    assert {(a["link"], a["direction"]) for a in alerts} <= {(s.link, s.direction)
                                                             for s in spikes}
    assert any(isinstance(e, ScenarioRan) and e.trigger == "manual" for _, e in events)


def _check_runs_precede_their_spikes(events: list[tuple[int, AnyEvent]]) -> None:
    """From the log alone: each spike's runs come after it, started from a state whose
    telemetry was all before the spike's peak (``at_lsn``), at a log time before it."""
    telemetry_ts: dict[int, float] = {}  # lsn -> the newest telemetry ts up to it
    newest = 0.0
    spikes: dict[int, tuple[int, SpikePredicted]] = {}
    runs: dict[int, list[tuple[int, ScenarioRan]]] = {}
    for lsn, e in events:
        if e.source != DAEMON_SOURCE:
            newest = max(newest, e.ts)
        telemetry_ts[lsn] = newest
        if isinstance(e, SpikePredicted):
            spikes[e.seq] = (lsn, e)
        elif isinstance(e, ScenarioRan) and e.spike_seq:
            runs.setdefault(e.spike_seq, []).append((lsn, e))
    assert len(spikes) >= 3, f"only {len(spikes)} spikes predicted"
    assert set(runs) <= set(spikes)
    for seq, (spike_lsn, spike) in spikes.items():
        mine = runs.get(seq, [])
        assert mine, f"spike {spike.link} {spike.direction} at {spike.peak_ts} has no runs"
        assert telemetry_ts[spike.at_lsn] == spike.made_at < spike.peak_ts
        for lsn, run in mine:
            assert lsn > spike_lsn
            assert run.trigger == f"spike:{spike.link} {spike.direction}"
            assert run.spike_ts == spike.peak_ts
            assert spike.made_at <= run.injected_ts < spike.peak_ts
            assert telemetry_ts[run.at_lsn] == run.injected_ts  # its state: the log up to it
            assert spike.at_lsn <= run.at_lsn
            assert not run.error, run.error
