"""``shadowd analyze`` end to end on a small node-link file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from shadowd.engine import commands

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


def test_json_lists_every_scenario_and_the_worst_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(run(tmp_path, capsys, "--failures", "links", "--json"))
    assert doc["scenarios"][0]["failure"] == "none"
    assert len(doc["scenarios"]) == 1 + 4
    base = {(x["src"], x["dst"]): x["load"] for x in doc["scenarios"][0]["links"]}
    assert base[("A", "B")] == pytest.approx(4e6)
    assert len(doc["worst_case"]) == 8
    worst = {(x["src"], x["dst"]): x for x in doc["worst_case"]}
    assert worst[("A", "B")]["wc_load"] == pytest.approx(8e6)
    assert worst[("A", "B")]["wc_util"] == pytest.approx(0.8)
    assert worst[("A", "B")]["wc_failure"].startswith("link:")


def test_human_output_names_the_worst_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, "--failures", "nodes", "--top", "3")
    assert "4 routers, 4 links, 1 demands" in out
    assert "worst case over 4 failures (exhaustive)" in out
    assert "router:" in out
