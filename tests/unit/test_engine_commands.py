"""``shadowd analyze`` end to end on a small node-link file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from shadowd.cli import analyze as commands

DIAMOND = {
    "directed": False,
    "nodes": [{"id": i, "name": n} for i, n in enumerate("ABCD")],
    "edges": [
        {"source": 0, "target": 1, "capacity": "10M"},
        {"source": 0, "target": 2, "capacity": "10M"},
        {"source": 1, "target": 3, "capacity": "10M"},
        {"source": 2, "target": 3, "capacity": "10M"},
    ],
    "graph": {"demands": {"0": {"3": 8.0}}},  # Mbit/s
}


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    path = tmp_path / "diamond.json"
    path.write_text(json.dumps(DIAMOND))
    parser = argparse.ArgumentParser()
    commands.configure(parser)
    args = parser.parse_args(["--topology", str(path), *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_json_is_the_summary_per_failure_and_the_worst_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(run(tmp_path, capsys, "--failures", "links", "--json"))
    assert (doc["routers"], doc["links"], doc["demands"]) == (4, 4, 1)
    assert len(doc["scenarios"]) == 1 + 4
    base = doc["scenarios"][0]
    assert base["failure"] == "none"
    assert base["max_utilization"] == pytest.approx(0.4)
    assert base["max_link"]["src"] in "ABCD"
    assert "links" not in base  # per-link detail is --detail's
    cut = next(s for s in doc["scenarios"] if s["failure"] == "link:A--B")
    assert cut["max_utilization"] == pytest.approx(0.8)
    assert {(cut["max_link"]["src"], cut["max_link"]["dst"])} <= {("A", "C"), ("C", "D")}
    assert len(doc["worst_case"]) == 8
    worst = {(x["src"], x["dst"]): x for x in doc["worst_case"]}
    assert worst[("A", "B")]["wc_load"] == pytest.approx(8e6)
    assert worst[("A", "B")]["wc_util"] == pytest.approx(0.8)
    assert worst[("A", "B")]["wc_failure"].startswith("link:")


def test_a_failure_that_cuts_demands_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(run(tmp_path, capsys, "--failures", "nodes", "--json"))
    lost = {s["failure"]: s["disconnected"] for s in doc["scenarios"]}
    assert lost["router:A"] == [{"src": "A", "dst": "D", "rate_bps": 8e6}]
    assert lost["router:B"] == []
    nothing = next(s for s in doc["scenarios"] if s["failure"] == "router:A")
    assert (nothing["max_utilization"], nothing["max_link"]) == (0.0, None)


def test_detail_streams_every_failure_s_loads_as_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads(run(tmp_path, capsys, "--failures", "links", "--json"))
    lines = [json.loads(line) for line in run(tmp_path, capsys, "--failures", "links",
                                              "--detail").splitlines()]
    assert [line["type"] for line in lines] == ["analysis"] + ["scenario"] * 5 + [
        "worst_case"] * 8
    header = {k: v for k, v in summary.items() if k not in ("scenarios", "worst_case")}
    assert lines[0] == {"type": "analysis", **header}
    scenarios = lines[1:6]
    assert [{k: v for k, v in s.items() if k not in ("type", "links")} for s in scenarios] \
        == summary["scenarios"]
    base = {(x["src"], x["dst"]): x["load"] for x in scenarios[0]["links"]}
    assert len(base) == 8
    assert base[("A", "B")] == pytest.approx(4e6)
    assert [{k: v for k, v in w.items() if k != "type"} for w in lines[6:]] \
        == summary["worst_case"]


def test_detail_with_top_keeps_the_most_utilised_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, "--failures", "links", "--detail", "--top", "2")
    scenarios = [json.loads(x) for x in out.splitlines() if '"scenario"' in x]
    cut = next(s for s in scenarios if s["failure"] == "link:A--B")
    assert [x["utilization"] for x in cut["links"]] == pytest.approx([0.8, 0.8])


def test_json_and_detail_are_one_or_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        run(tmp_path, capsys, "--json", "--detail")
    assert "not allowed with argument" in capsys.readouterr().err


def test_human_output_names_the_worst_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, "--failures", "nodes", "--top", "3")
    assert "4 routers, 4 links, 1 demands" in out
    assert "worst case over 4 failures (exhaustive)" in out
    assert "router:" in out
