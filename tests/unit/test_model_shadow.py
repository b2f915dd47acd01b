"""The model shadow: the engine caught up lazily (or rebuilt) always equals a fresh one."""

from __future__ import annotations

import numpy as np

from shadowd.core.events import AnyEvent, DemandSet, LinkMetric, LinkStatus
from shadowd.core.state import State, apply, fold
from shadowd.engine.incremental import Engine
from shadowd.handlers import DaemonHandlers
from shadowd.services.model import ModelShadow
from shadowd.topology import topohub_topology


def _changes(state: State, count: int) -> list[AnyEvent]:
    """Deterministic metric, status and demand changes on a real network."""
    links = sorted(state.links)
    routers = sorted(state.routers)
    out: list[AnyEvent] = []
    for i in range(count):
        seq = 10_000 + i
        link = links[(7 * i) % len(links)]
        if i % 3 == 0:
            out.append(LinkMetric(source="t", seq=seq, ts=0.0, link=link, metric=1 + i % 9))
        elif i % 3 == 1:
            out.append(LinkStatus(source="t", seq=seq, ts=0.0, link=link, up=i % 2 == 0))
        else:
            out.append(DemandSet(source="t", seq=seq, ts=0.0, src=routers[i % len(routers)],
                                 dst=routers[(i * 5 + 1) % len(routers)], rate_bps=1e6 * i))
    return [e for e in out if not (isinstance(e, DemandSet) and e.src == e.dst)]


async def _follow(rebuild_after: int) -> tuple[ModelShadow, State]:
    state = fold(topohub_topology("sndlib/geant"))
    model = ModelShadow(state, rebuild_after=rebuild_after)
    for event in _changes(state, 60):
        apply(state, event)
        model.note([event])
    return model, state


async def _assert_equals_fresh(model: ModelShadow, state: State) -> None:
    ours = await model.read(lambda engine: [e.load for e in engine.loads()])
    fresh = [e.load for e in Engine(state).loads()]
    # Subtracting traffic incrementally leaves float residue ~1e-16 of the total on links
    # that should carry nothing, so the absolute tolerance scales with the traffic.
    np.testing.assert_allclose(ours, fresh, rtol=1e-9, atol=1e-12 * max(fresh))


async def test_catching_up_event_by_event() -> None:
    model, state = await _follow(rebuild_after=1_000)
    await _assert_equals_fresh(model, state)
    assert model.absorbed > 0
    assert model.rebuilds == 0


async def test_rebuilding_when_too_far_behind() -> None:
    model, state = await _follow(rebuild_after=10)
    await _assert_equals_fresh(model, state)
    assert model.rebuilds == 1


async def test_worst_case_is_cached_per_lsn() -> None:
    model, state = await _follow(rebuild_after=1_000)
    lsn, first = await model.worst_case("links")
    assert lsn == state.lsn
    assert (await model.worst_case("links"))[1] is first
    event = LinkMetric(source="t", seq=99_999, ts=0.0, link=sorted(state.links)[0], metric=50)
    apply(state, event)
    model.note([event])
    later, second = await model.worst_case("links")
    assert later == lsn + 1
    assert second is not first


def test_the_daemon_answers_every_control_request() -> None:
    assert DaemonHandlers.__new__(DaemonHandlers).missing() == frozenset()
