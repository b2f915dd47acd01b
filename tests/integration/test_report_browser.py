"""The report in a real browser (issue 8): Debian's Chromium, headless, loads the page and
its DOM has the map (an SVG per map, a router element per router, a line per link
direction), the worst-case table, the forecast charts and the runs.

Two pages: one rendered from GEANT with forecasts learnt from three days of its generated
trace (no daemon: ``shadowd.report`` is pure), and one written by ``shadowctl report``
against a real shadowd that replayed that trace with surges and ran its scenarios.
Chromium is ``make deps``' ``chromium`` (APT_PKGS); without it these tests skip.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from shadowd.core.state import State, fold
from shadowd.ingest.builtin import builtin_batches
from shadowd.predict.extreme import analyse
from shadowd.predict.feed import LinkForecasts
from shadowd.report import rows as report_rows
from shadowd.report.data import ReportData
from shadowd.report.write import write_report
from shadowd.traffic.trace import TraceSpec
from tests.integration.harness import CONFIG, REPLAY, Daemon, poll, shadowctl_json
from tests.report_dom import CHROMIUM, Dom, chromium_dom, chromium_screenshot

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make deps` installs Debian's "
                       "chromium (APT_PKGS), or `apt-get install chromium`"),
]

REPO = Path(__file__).resolve().parents[2]
DAYS = 3  # two days for the forecaster to learn its season, then one of forecasts


def _geant_report() -> ReportData:
    state = State()
    feed = LinkForecasts(state)
    spec = TraceSpec(topology="sndlib/geant", days=DAYS, surges_per_week=7.0, source="trace")
    for batch in builtin_batches(spec):
        fold(batch, state)
        feed.feed(batch)
    _, wc = analyse(state)
    return ReportData(
        title="GEANT", generated_ts=time.time(), seq=state.lsn, log_ts=feed.clock,
        failures=report_rows.failure_set(), routers=report_rows.routers(state),
        links=report_rows.link_rows(state, wc),
        forecasts=report_rows.forecast_series(state, feed, horizon_s=1800.0, top=6))


def _check_map_and_tables(dom: Dom, routers: int, directions: int) -> None:
    assert {e.attrs["id"] for e in dom.find("svg", "map")} == {"map-now", "map-wc"}
    for map_id in ("map-now", "map-wc"):
        assert len(dom.find("g", "router", within=map_id)) == routers
        assert len(dom.find("circle", within=map_id)) == routers
        assert len(dom.find("line", "link", within=map_id)) == directions
    rows = dom.tables["worst-case"]
    assert len(rows) == directions
    wc_utils = [float(r[4].rstrip("%")) for r in rows]
    assert wc_utils == sorted(wc_utils, reverse=True)
    assert all(r[5] for r in rows)  # every direction names its WC failure


def test_chromium_renders_a_geant_report_with_map_tables_and_charts(tmp_path: Path) -> None:
    data = _geant_report()
    page = write_report(data, tmp_path / "report")
    dom = Dom.of(chromium_dom(page, tmp_path / "profile"))
    _check_map_and_tables(dom, routers=22, directions=72)
    charts = dom.find("svg", "chart")
    assert len(charts) == 6
    assert len(dom.find("polyline", "observed")) >= 6
    assert len(dom.find("polygon", "band")) >= 6  # ready: the forecast has its band
    assert all(s.ready and len(s.history) == 288 for s in data.forecasts)
    png = tmp_path / "report.png"
    chromium_screenshot(page, tmp_path / "profile", png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


PREDICT = """
[predict]
scenarios_dir = "{scenarios}"
"""


def _replayed(d: Daemon) -> bool | None:
    """The replay has finished and no scenario run is still to come."""
    if not any(r.get("kind") == "source_finished" for r in d.log_records()):
        return None
    return None if shadowctl_json(d, "scenarios", "runs")["pending"] else True


def test_shadowctl_report_from_a_running_daemon_renders_in_chromium(
        daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    source = REPLAY.format(trace="builtin:geant", speed=0.0, days=DAYS) + \
        "surges_per_week = 14.0\n"
    config = tmp_path / "d" / "shadowd.toml"
    config.write_text(CONFIG.format(window=2.0, snapshot_every=200_000,
                                    socket=tmp_path / "d" / "shadowd.sock", sources=source)
                      + PREDICT.format(scenarios=REPO / "scenarios"))
    d = daemons(config, name="d")
    d.start().wait_ready()
    poll("the replay and its scenario runs to finish", lambda: _replayed(d), interval=0.5)

    out_dir = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "shadowd.cli.shadowctl", "--socket",
                           str(d.socket), "report", "--out", str(out_dir)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    page = out_dir / "index.html"
    assert done.stdout.splitlines()[0] == str(page.resolve())
    data = msgspec.json.decode((out_dir / "report.json").read_bytes(), type=ReportData)
    assert data.runs, "no scenario runs in the report"
    assert len(data.forecasts) == 8
    assert all(s.ready and s.history and s.ahead for s in data.forecasts)

    dom = Dom.of(chromium_dom(page, tmp_path / "profile"))
    _check_map_and_tables(dom, routers=22, directions=72)
    assert len(dom.find("svg", "chart")) == 8
    assert len(dom.tables["runs"]) == len(data.runs)
    assert d.stop() == 0
