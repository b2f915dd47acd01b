"""Hand-computed routing cases: ECMP diamonds, parallel links, islands, asymmetric metrics."""

from __future__ import annotations

import pytest

from shadowd.core.events import LinkStatus, RouterHealth
from shadowd.engine.incremental import Engine
from shadowd.engine.schemes import MetricOptions
from tests.fakes.engine import SOURCE, L, build


def loads(engine: Engine) -> dict[tuple[str, str, str], float]:
    return {(x.link, x.src, x.dst): x.load for x in engine.loads() if x.load}


def hops(engine: Engine, router: str, dest: str) -> list[tuple[str, str]]:
    return sorted((h.link, h.neighbor) for h in engine.routes(router).get(dest, []))


def test_ecmp_diamond_splits_evenly() -> None:
    engine = Engine(
        build([L("ab", "A", "B"), L("ac", "A", "C"), L("bd", "B", "D"), L("cd", "C", "D")],
              [("A", "D", 10.0)])
    )
    assert hops(engine, "A", "D") == [("ab", "B"), ("ac", "C")]
    assert loads(engine) == {
        ("ab", "A", "B"): 5.0, ("ac", "A", "C"): 5.0, ("bd", "B", "D"): 5.0, ("cd", "C", "D"): 5.0,
    }


def test_split_is_per_hop_not_per_path() -> None:
    # A splits over B and C; B splits again over D and E. Three equal-cost paths, but
    # per-hop hashing gives 6/6 at A and 3/3 at B, not 4/4/4.
    engine = Engine(
        build(
            [L("ab", "A", "B"), L("ac", "A", "C"), L("bd", "B", "D", 2), L("be", "B", "E"),
             L("ed", "E", "D"), L("cd", "C", "D", 2)],
            [("A", "D", 12.0)],
        )
    )
    assert loads(engine) == {
        ("ab", "A", "B"): 6.0, ("ac", "A", "C"): 6.0, ("bd", "B", "D"): 3.0,
        ("be", "B", "E"): 3.0, ("ed", "E", "D"): 3.0, ("cd", "C", "D"): 6.0,
    }


def test_parallel_links_are_separate_next_hops() -> None:
    engine = Engine(
        build(
            [L("p1", "A", "B"), L("p2", "A", "B"), L("p3", "A", "B", 5), L("ac", "A", "C"),
             L("bd", "B", "D"), L("cd", "C", "D")],
            [("A", "D", 9.0)],
        )
    )
    assert hops(engine, "A", "D") == [("ac", "C"), ("p1", "B"), ("p2", "B")]
    got = loads(engine)
    assert got[("p1", "A", "B")] == pytest.approx(3.0)
    assert got[("p2", "A", "B")] == pytest.approx(3.0)
    assert got[("ac", "A", "C")] == pytest.approx(3.0)
    assert got[("bd", "B", "D")] == pytest.approx(6.0)
    assert ("p3", "A", "B") not in got


def test_unreachable_island_carries_nothing_and_delivers_nothing() -> None:
    engine = Engine(
        build([L("ab", "A", "B"), L("xy", "X", "Y")], [("A", "X", 5.0), ("A", "B", 1.0)])
    )
    assert sorted(engine.unreachable("A")) == ["X", "Y"]
    assert "X" not in engine.routes("A")
    assert loads(engine) == {("ab", "A", "B"): 1.0}
    lost = {(d.src, d.dst): d for d in engine.demands()}
    assert lost[("A", "X")].delivered_bps == 0.0
    assert lost[("A", "X")].latency_ms is None
    assert lost[("A", "B")].delivered_bps == 1.0


def test_asymmetric_metrics_route_each_direction_on_its_own() -> None:
    engine = Engine(
        build(
            [L("ab", "A", "B", 1, reverse=10), L("ac", "A", "C", 2), L("cb", "C", "B", 2)],
            [("A", "B", 4.0), ("B", "A", 7.0)],
        )
    )
    assert loads(engine) == {
        ("ab", "A", "B"): 4.0, ("cb", "B", "C"): 7.0, ("ac", "C", "A"): 7.0,
    }
    assert hops(engine, "B", "A") == [("cb", "C")]


def test_link_down_reroutes_and_router_down_disconnects() -> None:
    state = build(
        [L("ab", "A", "B"), L("bc", "B", "C"), L("ac", "A", "C", 5)], [("A", "C", 2.0)]
    )
    engine = Engine(state)
    assert loads(engine) == {("ab", "A", "B"): 2.0, ("bc", "B", "C"): 2.0}
    engine.absorb(LinkStatus(source=SOURCE, seq=100, ts=0.0, link="bc", up=False))
    assert loads(engine) == {("ac", "A", "C"): 2.0}
    engine.absorb(RouterHealth(source=SOURCE, seq=101, ts=0.0, router="C", up=False))
    assert loads(engine) == {}
    assert engine.demands()[0].delivered_bps == 0.0


def test_loss_latency_and_throughput() -> None:
    # A->D over two ECMP paths; path via B has a 10 bps bottleneck carrying 20 bps.
    engine = Engine(
        build(
            [L("ab", "A", "B", delay_ms=1.0, capacity=100.0),
             L("bd", "B", "D", delay_ms=1.0, capacity=10.0),
             L("ac", "A", "C", delay_ms=2.0, capacity=100.0),
             L("cd", "C", "D", delay_ms=4.0, capacity=100.0)],
            [("A", "D", 40.0)],
        )
    )
    (demand,) = engine.demands()
    assert demand.latency_ms == pytest.approx((2.0 + 6.0) / 2)
    assert demand.worst_latency_ms == pytest.approx(6.0)
    # half the traffic crosses bd (20 bps on 10 bps): half of it is dropped
    assert demand.delivered_bps == pytest.approx(20.0 + 10.0)
    assert demand.lost_bps == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [("hop", (1, 1)), ("igp", (7, 3)), ("inverse-capacity", (10, 10)), ("latency", (2500, 2500))],
)
def test_metric_schemes(scheme: str, expected: tuple[int, int]) -> None:
    state = build([L("ab", "A", "B", 7, reverse=3, capacity=10e9, delay_ms=2.5)])
    engine = Engine(state, MetricOptions(scheme=scheme))  # type: ignore[arg-type]
    assert (engine.net.metric[0], engine.net.metric[1]) == expected


def test_latency_scheme_uses_distance_when_no_delay() -> None:
    state = build([L("ab", "A", "B")])
    engine = Engine(state, MetricOptions(scheme="latency", distance_km={"ab": 400.0}))
    assert engine.net.metric[0] == 2000  # 400 km at 200 km/ms = 2 ms = 2000 us
