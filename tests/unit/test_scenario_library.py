"""The scenario library: every kind parses from TOML and YAML, every mistake is rejected
naming the file, the line, the key and the reason, a broken file hides no good one, and
scenarios compile to timelines that apply cleanly and restore the network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shadowd.core.checks import apply_valid
from shadowd.core.events import DemandSet, LinkCapacity, LinkStatus, RouterHealth
from shadowd.core.state import State, fold, view_digest
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import parse_text, scenario_of, validate
from shadowd.scenario.lines import line_of, toml_lines, yaml_lines
from shadowd.scenario.spec import KINDS, LinkCutScenario, SurgeScenario
from shadowd.scenario.timeline import label, timeline
from shadowd.scenario_files import load_file, load_library
from shadowd.topology import load_topology, topohub_topology

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "tests" / "data"
GOOD = DATA / "scenarios" / "good"
BROKEN = DATA / "scenarios" / "broken"


@pytest.fixture(scope="module")
def example() -> State:
    """fra, ams, lon, par; fra--ams and fra--ams#2 in SRLG duct-7; demands fra<->lon."""
    return fold(load_topology(DATA / "topologies" / "example.toml"))


def test_every_kind_parses_from_toml_and_yaml(example: State) -> None:
    library = load_library(GOOD, example)
    assert library.errors == []
    assert {s.kind for s in library.scenarios} == set(KINDS)
    assert {Path(s.file).suffix for s in library.scenarios} == {".toml", ".yaml"}
    cut = library.get("ams-lon-cut")
    assert cut.spec == LinkCutScenario(
        name="ams-lon-cut", link="ams--lon", duration_s=600.0,
        description="The only link between Amsterdam and London is cut for ten minutes")


def test_yaml_and_toml_decode_to_the_same_scenario() -> None:
    toml = parse_text('name = "s"\nkind = "surge"\ntarget = "lon"\nsources = ["fra"]\n'
                      'rate = "2.5 Gbps"\nramp_s = 10\nduration_s = 60\n', "toml")
    yaml = parse_text("name: s\nkind: surge\ntarget: lon\nsources: [fra]\nrate: 2.5 Gbps\n"
                      "ramp_s: 10\nduration_s: 60\n", "yaml")
    assert toml.spec == yaml.spec
    assert isinstance(toml.spec, SurgeScenario)
    assert toml.spec.sources == ["fra"]


@pytest.mark.parametrize(("file", "line", "key", "reason"), [
    ("unknown-link.toml", 3, "$.link", "unknown link 'fra--nyc'"),
    ("negative-duration.toml", 4, "$.duration_s", "-600 must be > 0"),
    ("negative-duration.yaml", 4, "$.period_s", "-30 must be > 0"),
    ("unknown-step.toml", 12, "$.steps[1].kind", "unknown step type 'meteor_strike'"),
    ("unknown-step.yaml", 9, "$.steps[1].kind", "unknown step type 'meteor_strike'"),
    ("bad-rate.toml", 8, "$.rate", "'20 furlongs' is not a rate"),
    ("unknown-key.toml", 5, "$.severity", "unknown key 'severity'"),
    ("unknown-router.yaml", 11, "$.steps[1].sources[1]", "unknown source router 'zurich'"),
    ("bad-factor.toml", 4, "$.factor", "1.5 must be < 1"),
    ("unknown-srlg.toml", 3, "$.srlg", "unknown SRLG 'duct-99'"),
    ("overlap.toml", 10, "$.steps[1]", "link status fra--ams#2 from 300 s while steps[0]"),
    ("not-toml.toml", 3, "", "not valid TOML"),
])
def test_a_broken_file_is_rejected_with_file_line_key_and_reason(
        example: State, file: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        validate(load_file(BROKEN / file), example)
    err = caught.value
    assert (err.file, err.line, err.key) == (str(BROKEN / file), line, key)
    assert reason in err.reason
    assert str(err).startswith(f"{BROKEN / file}:{line}: {key}")


def test_a_broken_file_does_not_hide_the_good_ones(example: State, tmp_path: Path) -> None:
    for name in ("link-cut.toml", "surge-factor.yaml"):
        shutil.copy(GOOD / name, tmp_path)
    shutil.copy(BROKEN / "unknown-step.toml", tmp_path)
    (tmp_path / "notes.txt").write_text("not a scenario: ignored")
    library = load_library(tmp_path, example)
    assert library.names == ["ams-lon-cut", "lon-flash-crowd"]
    [err] = library.errors
    assert err.file == str(tmp_path / "unknown-step.toml")
    assert err.line == 12


def test_every_file_of_a_broken_directory_reports_its_own_error(example: State) -> None:
    library = load_library(BROKEN, example)
    assert library.scenarios == []
    assert sorted(Path(e.file).name for e in library.errors) == sorted(
        p.name for p in BROKEN.iterdir())


def test_two_files_with_one_name_are_refused(example: State, tmp_path: Path) -> None:
    shutil.copy(GOOD / "link-cut.toml", tmp_path / "a.toml")
    (tmp_path / "b.yaml").write_text("name: ams-lon-cut\nkind: router_failure\n"
                                     "router: fra\nduration_s: 1\n")
    library = load_library(tmp_path, example)
    [err] = library.errors
    assert (Path(err.file).name, err.line, err.key) == ("b.yaml", 1, "$.name")
    assert "already defined in" in err.reason


def test_checks_that_need_no_network_run_when_parsing() -> None:
    cases = {
        'rate = "1G"\nfactor = 2\n': ("$.rate", "give either 'rate' or 'factor' (both"),
        "": ("$.rate", "(neither given)"),
        'rate = "1G"\nramp_s = 60\n': ("$.ramp_s", "must be shorter than duration_s 60"),
        'rate = "0"\n': ("$.rate", "must be more than 0 bit/s"),
        'rate = "1G"\nsources = []\n': ("$.sources", "needs at least one source"),
        'rate = "1G"\nsources = ["a", "a"]\n': ("$.sources[1]", "listed twice"),
        'rate = "1G"\nsources = "some"\n': ("$.sources", "Invalid enum value 'some'"),
    }
    for extra, (key, reason) in cases.items():
        text = f'name = "s"\nkind = "surge"\ntarget = "t"\nduration_s = 60\n{extra}'
        with pytest.raises(ScenarioError) as caught:
            parse_text(text, "toml", file="s.toml")
        assert (caught.value.key, caught.value.line) == (key, line_of(toml_lines(text), key))
        assert reason in caught.value.reason, extra


def test_missing_keys_and_unknown_kinds_are_named() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_text('name = "x"\nkind = "link_cut"\nduration_s = 5\n', "toml")
    assert (caught.value.key, caught.value.reason) == ("$.link", "required key 'link' is missing")
    with pytest.raises(ScenarioError) as caught:
        parse_text("name: x\nkind: asteroid\n", "yaml")
    assert (caught.value.line, caught.value.key) == (2, "$.kind")
    assert caught.value.reason.startswith("unknown kind 'asteroid'; use one of link_cut")
    with pytest.raises(ScenarioError, match=r"unknown key 'at_s'"):
        parse_text('name = "x"\nkind = "link_cut"\nlink = "a"\nduration_s = 5\nat_s = 1\n',
                   "toml")


def test_a_scenario_built_in_code_is_checked_and_named_by_key(example: State) -> None:
    scenario = scenario_of(LinkCutScenario(name="x", link="nowhere", duration_s=5.0))
    with pytest.raises(ScenarioError) as caught:
        validate(scenario, example)
    assert (caught.value.file, caught.value.line, caught.value.key) == ("", None, "$.link")
    assert str(caught.value) == "$.link: unknown link 'nowhere'"


def test_toml_lines_follow_tables_arrays_and_strings() -> None:
    text = ('name = "x"  # a [ comment\n'
            'description = """two\nkind = "lines" ["""\n'
            'sources = [\n  "a", # [\n  "b",\n]\n'
            '[[steps]]\nat_s = 1\n\n[[steps]]\n"kind" = "link_cut"\n')
    lines = toml_lines(text)
    assert lines == {"$.name": 1, "$.description": 2, "$.sources": 4, "$.sources[0]": 5,
                     "$.sources[1]": 6, "$.steps[0]": 8, "$.steps[0].at_s": 9,
                     "$.steps[1]": 11, "$.steps[1].kind": 12}
    assert line_of(lines, "$.steps[1].link") == 11
    assert line_of(lines, "$.other") is None


def test_yaml_lines_come_from_the_node_marks() -> None:
    lines = yaml_lines("name: x\nsteps:\n  - at_s: 1\n    kind: a\n  - {at_s: 2, kind: b}\n")
    assert lines["$.steps[0].kind"] == 4
    assert lines["$.steps[1]"] == 5
    assert lines["$.steps[1].kind"] == 5


# --- timelines ---------------------------------------------------------------------------


def test_a_link_cut_is_a_down_then_the_original_status(example: State) -> None:
    steps = timeline(load_library(GOOD).get("ams-lon-cut"), example, ts=1000.0)
    assert steps == [
        (0.0, [LinkStatus(source="scenario:ams-lon-cut", seq=1, ts=1000.0, link="ams--lon",
                          up=False)]),
        (600.0, [LinkStatus(source="scenario:ams-lon-cut", seq=2, ts=1600.0, link="ams--lon",
                            up=True)]),
    ]
    down = example.fork()
    down.links["ams--lon"].up = False
    restore = timeline(load_library(GOOD).get("ams-lon-cut"), down)[-1][1]
    assert restore == [LinkStatus(source="scenario:ams-lon-cut", seq=2, ts=600.0,
                                  link="ams--lon", up=False)]


def test_each_kind_compiles_to_the_events_it_names(example: State) -> None:
    library = load_library(GOOD)
    by_name = {s.name: timeline(s, example) for s in library.scenarios}
    router = by_name["lon-down"]
    assert [(t, label(e)) for t, e in router] == [(0.0, "router lon down"),
                                                  (300.0, "router lon up")]
    assert all(isinstance(e, RouterHealth) for _, es in router for e in es)
    duct = by_name["duct-7-cut"]
    assert label(duct[0][1]) == "link fra--ams down; link fra--ams#2 down"
    listed = by_name["listed-duct"]
    assert label(listed[0][1]) == "link ams--lon down; link lon-par down"
    half = by_name["fra-ams-half"]
    assert [(t, e.capacity_bps) for t, es in half for e in es
            if isinstance(e, LinkCapacity)] == [(0.0, 50e9), (1200.0, 100e9)]
    flap = by_name["lon-par-flap"]
    assert [(t, label(e)) for t, e in flap] == [
        (0.0, "link lon-par down"), (15.0, "link lon-par up"),
        (30.0, "link lon-par down"), (45.0, "link lon-par up"),
        (60.0, "link lon-par down"), (75.0, "link lon-par up")]


def test_a_surge_ramps_in_steps_and_restores_the_demands(example: State) -> None:
    steps = timeline(load_library(GOOD).get("ddos-lon"), example)
    assert [t for t, _ in steps] == [15.0, 30.0, 45.0, 60.0, 600.0]
    rates = [{(e.src, e.dst): e.rate_bps for e in es if isinstance(e, DemandSet)}
             for _, es in steps]
    assert rates[0] == {("fra", "lon"): 2.5e9 + 2.5e9, ("ams", "lon"): 2.5e9}
    assert rates[3] == {("fra", "lon"): 2.5e9 + 10e9, ("ams", "lon"): 10e9}
    assert rates[4] == {("fra", "lon"): 2.5e9, ("ams", "lon"): 0.0}  # 0 removes it
    crowd = timeline(load_library(GOOD).get("lon-flash-crowd"), example)
    assert [[(e.src, e.rate_bps) for e in es if isinstance(e, DemandSet)] for _, es in crowd] \
        == [[("fra", 7.5e9)], [("fra", 2.5e9)]]  # only fra sends toward lon


def test_back_to_back_steps_restore_before_they_change(example: State) -> None:
    text = ('name = "b2b"\nkind = "custom"\n'
            '[[steps]]\nat_s = 0\nkind = "link_cut"\nlink = "ams--lon"\nduration_s = 10\n'
            '[[steps]]\nat_s = 10\nkind = "link_cut"\nlink = "ams--lon"\nduration_s = 10\n')
    steps = timeline(parse_text(text, "toml"), example)
    assert [(t, label(e)) for t, e in steps] == [
        (0.0, "link ams--lon down"), (10.0, "link ams--lon up; link ams--lon down"),
        (20.0, "link ams--lon up")]


def test_every_timeline_applies_cleanly_and_restores_the_network(example: State) -> None:
    for scenario in load_library(GOOD).scenarios:
        work = example.fork()
        steps = timeline(scenario, work, first_seq=7)
        events = [e for _, es in steps for e in es]
        assert [e.seq for e in events] == list(range(7, 7 + len(events)))
        assert [t for t, _ in steps] == sorted({t for t, _ in steps})
        _, rejected = apply_valid(work, events)
        assert rejected == [], scenario.name
        assert view_digest(work) == view_digest(example), scenario.name


def test_the_bundled_scenarios_load_against_geant() -> None:
    geant = fold(topohub_topology("sndlib/geant"))
    library = load_library(ROOT / "scenarios", geant)
    assert [str(e) for e in library.errors] == []
    assert {s.kind for s in library.scenarios} == set(KINDS)
    for scenario in library.scenarios:
        assert timeline(scenario, geant)
