"""The agent's diff: folding ``diff(a, b)`` onto ``a`` gives ``b``'s view, in an order that
validates, and says nothing when nothing changed."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowd.agent.core import stamp
from shadowd.agent.view import view_of
from shadowd.core.checks import validate
from shadowd.core.diff import Deadband, diff, snapshot_events
from shadowd.core.events import AnyEvent, LinkStatus, LinkUtilization
from shadowd.core.state import Link, Router, State, apply

ROUTERS = [f"r{i}" for i in range(6)]
LINKS = [f"l{i}" for i in range(7)]
rates = st.sampled_from([0.0, 1.0, 2.5e6, 7e8, 1e9])


@st.composite
def states(draw: st.DrawFn) -> State:
    names = draw(st.lists(st.sampled_from(ROUTERS), unique=True, max_size=len(ROUTERS)))
    routers = {n: Router(name=n, up=draw(st.booleans()),
                         cpu_pct=draw(st.sampled_from([0.0, 5.0, 99.5])),
                         mem_pct=draw(st.sampled_from([0.0, 40.0])),
                         pos=draw(st.sampled_from([None, (1.0, 2.0), (3.5, -4.0)])),
                         loopback=draw(st.sampled_from([None, "10.0.0.1", "10.0.0.2"])))
               for n in names}
    links: dict[str, Link] = {}
    demands: dict[str, dict[str, float]] = {}
    if len(names) >= 2:
        ends = st.lists(st.sampled_from(names), min_size=2, max_size=2, unique=True)
        for link_id in draw(st.lists(st.sampled_from(LINKS), unique=True)):
            a, b = draw(ends)
            links[link_id] = Link(
                id=link_id, a=a, b=b, metric=draw(st.integers(1, 3)),
                reverse_metric=draw(st.integers(1, 3)),
                capacity_bps=draw(st.sampled_from([1e9, 1e10])),
                delay_ms=draw(st.sampled_from([0.0, 2.5])),
                srlgs=draw(st.sampled_from([(), ("duct-1",)])), up=draw(st.booleans()),
                ab_bps=draw(rates), ba_bps=draw(rates), drops=draw(st.integers(0, 2)),
                errors=draw(st.integers(0, 1)))
        for src, dst in draw(st.lists(ends, max_size=8)):
            demands.setdefault(src, {})[dst] = draw(st.sampled_from([1.0, 3e6, 5e8]))
    return State(routers=routers, links=links, demands=demands)


def view(state: State) -> Any:
    return msgspec.to_builtins(view_of(state))


def fold_checked(events: list[AnyEvent], state: State) -> State:
    for event in stamp(events, "agent", 1, 0.0):
        validate(state, event)
        apply(state, event)
    return state


@settings(max_examples=200, deadline=None)
@given(states(), states())
def test_folding_the_diff_onto_a_gives_b(a: State, b: State) -> None:
    events = diff(a, b)
    assert view(fold_checked(events, a.fork())) == view(b)


@settings(max_examples=100, deadline=None)
@given(states())
def test_nothing_changed_says_nothing(a: State) -> None:
    assert diff(a, a) == []
    assert diff(a, a.fork(), Deadband(util=0.1, demand=0.1)) == []


@settings(max_examples=100, deadline=None)
@given(states())
def test_snapshot_events_rebuild_the_view_from_nothing(a: State) -> None:
    assert view(fold_checked(snapshot_events(a), State())) == view(a)


def two_routers(**link: Any) -> State:
    routers = {n: Router(name=n) for n in ("a", "b")}
    fields: dict[str, Any] = {"id": "ab", "a": "a", "b": "b", "metric": 10,
                              "reverse_metric": 10, "capacity_bps": 1e9} | link
    return State(routers=routers, links={"ab": Link(**fields)})


def test_a_link_going_down_is_one_status_event() -> None:
    assert diff(two_routers(), two_routers(up=False)) == [
        LinkStatus(source="", seq=0, ts=0.0, link="ab", up=False)]


def test_deadband_holds_small_moves_back_until_they_add_up() -> None:
    band = Deadband(util=0.05)
    sent = two_routers(ab_bps=100.0, ba_bps=100.0)
    assert diff(sent, two_routers(ab_bps=104.0, ba_bps=100.0), band) == []
    assert diff(sent, two_routers(ab_bps=106.0, ba_bps=100.0), band) == [
        LinkUtilization(source="", seq=0, ts=0.0, link="ab", ab_bps=106.0, ba_bps=100.0)]
    assert len(diff(sent, two_routers(ab_bps=100.0, ba_bps=100.0, drops=1), band)) == 1
    assert len(diff(sent, two_routers(ab_bps=0.0, ba_bps=100.0), band)) == 1
