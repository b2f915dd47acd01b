"""Names are data: a newline or an escape in a router, link, SRLG, peer or source name is
refused at the schema, on every way in, and cannot reach a config file or a terminal."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from shadowd.cli.tables import Column, table
from shadowd.core.checks import validate
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkStatus,
    PeerRemoved,
    RouterAdded,
)
from shadowd.core.fields import NAME_RULE
from shadowd.core.state import fold
from shadowd.core.wire import DeltaBatch, WireError, decode_message
from shadowd.lab.frrconf import render
from shadowd.lab.plan import LabSettings, plan
from shadowd.topology import load_topology
from shadowd.topology.errors import TopologyError

INJECTION = "r1\n interface lo\n  ip address 192.0.2.99/32"
ROUTER = {"type": "router_added", "source": "agent", "seq": 1, "ts": 0.0, "router": "r1"}


def delta(**event: object) -> bytes:
    return msgspec.json.encode({"type": "delta", "source": "agent",
                                "events": [{**ROUTER, **event}]})


@pytest.mark.parametrize(("event", "path"), [
    ({"router": INJECTION}, "$.events[0].router"),
    ({"router": "edge\x1b[31m1"}, "$.events[0].router"),
    ({"router": "r1\u2028r2"}, "$.events[0].router"),
    ({"type": "link_added", "link": "a--b", "a": "a", "b": "b", "metric": 1,
      "capacity_bps": 1e9, "srlgs": ["duct\t7"]}, "$.events[0].srlgs[0]"),
    ({"loopback": "10.0.0.1/32\n!"}, "$.events[0].loopback"),
])
@pytest.mark.adversarial
def test_a_control_character_in_a_name_is_refused_on_the_wire(
    event: dict[str, object], path: str
) -> None:
    with pytest.raises(WireError) as caught:
        decode_message(delta(**event))
    assert caught.value.path == path
    if path != "$.events[0].loopback":
        assert caught.value.reason == NAME_RULE


@pytest.mark.parametrize("event", [
    LinkStatus(source="x", seq=1, ts=0.0, link="a--b\r", up=True),
    PeerRemoved(source="x", seq=1, ts=0.0, peer="isp\na"),
    DemandSet(source="x", seq=1, ts=0.0, src="r1\n", dst="r2", rate_bps=1.0),
])
def test_an_event_that_only_refers_to_such_a_name_is_refused_as_unknown(
    event: AnyEvent,
) -> None:
    """Names enter the shadow only through the *_added events, which the schema checks; a
    reference to any other name is refused by the shadow (no regex on the hot path)."""
    with pytest.raises(InvalidEvent, match="unknown"):
        validate(fold([RouterAdded(source="x", seq=1, ts=0.0, router="r2")]), event)


def test_a_source_name_with_a_newline_is_refused_too() -> None:
    raw = msgspec.json.encode({"type": "delta", "source": "a\nb",
                               "events": [{**ROUTER, "source": "a\nb"}]})
    with pytest.raises(WireError, match="printable characters only"):
        decode_message(raw)


def test_names_from_other_scripts_and_with_spaces_are_names() -> None:
    for name in ("Zürich", "New York", "東京-1", "ae0.100/xe-0/0/1"):
        assert isinstance(decode_message(delta(router=name)), DeltaBatch)


@pytest.mark.adversarial
def test_a_topology_file_with_such_a_name_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"directed": False, "graph": {}, "nodes": [
        {"id": 0, "name": INJECTION}, {"id": 1, "name": "r2"}],
        "edges": [{"source": 0, "target": 1, "capacity": "1G"}]}))
    with pytest.raises(TopologyError, match="printable characters only"):
        load_topology(path)


def _configs(r1: str, link: str) -> list[str]:
    state = fold([RouterAdded(source="x", seq=1, ts=0.0, router=r1),
                  RouterAdded(source="x", seq=2, ts=0.0, router="r2"),
                  LinkAdded(source="x", seq=3, ts=0.0, link=link, a=r1, b="r2", metric=1,
                            capacity_bps=1e9)])
    settings = LabSettings(lab_id="t")
    lab = plan(state, settings)
    return [render(lab, router, settings) for router in (r1, "r2")]


@pytest.mark.adversarial
def test_the_frr_config_cannot_be_injected_even_past_the_schema() -> None:
    """Events built in code skip the schema: the renderer holds the line anyway."""
    injected = _configs(INJECTION, "l\nip address 192.0.2.98/32")
    plain = _configs("r1", "l")
    for mine, theirs in zip(injected, plain, strict=True):
        assert len(mine.splitlines()) == len(theirs.splitlines())
        assert not [ln for ln in mine.splitlines() if "ip address 192.0.2.9" in ln.lstrip()[:20]]


@pytest.mark.adversarial
def test_a_terminal_table_shows_control_characters_escaped() -> None:
    out = table([Column("ROUTER"), Column("STATE")], [["r1\nr9  up", "up"]])
    assert out.splitlines()[1] == "r1\\nr9  up  up"
