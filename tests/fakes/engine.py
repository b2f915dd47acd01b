"""Small builders of ``State``s for tests, benchmarks and experiments.

They make events and fold them, so a State built here is one the log could hold.
``topohub_state`` reads a topohub network (SNDlib, with its demand matrix);
``synthetic_state`` makes a deterministic random backbone of any size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import topohub

from shadowd.core.events import AnyEvent, DemandSet, LinkAdded, RouterAdded
from shadowd.core.state import State, fold

SOURCE = "engine-test"


@dataclass(frozen=True, slots=True)
class L:
    """A link to build: ``a``-``b`` with metric (and reverse metric), capacity, delay."""

    id: str
    a: str
    b: str
    metric: int = 1
    reverse: int | None = None
    capacity: float = 100.0
    delay_ms: float = 0.0
    srlgs: tuple[str, ...] = ()


class _Seq:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


def events_for(
    routers: Iterable[str],
    links: Iterable[L],
    demands: Iterable[tuple[str, str, float]] = (),
) -> list[AnyEvent]:
    seq = _Seq()
    out: list[AnyEvent] = [
        RouterAdded(source=SOURCE, seq=seq(), ts=0.0, router=r) for r in routers
    ]
    out += [
        LinkAdded(
            source=SOURCE, seq=seq(), ts=0.0, link=lk.id, a=lk.a, b=lk.b, metric=lk.metric,
            reverse_metric=lk.reverse, capacity_bps=lk.capacity, delay_ms=lk.delay_ms,
            srlgs=lk.srlgs,
        )
        for lk in links
    ]
    out += [
        DemandSet(source=SOURCE, seq=seq(), ts=0.0, src=s, dst=d, rate_bps=r)
        for s, d, r in demands
    ]
    return out


def build(
    links: Sequence[L],
    demands: Iterable[tuple[str, str, float]] = (),
    routers: Iterable[str] = (),
) -> State:
    """A State with the routers named by ``links`` (plus ``routers``), links and demands."""
    names = dict.fromkeys([*routers, *(x for lk in links for x in (lk.a, lk.b))])
    return fold(events_for(names, links, demands))


def topohub_state(
    key: str, capacity_bps: float = 10e9, demand_unit_bps: float = 1e6
) -> tuple[State, dict[str, float]]:
    """A topohub network as a State; each link's IGP metric is its length in km, rounded.

    Returns the state and link lengths in km (for the ``latency`` scheme). Node names
    are topohub ids as strings; every link gets ``capacity_bps`` (topohub has none).
    """
    graph = topohub.get(key)
    names = [str(node["id"]) for node in graph["nodes"]]
    links = [
        L(
            id=f"e{i}", a=str(e["source"]), b=str(e["target"]),
            metric=max(1, round(float(e.get("dist", 1.0)))), capacity=capacity_bps,
        )
        for i, e in enumerate(graph["edges"])
    ]
    demands = [
        (str(s), str(d), float(rate) * demand_unit_bps)
        for s, row in graph["graph"].get("demands", {}).items()
        for d, rate in row.items()
        if str(s) != str(d) and rate > 0
    ]
    km = {f"e{i}": float(e.get("dist", 0.0)) for i, e in enumerate(graph["edges"])}
    return build(links, demands, routers=names), km


def synthetic_state(
    routers: int, links: int, demands: int, seed: int = 1, capacity_bps: float = 100e9
) -> State:
    """A connected random backbone: a ring plus random chords between near routers.

    Routers sit on a unit square; chords join a router to one of its nearer neighbours
    (as real backbones do), metric = distance-based (1..1000), capacity 10/40/100 G.
    Demands are random pairs with gravity-like rates. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    pos = rng.random((routers, 2))
    names = [f"r{i:04d}" for i in range(routers)]
    pairs: set[tuple[int, int]] = set()
    order = np.argsort(np.arctan2(pos[:, 1] - 0.5, pos[:, 0] - 0.5))
    for i in range(routers):
        a, b = int(order[i]), int(order[(i + 1) % routers])
        pairs.add((min(a, b), max(a, b)))
    while len(pairs) < links:
        a = int(rng.integers(routers))
        near = np.argsort(np.hypot(*(pos - pos[a]).T))[1 : 1 + 12]
        b = int(rng.choice(near))
        pairs.add((min(a, b), max(a, b)))
    caps = (10e9, 40e9, capacity_bps)
    built = [
        L(
            id=f"l{k:05d}", a=names[a], b=names[b],
            metric=max(1, math.ceil(1000 * math.dist(pos[a], pos[b]))),
            capacity=float(caps[int(rng.integers(3))]),
        )
        for k, (a, b) in enumerate(sorted(pairs))
    ]
    chosen: dict[tuple[int, int], float] = {}
    while len(chosen) < demands:
        s, d = (int(x) for x in rng.integers(routers, size=2))
        if s != d:
            chosen[(s, d)] = float(rng.lognormal(mean=15.5, sigma=1.0))
    flows = [(names[s], names[d], rate) for (s, d), rate in sorted(chosen.items())]
    return build(built, flows, routers=names)
