"""``shadowctl report --out DIR`` against a real control socket: the fake service over
GEANT (its worst cases from the real model), with a scenario run and a rolled-out policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import structlog

from shadowd.cli.shadowctl import main
from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.report.data import ReportData
from shadowd.scenario_files import load_library
from shadowd.topology import topohub_topology
from tests.fakes.control import FakeService, serving_in_thread
from tests.report_dom import Dom

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _server_logs_kept_off_stdout() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def service() -> FakeService:
    service = FakeService(topohub_topology("sndlib/geant"))
    service.library = load_library(REPO / "scenarios", service.state)
    service.policies.next_proposal = PolicyProposed(
        source="shadowd", seq=1, ts=1.0, policy_id="p-1", kind="igp_metric", reason="manual",
        changes=(PolicyChange(router="ch1.ch", target="ch1.ch--fr1.fr", attr="metric",
                              old=10, new=30),),
        target_util=0.8, wc_before=1.2, wc_after=0.75)
    return service


@pytest.fixture
def sock(tmp_path: Path, service: FakeService) -> Iterator[str]:
    with serving_in_thread(tmp_path / "ctl.sock", service) as server:
        yield str(server.path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_writes_the_page_and_its_data_and_prints_the_path(
        sock: str, service: FakeService, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--socket", sock, "scenarios", "run", "geant-ch-fr-cut")[0] == 0
    assert run(capsys, "--socket", sock, "policies", "propose")[0] == 0
    assert run(capsys, "--socket", sock, "policies", "deploy", "p-1")[0] == 0
    service.policies.complete("p-1")

    out_dir = tmp_path / "report"
    code, out, err = run(capsys, "--socket", sock, "report", "--out", str(out_dir),
                         "--title", "GEANT <weekly>")
    assert (code, err) == (0, "")
    page = out_dir / "index.html"
    lines = out.splitlines()
    assert lines[0] == str(page.resolve())
    assert lines[1].startswith("22 routers, 72 link directions (")
    data = msgspec.json.decode((out_dir / "report.json").read_bytes(), type=ReportData)
    assert (data.title, len(data.routers), len(data.links)) == ("GEANT <weekly>", 22, 72)
    assert all(r.pos is not None for r in data.routers)  # topohub's GEANT has geography
    assert [r.scenario for r in data.runs] == ["geant-ch-fr-cut"]
    assert [p.status for p in data.policies] == ["deployed"]

    dom = Dom.of(page.read_text())
    assert len(dom.find("g", "router", within="map-now")) == 22
    assert len(dom.find("line", "link", within="map-wc")) == 72
    assert len(dom.tables["worst-case"]) == 72
    assert dom.tables["runs"][0][1] == "geant-ch-fr-cut"
    assert dom.tables["policies"][0][3] == "deployed"
    assert [r[4] for r in dom.tables["rollouts"]] == ["completed", "measured", "applied",
                                                      "started"]


def test_report_json_prints_the_reply_and_still_writes_the_page(
        sock: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "report", "-o", str(tmp_path / "r"), "--json",
                       "--forecasts", "0")
    assert code == 0
    reply = json.loads(out)
    assert reply["type"] == "report"
    assert len(reply["data"]["links"]) == 72
    assert (tmp_path / "r" / "index.html").exists()


def test_report_says_when_it_cannot_write(sock: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    code, out, err = run(capsys, "--socket", sock, "report", "--out", str(blocked))
    assert (code, out) == (2, "")
    assert err.startswith("shadowctl: cannot write: ")


def test_report_needs_out(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--socket", sock, "report")[0] == 2

