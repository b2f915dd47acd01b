"""Every import format on a small hand-written sample: what comes out, and that it folds."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowd.core.events import AnyEvent, DemandSet, LinkAdded, RouterAdded
from shadowd.core.state import State, fold
from shadowd.topology import FORMATS, detect_format, load_topology

DATA = Path(__file__).resolve().parents[1] / "data" / "topologies"


def _load(name: str, **options: object) -> tuple[list[AnyEvent], State]:
    events = load_topology(DATA / name, **options)  # type: ignore[arg-type]
    return events, fold(events)


@pytest.mark.parametrize(
    "name", ["example.toml", "example.yaml", "tiny.json", "tiny-sndlib.txt", "tiny.graphml",
             "lab.clab.yml"])
def test_every_sample_folds_with_seq_1_to_n(name: str) -> None:
    events, state = _load(name, source="lab-import", ts=5.0)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.source for e in events} == {"lab-import"}
    assert {e.ts for e in events} == {5.0}
    assert state.sources["lab-import"].seq == len(events)
    kinds = [type(e) for e in events]
    assert kinds == sorted(kinds, key=[RouterAdded, LinkAdded, DemandSet].index)


def test_own_format_toml_and_yaml_are_the_same_topology() -> None:
    assert _load("example.toml")[0] == _load("example.yaml")[0]


def test_own_format_reads_every_field() -> None:
    _, state = _load("example.toml")
    assert state.routers["fra"].pos == (8.68, 50.11)
    assert state.routers["fra"].loopback == "10.0.0.1"
    first, second = state.links["fra--ams"], state.links["fra--ams#2"]
    assert (first.metric, first.reverse_metric, first.capacity_bps) == (10, 12, 100e9)
    assert (second.metric, second.capacity_bps) == (10, 40e9)  # metric from [defaults]
    assert first.srlgs == ("duct-7",)
    assert first.delay_ms == pytest.approx(1.82, abs=0.01)  # ~364 km great circle
    assert state.links["ams--lon"].delay_ms == 4.0
    assert state.links["ams--lon"].capacity_bps == 10e9  # capacity from [defaults]
    assert state.links["ams--lon"].srlgs == ("channel",)  # member via [[srlgs]]
    assert state.links["lon-par"].capacity_bps == 100e6
    assert state.links["lon-par"].delay_ms == 0.0  # par has no position
    assert state.demands == {"fra": {"lon": 2.5e9}, "lon": {"fra": 1e9}, "par": {"ams": 100e6}}


def test_node_link_names_units_and_attributes() -> None:
    _, state = _load("tiny.json")
    # "Munich" is not unique, so both Munich nodes are named by their ids.
    assert set(state.routers) == {"Berlin", "Hamburg", "2", "3"}
    assert state.routers["Berlin"].pos == (13.40, 52.52)
    main, parallel = state.links["Berlin--Hamburg"], state.links["Berlin--Hamburg#2"]
    assert (main.metric, main.capacity_bps) == (5, 40e9)
    assert main.delay_ms == pytest.approx(255.0 * 0.005)  # dist km, fibre
    assert (parallel.metric, parallel.capacity_bps, parallel.srlgs) == (1, 10e9, ("a7",))
    assert state.links["Berlin--2"].capacity_bps == 1e10  # "bandwidth"
    assert state.links["Berlin--2"].delay_ms == 3.0
    assert state.links["2--3"].metric == 2  # "igp_metric"
    assert state.demands == {"Berlin": {"Hamburg": 120e6, "2": 30.5e6}, "2": {"Berlin": 7e6}}


def test_node_link_demand_unit_and_default_capacity_are_options() -> None:
    _, state = _load("tiny.json", demand_unit_bps=1e3, default_capacity_bps=1e9)
    assert state.demands["Berlin"]["Hamburg"] == 120e3
    assert state.links["Berlin--Hamburg#2"].capacity_bps == 1e9


def test_sndlib_native_capacity_demands_and_positions() -> None:
    _, state = _load("tiny-sndlib.txt")
    assert list(state.routers) == ["Berlin", "Hamburg", "Frankfurt"]
    assert state.routers["Hamburg"].pos == (9.99, 53.55)
    assert state.links["Berlin--Hamburg"].capacity_bps == 9920e6  # largest module
    assert state.links["Hamburg--Frankfurt"].capacity_bps == 1000e6  # pre-installed
    assert state.links["Frankfurt--Berlin"].capacity_bps == 10e9  # none: the default
    assert state.links["Berlin--Hamburg#2"].capacity_bps == 622e6  # parallel link
    assert state.links["Berlin--Hamburg"].delay_ms == pytest.approx(1.276, abs=0.01)
    # D1 + D4 add up; D3 has routing unit 2.
    assert state.demands == {"Berlin": {"Frankfurt": 50e6}, "Frankfurt": {"Berlin": 10.5e6},
                             "Hamburg": {"Berlin": 10e6}}


def test_graphml_topology_zoo_labels_and_link_speed() -> None:
    _, state = _load("tiny.graphml")
    assert set(state.routers) == {"NL", "BE", "Peer"}
    assert state.routers["Peer"].pos is None
    assert state.links["NL--BE"].capacity_bps == 10e9  # LinkSpeedRaw
    assert state.links["BE--Peer"].capacity_bps == 10e9  # none: the default
    assert state.links["NL--BE"].delay_ms == pytest.approx(0.87, abs=0.01)


def test_graphml_directed_edges_pair_into_one_link(tmp_path: Path) -> None:
    path = tmp_path / "d.graphml"
    path.write_text(
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">'
        '<key id="w" for="edge" attr.name="weight" attr.type="int"/>'
        '<graph edgedefault="directed"><node id="a"/><node id="b"/>'
        '<edge source="a" target="b"><data key="w">5</data></edge>'
        '<edge source="b" target="a"><data key="w">7</data></edge></graph></graphml>')
    state = fold(load_topology(path))
    assert list(state.links) == ["a--b"]
    assert (state.links["a--b"].metric, state.links["a--b"].reverse_metric) == (5, 7)


def test_containerlab_brief_and_extended_links_and_vars() -> None:
    _, state = _load("lab.clab.yml")
    assert set(state.routers) == {"r1", "r2", "r3"}  # the bridge is not a router
    assert set(state.links) == {"r1--r2", "r2--r3", "r1--r3"}  # host/bridge/macvlan left out
    r1r2, r2r3 = state.links["r1--r2"], state.links["r2--r3"]
    assert (r1r2.metric, r1r2.capacity_bps, r1r2.srlgs) == (10, 1e9, ("duct-1",))
    assert (r2r3.metric, r2r3.reverse_metric, r2r3.delay_ms) == (20, 30, 1.5)
    assert state.links["r1--r3"].metric == 1


def test_demands_file_replaces_the_topologys_demands() -> None:
    _, state = _load("tiny.json", demands=DATA / "demands.csv")
    # "1" is Hamburg's id, "0" Berlin's; a duplicated "Munich" is known only by id "2".
    assert state.demands == {"Berlin": {"Hamburg": 10e6}, "Hamburg": {"Berlin": 2.5e9},
                             "2": {"Berlin": 1000.0}}


def test_demands_file_may_use_names_and_ids_in_json() -> None:
    events, state = _load("tiny.json", demands=DATA / "demands.json")
    assert state.demands == {"Berlin": {"Hamburg": 10e6, "2": 5.0}, "Hamburg": {"Berlin": 2.5e9}}
    assert sum(isinstance(e, DemandSet) for e in events) == 3


@pytest.mark.parametrize(("name", "expected"), [
    ("a.json", "nodelink"), ("a.txt", "sndlib"), ("a.sndlib", "sndlib"),
    ("a.graphml", "graphml"), ("a.clab.yml", "clab"), ("A.CLAB.YAML", "clab"),
    ("a.toml", "toml"), ("a.yaml", "yaml"), ("a.yml", "yaml"),
])
def test_format_by_file_name(name: str, expected: str) -> None:
    assert detect_format(Path(name), "") == expected


@pytest.mark.parametrize("sample", ["tiny-sndlib.txt", "tiny.graphml", "tiny.json",
                                    "example.toml", "example.yaml", "lab.clab.yml"])
def test_format_by_content_when_the_name_says_nothing(tmp_path: Path, sample: str) -> None:
    path = tmp_path / "topology.dat"
    path.write_bytes((DATA / sample).read_bytes())
    assert load_topology(path) == load_topology(DATA / sample)


def test_format_override(tmp_path: Path) -> None:
    path = tmp_path / "network.txt"  # .txt would mean SNDlib
    path.write_bytes((DATA / "example.toml").read_bytes())
    assert load_topology(path, format="toml") == load_topology(DATA / "example.toml")


def test_formats_are_listed() -> None:
    assert set(FORMATS) == {"nodelink", "sndlib", "graphml", "clab", "toml", "yaml"}
