"""shadowctl against a real control socket: human tables, --json, exit codes, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from shadowd.cli import tables
from shadowd.cli.shadowctl import main
from shadowd.control.replies import (
    LabFidelityReply,
    LabStatusReply,
    LabUpReply,
    LoadsReply,
    RoutesReply,
    WorstCaseReply,
)
from shadowd.control.rows import LabConvergence, LabRouteDiff, LinkLoad, NextHopInfo, WorstCase
from shadowd.core.state import digest, fold
from tests.fakes.control import FakeService, serving_in_thread
from tests.unit.samples import SAMPLES

STATE = fold(SAMPLES)


@pytest.fixture(autouse=True)
def _server_logs_kept_off_stdout() -> Iterator[None]:
    # The server runs in this process; its structlog lines must not mix with shadowctl's.
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def service() -> FakeService:
    return FakeService(SAMPLES, uptime_s=3723.0)


@pytest.fixture
def sock(tmp_path: Path, service: FakeService) -> Iterator[str]:
    with serving_in_thread(tmp_path / "ctl.sock", service) as server:
        yield str(server.path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_human(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "status")
    assert code == 0
    assert f"seq      {STATE.lsn}\n" in out
    assert f"digest   {digest(STATE)}\n" in out
    assert "uptime   1h02m03s\n" in out
    since, header, row = out.split("\n\n", 1)[1].splitlines()
    assert "counts are since this shadowd started (1h02m03s ago)" in since
    assert header.split() == ["SOURCE", "SEQ", "LAST", "TS", "ACCEPTED", "DUPLICATES",
                              "REJECTED", "GAPS", "RESYNCS", "DIGESTS", "OK/BAD", "DEAD"]
    assert row.split()[:3] == ["golden", "13", "1970-01-01T00:00:10Z"]
    assert row.split()[-3:] == ["0", "0/0", "0"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_status_json_has_seq_and_digest(
    sock: str, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    argv = ["--json", "status"] if where == "before" else ["status", "--json"]
    code, out, _ = run(capsys, "--socket", sock, *argv)
    assert code == 0
    reply = json.loads(out)
    assert (reply["seq"], reply["digest"]) == (STATE.lsn, digest(STATE))
    assert reply["sources"]["golden"]["seq"] == 13


def test_topology_human(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "topology")
    assert code == 0
    routers, links = out.split("\n\n")
    assert [line.split()[0] for line in routers.splitlines()] == ["ROUTER", "ams", "fra"]
    link = links.splitlines()[1].split()
    assert link == ["fra--ams", "fra", "ams", "DOWN", "20", "100.0G", "0", "0", "0.0"]


def test_topology_json(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "topology", "--json")
    assert code == 0
    reply = json.loads(out)
    assert sorted(r["name"] for r in reply["routers"]) == ["ams", "fra"]
    assert [lk["id"] for lk in reply["links"]] == ["fra--ams"]


def test_log_tail_human(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "log", "tail", "-n", "2")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["LSN", "TS", "SOURCE", "SEQ", "TYPE", "DETAILS"]
    assert [row.split()[:5] for row in rows] == [
        ["12", "1970-01-01T00:00:09Z", "golden", "12", "link_removed"],
        ["13", "1970-01-01T00:00:10Z", "golden", "13", "router_removed"],
    ]
    assert rows[1].endswith("router=lon")


def test_log_tail_json(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "--json", "log", "tail", "-n", "3")
    assert code == 0
    events = json.loads(out)["events"]
    assert [(e["lsn"], e["event"]["type"]) for e in events] == [
        (11, "demand_set"), (12, "link_removed"), (13, "router_removed"),
    ]


def test_snapshot(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--socket", sock, "snapshot")
    assert (code, out) == (0, "snapshot at seq 13 written to /fake/snapshots/13.snap\n")
    code, out, _ = run(capsys, "--socket", sock, "snapshot", "--json")
    assert json.loads(out) == {"type": "snapshot", "lsn": 13, "path": "/fake/snapshots/13.snap"}


def test_an_error_reply_exits_1_with_one_line(
    sock: str, service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.fail.add("status")
    code, out, err = run(capsys, "--socket", sock, "status")
    assert (code, out) == (1, "")
    assert err.startswith("shadowctl: shadowd refused: internal: ")
    assert err.count("\n") == 1


def test_an_error_reply_is_json_too_with_json(
    sock: str, service: FakeService, capsys: pytest.CaptureFixture[str]
) -> None:
    service.fail.add("topology")
    code, out, _ = run(capsys, "--socket", sock, "--json", "topology")
    assert code == 1
    assert json.loads(out)["code"] == "internal"


def test_no_daemon_exits_2_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--socket", str(tmp_path / "none.sock"), "status")
    assert (code, out) == (2, "")
    assert err == (f"shadowctl: no shadowd at {tmp_path / 'none.sock'}: is it running? "
                   "start it with `shadowd run` or pass --socket\n")


def test_the_socket_comes_from_the_environment(
    sock: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHADOWD_SOCKET", sock)
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0
    assert json.loads(out)["seq"] == 13


@pytest.mark.parametrize("argv", [[], ["log"], ["frobnicate"], ["log", "tail", "-n", "0"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--socket", "/nonexistent", *argv)
    assert (code, out) == (2, "")
    assert "usage: shadowctl" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ("status", "topology", "log", "snapshot"):
        assert word in out


def test_lab_up_status_fidelity_down(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--socket", sock, "lab", "fidelity")
    assert (code, out) == (1, "")
    assert err == "shadowctl: shadowd refused: lab_down: lab fake is not up\n"
    code, out, _ = run(capsys, "--socket", sock, "lab", "up", "--igp", "isis")
    assert code == 0
    assert out.splitlines()[0] == "lab fake (isis): 2 routers, 1 links, built for seq 13"
    assert "agrees with the model: 100.0% of 2 routes" in out
    code, out, _ = run(capsys, "--socket", sock, "lab", "up", "--igp", "isis")
    assert out == "lab fake (isis) is already up: 2 routers, 1 links\n"
    code, out, _ = run(capsys, "--socket", sock, "lab", "status")
    assert code == 0
    assert "state       up, mirroring seq 13\n" in out
    assert out.splitlines()[-2].split() == ["SEQ", "AT", "SECONDS", "AGREEMENT", "ROUTES",
                                            "CHANGES"]
    code, out, _ = run(capsys, "--socket", sock, "lab", "fidelity", "--json")
    assert code == 0
    assert json.loads(out)["type"] == "lab_fidelity"
    code, out, _ = run(capsys, "--socket", sock, "lab", "down")
    assert (code, out) == (0, "lab fake down: nothing left over\n")
    code, out, _ = run(capsys, "--socket", sock, "--json", "lab", "status")
    assert json.loads(out)["up"] is False


@pytest.mark.parametrize("argv", [["lab"], ["lab", "up", "--igp", "rip"],
                                  ["lab", "fidelity", "-n", "-1"]])
def test_lab_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--socket", "/nonexistent", *argv)
    assert (code, out) == (2, "")
    assert "usage: shadowctl" in err


def test_lab_replies_render() -> None:
    removed = {"namespaces": ["s-a", "s-b"], "processes": ["1", "2", "3"], "run_dirs": []}
    up = tables.lab_up(LabUpReply(lab_id="s", igp="ospf", lsn=9, seconds=12.34,
                                  converged=False, agreement=0.5, routes=4, routers=2,
                                  links=1, removed=removed))
    assert "up in 12.3 s; does NOT agree with the model yet (convergence timeout): 50.0%" in up
    assert up.endswith("removed what an earlier run left: 2 namespaces, 3 processes, "
                       "0 run dirs\n")
    status = tables.lab_status(LabStatusReply(
        lab_id="s", igp="ospf", enabled=True, last_error="LabError: no", convergences=[
            LabConvergence(lsn=9, ts=10.0, changes=["a", "b", "c", "d"], seconds=60.2,
                           agreement=0.25, routes=4)]))
    assert "state       DOWN\n" in status
    assert "at start    built\n" in status
    assert "last error  LabError: no\n" in status
    row = status.splitlines()[-1]
    assert row.split()[:6] == ["9", "1970-01-01T00:00:10Z", ">60", "(timeout)", "25.0%", "4"]
    assert row.endswith("a, b, c (+1)")
    diff = LabRouteDiff(router="a", destination="b", model=["a-b", "a-c"], lab=[])
    fidelity = tables.lab_fidelity(LabFidelityReply(
        lab_id="s", lsn=9, routes=4, agreeing=3, agreement=0.75, differences=[diff], more=2))
    lines = fidelity.splitlines()
    assert lines[0] == "lab s at seq 9: 3/4 routes agree (75.0%)"
    assert lines[2].split() == ["a", "b", "a-b,a-c", "-"]
    assert lines[3] == "... and 2 more"


# --- the table renderer ----------------------------------------------------------------


def test_table_aligns_columns_and_right_aligns_numbers() -> None:
    text = tables.table(
        [tables.Column("NAME"), tables.Column("COUNT", right=True)],
        [["a", "1"], ["longer", "12345"]],
    )
    assert text == "NAME    COUNT\na           1\nlonger  12345\n"


def test_units() -> None:
    assert tables.bps(100e9) == "100.0G"
    assert tables.bps(999.0) == "999"
    assert tables.duration(3723.0) == "1h02m03s"
    assert tables.duration(90061.0) == "1d1h01m01s"
    assert tables.timestamp(0.0) == "-"


def test_model_replies_render_as_tables() -> None:
    hop = NextHopInfo(link="fra--ams", neighbor="ams", metric=20.0)
    routes = tables.routes(RoutesReply(seq=7, router="fra", routes={"ams": [hop]},
                                       unreachable=["lon"]))
    assert routes.splitlines()[0] == "fra at seq 7: 1 destinations"
    assert "ams" in routes.splitlines()[2]
    assert routes.endswith("unreachable: lon\n")
    load = LinkLoad(link="l", src="a", dst="b", load_bps=2.5e9, capacity_bps=1e10,
                    utilization=0.25)
    assert "25.0" in tables.loads(LoadsReply(seq=7, loads=[load]))
    worst = WorstCase(link="l", src="a", dst="b", wc_load_bps=1.2e10, wc_util=1.2,
                      wc_failure="router:c")
    table = tables.worst_case(WorstCaseReply(seq=7, failures="nodes", scenarios=3,
                                             worst=[worst]))
    assert table.startswith("worst case over 3 nodes failures")
    assert "120.0" in table
    assert "router:c" in table
