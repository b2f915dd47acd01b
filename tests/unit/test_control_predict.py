"""``shadowctl forecast`` and ``shadowctl scenarios ...`` against a real control socket
(the fake service, its scenarios run in the real model), and their renderers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from shadowd.cli import tables_scenarios
from shadowd.cli.shadowctl import main
from shadowd.control.replies import ForecastReply, ScenarioRunReply
from shadowd.control.rows import LinkForecast
from shadowd.core.events import LinkStatus, ScenarioRan
from shadowd.scenario_files import load_library
from tests.fakes.control import FakeService, serving_in_thread
from tests.unit.samples import SAMPLES

EVENTS = [*SAMPLES, LinkStatus(source="golden", seq=14, ts=11.0, link="fra--ams", up=True)]


@pytest.fixture(autouse=True)
def _server_logs_kept_off_stdout() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[str]:
    library = tmp_path / "scenarios"
    library.mkdir()
    (library / "cut.toml").write_text('name = "fra-ams-cut"\ndescription = "the only link"\n'
                                      'kind = "link_cut"\nlink = "fra--ams"\nduration_s = 600\n')
    (library / "storm.toml").write_text('name = "storm"\nkind = "meteor"\n')
    service = FakeService(EVENTS)
    service.library = load_library(library, service.state)
    with serving_in_thread(tmp_path / "ctl.sock", service) as server:
        yield str(server.path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scenarios_list_names_the_good_and_the_broken(sock: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "scenarios", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "1 scenarios in /fake/scenarios"
    assert lines[2].split()[:2] == ["fra-ams-cut", "link_cut"]
    assert lines[-2] == "1 file(s) cannot be used:"
    assert lines[-1].endswith("storm.toml:2: $.kind: unknown kind 'meteor'; use one of "
                              "link_cut, router_failure, srlg_cut, surge, "
                              "capacity_degradation, link_flap, custom")


def test_scenarios_show(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "scenarios", "show", "fra-ams-cut")
    assert code == 0
    assert "link        fra--ams\nduration_s  600\n" in out
    assert "the only link" in out


def test_scenarios_run_then_runs(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "scenarios", "run", "fra-ams-cut")
    assert code == 0
    assert out.startswith("run-1 fra-ams-cut (link_cut) in the model at 1970-01-01T00:00:11Z: ")
    assert out.endswith("0 newly overloaded, 0 unreachable, loss 0.0%, latency 0.00 -> "
                        "0.00 ms, 0 routes changed\n")  # no demands left in the samples
    code, out, _ = run(capsys, "--socket", sock, "scenarios", "run", "fra-ams-cut", "--lab",
                       "--json")
    reply = json.loads(out)
    assert (reply["type"], reply["run"]["trigger"], reply["lab_error"]) == (
        "scenario_run", "manual", "the fake has no lab")
    code, out, _ = run(capsys, "--socket", sock, "scenarios", "runs", "-n", "5")
    assert code == 0
    assert out.splitlines()[0].startswith("2 runs shown")
    assert [line.split()[:4] for line in out.splitlines()[2:]] == [
        ["run-1", "model", "fra-ams-cut", "manual"], ["run-2", "model", "fra-ams-cut", "manual"]]


def test_an_unknown_scenario_is_a_clear_error(sock: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--socket", sock, "scenarios", "run", "storm")
    assert (code, out) == (1, "")
    assert err == ("shadowctl: shadowd refused: not_found: no scenario 'storm'; known: "
                   "fra-ams-cut\n")


def test_forecast(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "forecast", "--link", "fra--ams")
    assert code == 0
    assert out.splitlines()[0].startswith("forecast at 1970-01-01T00:00:11Z (seq 14)")
    assert [line.split()[:3] for line in out.splitlines()[2:4]] == [
        ["fra--ams", "fra", "ams"], ["fra--ams", "ams", "fra"]]
    assert out.endswith("* still learning: a forecast needs a season (a day) of a link's "
                        "samples\n")
    code, _, err = run(capsys, "--socket", sock, "forecast", "--link", "nowhere")
    assert code == 1
    assert "unknown link 'nowhere'" in err
    code, out, _ = run(capsys, "--socket", sock, "forecast", "--json", "-n", "1")
    assert len(json.loads(out)["links"]) == 1


@pytest.mark.parametrize("argv", [["scenarios"], ["scenarios", "run"],
                                  ["scenarios", "runs", "-n", "0"], ["forecast", "--top", "0"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--socket", "/nonexistent", *argv)
    assert (code, out) == (2, "")
    assert "usage: shadowctl" in err


def test_the_forecast_table_renders_three_levels() -> None:
    row = LinkForecast(link="fra--ams", direction="ab", src="fra", dst="ams",
                       capacity_bps=1e11, observed_bps=4e10, recent_max_bps=5e10,
                       peak_ts=1800.0, normal_bps=6e10, upper_bps=8.5e10, ready=True,
                       factor=2.125, wc_load_bps=5e10, wc_failure="link:ams--lon",
                       extreme_bps=1.0625e11, extreme_util=1.0625)
    text = tables_scenarios.forecast(ForecastReply(seq=9, log_ts=60.0, threshold_util=0.8,
                                                  horizon_s=1800.0, links=[row]))
    lines = text.splitlines()
    assert lines[0] == ("forecast at 1970-01-01T00:01:00Z (seq 9): spikes over 80.0% within "
                        "30m00s")
    assert lines[1].split() == ["LINK", "FROM", "TO", "CAPACITY", "NOW", "MAX", "24H", "PEAK",
                                "AT", "NORMAL", "UPPER", "WC", "LOAD", "FACTOR", "EXTREME%",
                                "WC", "FAILURE"]
    assert lines[2].split() == ["fra--ams", "fra", "ams", "100.0G", "40.0G", "50.0G",
                                "1970-01-01T00:30:00Z", "60.0G", "85.0G", "50.0G", "x2.12",
                                "106.2", "link:ams--lon"]
    assert len(lines) == 3


def test_a_failed_and_a_lab_run_render() -> None:
    base = ScenarioRan(source="shadowd", seq=1, ts=1.0, run_id="run-1", scenario="cut",
                       kind="link_cut", trigger="manual", tier="lab", injected_ts=1.0,
                       converged=False, converge_s=61.0, max_loss_pct=2.5)
    failed = ScenarioRan(source="shadowd", seq=2, ts=1.0, run_id="run-2", scenario="cut",
                         kind="link_cut", trigger="manual", tier="model", injected_ts=1.0,
                         error="scenarios/cut.toml:3: $.link: unknown link 'x'")
    text = tables_scenarios.scenario_run(ScenarioRunReply(run=failed, lab_run=base))
    assert text.splitlines() == [
        "run-2 cut (link_cut) in the model at 1970-01-01T00:00:01Z: FAILED: "
        "scenarios/cut.toml:3: $.link: unknown link 'x'",
        "run-1 cut (link_cut) in the lab at 1970-01-01T00:00:01Z: did NOT converge (slowest "
        "step 61.0 s), 0 probes unanswered, loss 2.5%, latency 0.00 -> 0.00 ms (half the "
        "probes' round trip)"]
