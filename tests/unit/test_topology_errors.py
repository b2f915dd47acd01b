"""Bad input gets one clear TopologyError naming the file and the item; nothing is returned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowd.topology import TopologyError, load_topology

NODELINK = {"nodes": [{"id": 0, "name": "a"}, {"id": 1, "name": "b"}],
            "edges": [{"source": 0, "target": 1}], "graph": {"demands": {"0": {"1": 1.0}}}}
SNDLIB = """?SNDlib native format; type: network; version: 1.0
NODES (
  a ( 1.0 2.0 )
  b ( 3.0 4.0 )
)
LINKS (
  L1 ( a b ) 0.00 0.00 0.00 0.00 ( 40.00 1.00 )
)
DEMANDS (
  D1 ( a b ) 1 5.00 UNLIMITED
)
"""
GRAPHML = """<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="d0" for="node" attr.name="label" attr.type="string"/>
<key id="d1" for="edge" attr.name="weight" attr.type="int"/>
<graph edgedefault="undirected">
<node id="0"><data key="d0">a</data></node>
<node id="1"><data key="d0">b</data></node>
<edge source="0" target="1"><data key="d1">3</data></edge>
</graph></graphml>
"""
CLAB = """name: t
topology:
  nodes:
    a: {kind: linux}
    b: {kind: linux}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
      vars: {metric: 3}
"""
TOML = """[[routers]]
name = "a"
[[routers]]
name = "b"
[[links]]
a = "a"
b = "b"
metric = 3
[[demands]]
src = "a"
dst = "b"
rate = "1G"
"""
YAML = """routers: [{name: a}, {name: b}]
links: [{a: a, b: b, metric: 3}]
demands: [{src: a, dst: b, rate: 1G}]
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _fails(path: Path, *fragments: str, **options: object) -> TopologyError:
    """Import must raise, naming the file and every fragment; nothing comes back."""
    with pytest.raises(TopologyError) as caught:
        load_topology(path, **options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert caught.value.file in {str(path), str(options.get("demands"))}
    for fragment in (caught.value.file, *fragments):
        assert fragment in message, message
    return caught.value


def _nodelink(**changes: object) -> str:
    return json.dumps(NODELINK | changes)


def test_the_good_samples_import(tmp_path: Path) -> None:
    """The bad cases below are each one edit away from these."""
    for name, text in [("t.json", _nodelink()), ("t.txt", SNDLIB), ("t.graphml", GRAPHML),
                       ("t.clab.yml", CLAB), ("t.toml", TOML), ("t.yaml", YAML)]:
        assert load_topology(_write(tmp_path, name, text))


# --- a dangling link ----------------------------------------------------------------

@pytest.mark.parametrize(("name", "text", "item"), [
    ("t.json", _nodelink(edges=[{"source": 0, "target": 9}]), "link 'a--9' (edges[0])"),
    ("t.txt", SNDLIB.replace("( a b ) 0.00", "( a z ) 0.00"), "link 'a--z' (line 7)"),
    ("t.graphml", GRAPHML.replace('target="1"', 'target="7"'), "link 'a--7' (edge #1)"),
    ("t.clab.yml", CLAB.replace('"b:eth1"', '"c:eth1"'), "link 'a--c' ($.topology.links[0])"),
    ("t.toml", TOML.replace('b = "b"', 'b = "c"'), "link 'a--c' ($.links[0])"),
    ("t.yaml", YAML.replace("b: b", "b: c"), "link 'a--c' ($.links[0])"),
])
def test_dangling_link(tmp_path: Path, name: str, text: str, item: str) -> None:
    err = _fails(_write(tmp_path, name, text), item, "not a declared node")
    assert item in err.item


# --- a negative (or zero, or fractional) metric ----------------------------------------

@pytest.mark.parametrize(("name", "text", "item"), [
    ("t.json", _nodelink(edges=[{"source": 0, "target": 1, "weight": -1}]),
     "link 0--1 (edges[0])"),
    ("t.graphml", GRAPHML.replace(">3</data>", ">-3</data>"), "link 0--1 (edge #1)"),
    ("t.clab.yml", CLAB.replace("metric: 3", "metric: -3"), "link a--b ($.topology.links[0])"),
    ("t.toml", TOML.replace("metric = 3", "metric = -3"), "link a--b ($.links[0])"),
    ("t.yaml", YAML.replace("metric: 3", "metric: 0"), "link a--b ($.links[0])"),
])
def test_negative_or_zero_metric(tmp_path: Path, name: str, text: str, item: str) -> None:
    _fails(_write(tmp_path, name, text), item, "metric", "must be between 1 and")


def test_fractional_metric(tmp_path: Path) -> None:
    text = _nodelink(edges=[{"source": 0, "target": 1, "metric": 2.5}])
    _fails(_write(tmp_path, "t.json", text), "link 0--1 (edges[0])", "not a whole number")


def test_negative_reverse_metric(tmp_path: Path) -> None:
    text = TOML.replace("metric = 3", "metric = 3\nreverse_metric = -1")
    _fails(_write(tmp_path, "t.toml", text), "link a--b", "reverse_metric -1")


# --- a demand to an unknown node ------------------------------------------------------

@pytest.mark.parametrize(("name", "text", "item"), [
    ("t.json", _nodelink(graph={"demands": {"0": {"5": 1.0}}}), "demand 0->5 (graph.demands)"),
    ("t.txt", SNDLIB.replace("D1 ( a b )", "D1 ( a q )"), "demand a->q (line 10)"),
    ("t.toml", TOML.replace('dst = "b"', 'dst = "q"'), "demand a->q ($.demands[0])"),
    ("t.yaml", YAML.replace("dst: b", "dst: q"), "demand a->q ($.demands[0])"),
])
def test_demand_to_unknown_node(tmp_path: Path, name: str, text: str, item: str) -> None:
    _fails(_write(tmp_path, name, text), item, "not a declared node")


@pytest.mark.parametrize(("name", "text", "item"), [
    ("d.csv", "a,b,1G\nb,zz,2G\n", "demand b->zz (line 2)"),
    ("d.json", '{"a": {"zz": 5}}', "demand a->zz (['a']['zz'])"),
    ("d.json", '[{"src": "zz", "dst": "a", "rate": 5}]', "demand zz->a ([0])"),
])
def test_demands_file_with_unknown_node(tmp_path: Path, name: str, text: str, item: str) -> None:
    demands = _write(tmp_path, name, text)
    _fails(_write(tmp_path, "t.toml", TOML), item, "unknown node 'zz'", demands=demands)


# --- malformed files -----------------------------------------------------------------

@pytest.mark.parametrize(("name", "text", "fragments"), [
    ("t.json", '{"nodes": [', ("line 1", "not valid JSON")),
    ("t.json", '{"edges": []}', ("$", "no 'nodes' list")),
    ("t.json", '{"nodes": [{"name": "a"}]}', ("nodes[0]", "needs an 'id'")),
    ("t.txt", SNDLIB.replace("( 40.00 1.00 )", "( 40.00 1.00"), ("line 7", "LINKS")),
    ("t.txt", SNDLIB.replace("  b ( 3.0 4.0 )", "  b ( east 4.0 )"), ("line 4", "longitude")),
    ("t.txt", SNDLIB.replace("DEMANDS (", "DEMANDZ ("), ("line 9", "expected a section")),
    ("t.txt", SNDLIB.rstrip().removesuffix(")"), ("end of file", "never closed")),
    ("t.txt", SNDLIB.replace("( 40.00 1.00 )", "( 40.00 )"), ("line 7", "pairs")),
    ("t.graphml", GRAPHML.replace("</graph>", ""), ("line 8", "not well-formed XML")),
    ("t.graphml", "<graph/>", ("file", "not a GraphML document")),
    ("t.graphml", GRAPHML.replace(">3</data>", ">three</data>"), ("edge #1", "not of type int")),
    ("t.clab.yml", "name: t\ntopology: [", ("line", "not valid YAML")),
    ("t.clab.yml", "name: t\n", ("$.topology", "not a containerlab file")),
    ("t.clab.yml", CLAB.replace('"b:eth1"]', '"b:eth1", "a:eth3"]'),
     ("$.topology.links[0]", "exactly two")),
    ("t.clab.yml", CLAB.replace('"b:eth1"', '"b"'), ("endpoints[1]", "node:interface")),
    ("t.toml", "[[routers]\nname = 1", ("file", "not valid TOML")),
    ("t.toml", '[[routers]]\nname = 1', ("$.routers[0].name", "Expected `str`")),
    ("t.yaml", "routers: [", ("file", "not valid YAML")),
    ("t.yaml", "routers: {a: 1}", ("$.routers", "Expected `array`")),
    ("t.toml", TOML.replace('rate = "1G"', 'rate = "fast"'), ("demand a->b", "not a rate")),
    ("t.toml", TOML.replace("metric = 3", 'capacity = "-5G"'), ("link a--b", "capacity")),
])
def test_malformed_file(tmp_path: Path, name: str, text: str, fragments: tuple[str, ...]) -> None:
    _fails(_write(tmp_path, name, text), *fragments)


@pytest.mark.parametrize(("name", "text", "fragments"), [
    ("d.csv", "a,b\n", ("line 1", "expected 'src,dst,rate'")),
    ("d.csv", "a,b,lots\n", ("line 1", "not a rate")),
    ("d.csv", "a,a,1\n", ("line 1", "to itself")),
    ("d.json", "{", ("line 1", "not valid JSON")),
    ("d.json", '[{"src": "a", "dst": "b"}]', ("[0]", "missing required field `rate`")),
    ("d.json", '{"a": 5}', ("['a']", "must map destination")),
])
def test_malformed_demands_file(tmp_path: Path, name: str, text: str,
                                fragments: tuple[str, ...]) -> None:
    demands = _write(tmp_path, name, text)
    _fails(_write(tmp_path, "t.toml", TOML), *fragments, demands=demands)


def test_unreadable_file(tmp_path: Path) -> None:
    _fails(tmp_path / "missing.toml", "cannot read")


def test_unknown_format(tmp_path: Path) -> None:
    _fails(_write(tmp_path, "t.toml", TOML), "format", "unknown format 'gml'", format="gml")


# --- our own format: strict schema -----------------------------------------------------

@pytest.mark.parametrize(("name", "text", "fragments"), [
    ("t.toml", TOML.replace("metric = 3", "metric = 3\ncolour = 'red'"),
     ("$.links[0]", "unknown field `colour`")),
    ("t.yaml", YAML.replace("metric: 3", "metric: 3, colour: red"),
     ("$.links[0]", "unknown field `colour`")),
    ("t.toml", "version = 2\n" + TOML, ("$", "unknown field `version`")),
    ("t.yaml", YAML + "defaults: {mtu: 9000}\n", ("$.defaults", "unknown field `mtu`")),
])
def test_unknown_key_in_own_format(tmp_path: Path, name: str, text: str,
                                   fragments: tuple[str, ...]) -> None:
    _fails(_write(tmp_path, name, text), *fragments)


def test_undeclared_srlg(tmp_path: Path) -> None:
    text = TOML.replace("metric = 3", 'metric = 3\nsrlgs = ["duct"]') + '[[srlgs]]\nname = "x"\n'
    _fails(_write(tmp_path, "t.toml", text), "link 'a--b' ($.links[0])", "SRLG 'duct'")


def test_srlg_member_must_be_a_link(tmp_path: Path) -> None:
    text = TOML + '[[srlgs]]\nname = "x"\nlinks = ["a--z"]\n'
    _fails(_write(tmp_path, "t.toml", text), "$.srlgs[0].links[0]", "no link has id 'a--z'")


# --- the fold's own checks, surfaced with the item -------------------------------------

def test_duplicate_router(tmp_path: Path) -> None:
    _fails(_write(tmp_path, "t.yaml", YAML.replace("{name: b}", "{name: a}")),
           "node 'a' ($.routers[1])", "declared twice")


def test_link_looping_on_one_router(tmp_path: Path) -> None:
    _fails(_write(tmp_path, "t.yaml", YAML.replace("b: b", "b: a")),
           "link 'a--a' ($.links[0])", "loops on router 'a'")


def test_demand_to_itself(tmp_path: Path) -> None:
    _fails(_write(tmp_path, "t.yaml", YAML.replace("dst: b", "dst: a")),
           "demand a->a ($.demands[0])", "to itself")


def test_router_name_too_long(tmp_path: Path) -> None:
    text = _nodelink(nodes=[{"id": 0, "name": "x" * 65}, {"id": 1}], edges=[], graph={})
    _fails(_write(tmp_path, "t.json", text), "node '0' (nodes[0])", "router", "length <= 64")


@pytest.mark.parametrize("second", ["{id: l1, a: b, b: c}", "{id: l1, a: a, b: b}"])
def test_duplicate_explicit_link_ids(tmp_path: Path, second: str) -> None:
    text = ("routers: [{name: a}, {name: b}, {name: c}]\n"
            f"links: [{{id: l1, a: a, b: b}}, {second}]\n")
    _fails(_write(tmp_path, "t.yaml", text), "link 'l1' ($.links[1])", "already used",
           "$.links[0]")


def test_duplicate_demand_pair(tmp_path: Path) -> None:
    text = YAML.replace("rate: 1G}]", "rate: 1G}, {src: a, dst: b, rate: 2G}]")
    _fails(_write(tmp_path, "t.yaml", text), "demand a->b ($.demands[1])", "given twice",
           "$.demands[0]")


def test_duplicate_demand_pair_in_demands_file(tmp_path: Path) -> None:
    demands = _write(tmp_path, "d.csv", "a,b,1\nb,a,1\na,b,2\n")
    _fails(_write(tmp_path, "t.toml", TOML), "demand a->b (line 3)",
           "given twice (first at line 1)", demands=demands)


def test_position_off_the_globe(tmp_path: Path) -> None:
    text = YAML.replace("{name: a}", "{name: a, pos: [13.4, 152.5]}")
    _fails(_write(tmp_path, "t.yaml", text), "$.routers[0].pos[1]", "<= 90.0")
