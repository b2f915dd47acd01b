"""Incremental == full recompute, over random event sequences (hypothesis)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
)
from shadowd.core.state import State, apply
from shadowd.engine.incremental import Engine
from shadowd.engine.schemes import MetricOptions
from tests.fakes.engine import SOURCE, L, build

ROUTERS = [f"r{i}" for i in range(7)]
Draw = Callable[..., Any]


class Common(TypedDict):
    source: str
    seq: int
    ts: float


def base_state() -> State:
    links = [
        L("l0", "r0", "r1"), L("l1", "r1", "r2"), L("l2", "r2", "r3"), L("l3", "r3", "r0"),
        L("l4", "r0", "r2", 2), L("l5", "r1", "r3", 2), L("l6", "r3", "r4"),
        L("l7", "r4", "r5"), L("l8", "r5", "r0", 3), L("l9", "r4", "r5"),  # parallel to l7
        L("l10", "r2", "r5", 2, reverse=4), L("l11", "r5", "r6"),
    ]
    demands = [(a, b, float(1 + (i * 7 + j * 3) % 11)) for i, a in enumerate(ROUTERS)
               for j, b in enumerate(ROUTERS) if a != b and (i + j) % 3 != 1]
    return build(links, demands, routers=ROUTERS)


def _link_event(draw: Draw, state: State, common: Common) -> AnyEvent:
    link = draw(st.sampled_from(sorted(state.links)))
    kind = draw(st.sampled_from(["status", "status", "metric", "capacity", "remove"]))
    if kind == "status":
        return LinkStatus(**common, link=link, up=draw(st.booleans()))
    if kind == "metric":
        rev = draw(st.none() | st.integers(1, 4))
        return LinkMetric(**common, link=link, metric=draw(st.integers(1, 4)), reverse_metric=rev)
    if kind == "capacity":
        cap = draw(st.sampled_from([10.0, 40.0, 100.0]))
        return LinkCapacity(**common, link=link, capacity_bps=cap)
    return LinkRemoved(**common, link=link)


def _add_link(draw: Draw, state: State, common: Common) -> AnyEvent:
    a, b = draw(st.lists(st.sampled_from(sorted(state.routers)), min_size=2, max_size=2,
                         unique=True))
    link = draw(st.sampled_from([*sorted(state.links), "x1", "x2", "x3"]))
    old = state.links.get(link)
    if old is not None:  # re-added: same ends, maybe named the other way round
        a, b = (old.a, old.b) if draw(st.booleans()) else (old.b, old.a)
    metric = draw(st.integers(1, 4))
    return LinkAdded(**common, link=link, a=a, b=b, metric=metric, capacity_bps=100.0)


def _router_event(draw: Draw, state: State, common: Common) -> AnyEvent:
    routers = sorted(state.routers)
    kind = draw(st.sampled_from(["health", "health", "health", "add", "remove"]))
    if kind == "remove" and len(routers) > 3:
        return RouterRemoved(**common, router=draw(st.sampled_from(routers)))
    if kind == "add":
        return RouterAdded(**common, router=draw(st.sampled_from([*ROUTERS, "n1", "n2"])))
    return RouterHealth(**common, router=draw(st.sampled_from(routers)), up=draw(st.booleans()))


def _demand(draw: Draw, state: State, common: Common) -> AnyEvent:
    src, dst = draw(st.lists(st.sampled_from(sorted(state.routers)), min_size=2, max_size=2,
                             unique=True))
    rate = draw(st.sampled_from([0.0, 2.0, 5.5]))
    return DemandSet(**common, src=src, dst=dst, rate_bps=rate)


def events(draw: Draw, state: State, seq: int) -> AnyEvent:
    """A random event that validates against ``state``."""
    common = Common(source=SOURCE, seq=seq, ts=0.0)
    choices = [_router_event, _demand, _demand]
    if len(state.routers) >= 2:
        choices.append(_add_link)
    if state.links:
        choices += [_link_event, _link_event, _link_event]
    make: Callable[[Draw, State, Common], AnyEvent] = draw(st.sampled_from(choices))
    return make(draw, state, common)


def table(engine: Engine, router: str) -> dict[str, list[tuple[str, str]]]:
    return {
        d: sorted((h.link, h.neighbor) for h in hs) for d, hs in engine.routes(router).items()
    }


def assert_same(engine: Engine) -> None:
    full = Engine(engine.state, engine.options)
    total = float(engine.routing.demand.sum()) or 1.0
    got = {(x.link, x.src, x.dst): x for x in engine.loads()}
    want = {(x.link, x.src, x.dst): x for x in full.loads()}
    assert got.keys() == want.keys()
    for key, w in want.items():
        assert math.isclose(got[key].load, w.load, rel_tol=1e-9, abs_tol=1e-9 * total), key
        assert got[key].capacity == w.capacity
    for router in engine.state.routers:
        assert table(engine, router) == table(full, router), router
        assert sorted(engine.unreachable(router)) == sorted(full.unreachable(router))
    order = [engine.net.index[r] for r in full.net.routers]
    assert np.array_equal(engine.routing.dist[np.ix_(order, order)], full.routing.dist)
    assert np.allclose(engine.routing.demand[np.ix_(order, order)], full.routing.demand)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scheme=st.sampled_from(["igp", "inverse-capacity", "hop"]))
def test_incremental_equals_full_recompute(data: st.DataObject, scheme: str) -> None:
    engine = Engine(base_state(), MetricOptions(scheme=scheme, reference_bps=400.0))  # type: ignore[arg-type]
    for seq in range(1000, 1000 + data.draw(st.integers(1, 25))):
        engine.absorb(events(data.draw, engine.state, seq))
        assert_same(engine)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_absorbing_a_batch_equals_full_recompute(data: st.DataObject) -> None:
    """``absorb_all`` pushes each run of demand sets at once (a pair set twice in a run:
    the last wins) and must still equal the engine built from scratch."""
    engine = Engine(base_state())
    scratch = engine.state.fork()  # where the batch is drawn, each event valid in turn
    batch = []
    for seq in range(1000, 1000 + data.draw(st.integers(1, 30))):
        event = events(data.draw, scratch, seq)
        apply(scratch, event)
        batch.append(event)
    engine.absorb_all(batch)
    assert engine.state.lsn == scratch.lsn
    assert_same(engine)


def test_changed_lsn_moves_only_with_routes_or_loads() -> None:
    engine = Engine(base_state())
    start = engine.changed_lsn
    engine.absorb(LinkUtilization(source=SOURCE, seq=1000, ts=0.0, link="l1", ab_bps=1.0,
                                  ba_bps=2.0))
    assert engine.changed_lsn == start  # counters route nothing
    engine.absorb_all([DemandSet(source=SOURCE, seq=1001, ts=0.0, src="r0", dst="r3",
                                 rate_bps=5.0)])
    assert engine.changed_lsn == engine.state.lsn == start + 2


def test_down_then_up_restores_exactly() -> None:
    engine = Engine(base_state())
    before = {(x.link, x.src, x.dst): x.load for x in engine.loads()}
    engine.absorb(LinkStatus(source=SOURCE, seq=1000, ts=0.0, link="l2", up=False))
    engine.absorb(LinkStatus(source=SOURCE, seq=1001, ts=0.0, link="l2", up=True))
    after = {(x.link, x.src, x.dst): x.load for x in engine.loads()}
    assert after.keys() == before.keys()
    for key, load in before.items():
        assert math.isclose(after[key], load, rel_tol=1e-12, abs_tol=1e-9)


def test_capacity_change_touches_no_route() -> None:
    engine = Engine(base_state())
    event = LinkCapacity(source=SOURCE, seq=1000, ts=0.0, link="l1", capacity_bps=7.0)
    impact = engine.absorb(event)
    assert impact.how == "loads"
    assert engine.net.capacity[engine.net.edges_of_link("l1")].tolist() == [7.0, 7.0]
