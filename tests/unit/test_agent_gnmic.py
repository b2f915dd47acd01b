"""gnmic's Kafka "event" format in: counters to rates to link utilisation deltas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shadowd.agent.gnmic import (
    IN_OCTETS,
    OUT_OCTETS,
    CounterBook,
    GnmicError,
    InterfaceMap,
    overlay,
    parse_events,
)
from shadowd.core.diff import diff
from shadowd.core.events import LinkUtilization
from shadowd.core.state import Link, Router, State


def event(ts_s: float, in_octets: Any, out_octets: Any, iface: str = "Ethernet1") -> dict[str, Any]:
    return {"name": "counters", "timestamp": int(ts_s * 1e9),
            "tags": {"source": "leaf1:57400", "subscription-name": "counters",
                     "interface_name": iface},
            "values": {IN_OCTETS: in_octets, OUT_OCTETS: out_octets}}


def network() -> State:
    return State(routers={n: Router(name=n) for n in ("leaf1", "spine1")},
                 links={"l1": Link(id="l1", a="leaf1", b="spine1", metric=10,
                                   reverse_metric=10, capacity_bps=1e9)})


def test_two_samples_give_rates_and_a_utilisation_delta() -> None:
    book = CounterBook()
    book.feed(parse_events(json.dumps([event(100.0, 1000, "5000")]).encode()))
    assert book.rates() == {}
    book.feed(parse_events(json.dumps([event(110.0, 2250, "17500")]).encode()))
    rates = book.rates()[("leaf1", "Ethernet1")]
    assert (rates.in_bps, rates.out_bps) == (1000.0, 10000.0)
    mapping = [InterfaceMap(link="l1", target="leaf1", interface="Ethernet1", side="a")]
    current = overlay(network(), book.rates(), mapping)
    assert diff(network(), current) == [LinkUtilization(source="", seq=0, ts=0.0, link="l1",
                                                        ab_bps=10000.0, ba_bps=1000.0)]


def test_values_split_over_events_and_b_side_mapping() -> None:
    book = CounterBook()
    for ts, i, o in ((0.0, 0, 0), (8.0, 800, 1600)):
        book.feed(parse_events(json.dumps([
            {"timestamp": int(ts * 1e9), "tags": {"source": "spine1", "interface_name": "e2"},
             "values": {IN_OCTETS: i}},
            {"timestamp": int(ts * 1e9), "tags": {"source": "spine1", "interface_name": "e2"},
             "values": {OUT_OCTETS: o}}]).encode()))
    mapping = [InterfaceMap(link="l1", target="spine1:57400", interface="e2", side="b")]
    link = overlay(network(), book.rates(), mapping).links["l1"]
    assert (link.ab_bps, link.ba_bps) == (800.0, 1600.0)


def test_a_counter_reset_or_a_stale_sample_gives_no_rate() -> None:
    book = CounterBook()
    book.feed(parse_events(json.dumps(event(1.0, 5000, 5000)).encode()))
    book.feed(parse_events(json.dumps(event(2.0, 10, 10)).encode()))
    assert book.rates() == {}
    book.feed(parse_events(json.dumps(event(1.5, 20, 20)).encode()))
    assert book.rates() == {}


def test_garbage_is_a_gnmic_error() -> None:
    with pytest.raises(GnmicError):
        parse_events(b"{not json")
