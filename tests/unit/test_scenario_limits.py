"""Scenario files are bounded before anything expands: size, YAML aliases, nesting, and
the number of changes a scenario expands to; a deep topology file is a clean error."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from shadowd.scenario.check import MAX_CHANGES
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import MAX_FILE_BYTES, parse_text
from shadowd.scenario_files import load_file, load_library
from shadowd.topology import load_topology
from shadowd.topology.errors import TopologyError

# 482 bytes that PyYAML would expand to 10^9 list items ("billion laughs").
BOMB = "name: bomb\nkind: link_flap\nlink: a--b\nperiod_s: 60\ncount: 1\n" + "".join(
    f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 10)
).replace("*l0", "x")


@pytest.mark.adversarial
def test_a_yaml_anchor_bomb_is_refused_without_expanding_it() -> None:
    tracemalloc.start()
    with pytest.raises(ScenarioError) as caught:
        parse_text(BOMB, "yaml", file="bomb.yaml")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "anchors and aliases" in caught.value.reason
    assert caught.value.line == 6  # the first anchor
    assert peak < 20 * 2**20  # it expanded nothing (the bomb is gigabytes when expanded)


def test_a_scenario_that_expands_to_too_many_changes_is_refused_before_expanding() -> None:
    steps = "".join(f'[[steps]]\nat_s = {i}\nkind = "link_flap"\nlink = "a--b"\n'
                    f"period_s = 60\ncount = 10000\n" for i in range(100))
    with pytest.raises(ScenarioError) as caught:
        parse_text(f'name = "storm"\nkind = "custom"\n{steps}', "toml", file="storm.toml")
    assert caught.value.key == "$.steps"
    assert f"expands to 2,000,000 changes, over the limit of {MAX_CHANGES:,}" in \
        caught.value.reason


def test_a_big_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text('name = "huge"\n' + "#" * MAX_FILE_BYTES + "\n")
    with pytest.raises(ScenarioError, match=r"bytes, over the limit of 262,144"):
        load_file(path)
    library = load_library(tmp_path)
    assert (library.names, [e.file for e in library.errors]) == ([], [str(path)])


@pytest.mark.adversarial
def test_deep_nesting_is_a_clean_error() -> None:
    deep = "name: deep\nkind: link_cut\nlink: " + "[" * 50_000 + "]" * 50_000 + "\n"
    with pytest.raises(ScenarioError) as caught:
        parse_text(deep, "yaml", file="deep.yaml")
    assert caught.value.reason.startswith("not valid YAML: ")


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_deeply_nested_topology_file_is_a_clean_error(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"deep{suffix}"
    opening = '{"nodes": ' if suffix == ".json" else "nodes: "
    path.write_text(opening + "[" * 200_000 + "]" * 200_000 + ("}" if suffix == ".json"
                                                               else "\n"))
    with pytest.raises(TopologyError, match="nested too deeply to be a topology"):
        load_topology(path)
