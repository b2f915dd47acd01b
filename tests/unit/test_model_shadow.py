"""The model shadow: the engine caught up lazily (or rebuilt) always equals a fresh one."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import numpy as np
import pytest

from shadowd.core.events import AnyEvent, DemandSet, LinkMetric, LinkStatus, LinkUtilization
from shadowd.core.state import State, apply, fold
from shadowd.engine.incremental import Engine
from shadowd.handlers import DaemonHandlers
from shadowd.predict.extreme import LinkView, analyse, link_views
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


async def test_sweeps_are_kept_while_nothing_routed_changes() -> None:
    model, state = await _follow(rebuild_after=1_000)
    _, first = await model.worst_case("links")
    counters = LinkUtilization(source="t", seq=99_998, ts=0.0, link=sorted(state.links)[0],
                               ab_bps=1.0, ba_bps=1.0)
    apply(state, counters)
    model.note([counters])
    lsn, again = await model.worst_case("links")
    assert lsn == state.lsn
    assert again is first  # counters route nothing


async def test_views_at_a_job_position_the_log_has_passed() -> None:
    """A predictor job's fork lags the log: the engine is brought to the fork's position,
    not the latest, and answers as a fresh engine on the fork would."""
    model, state = await _follow(rebuild_after=1_000)
    fork = state.fork()
    for change in _changes(state, 9)[3:]:  # the log moves on after the fork was taken
        event = msgspec.structs.replace(change, seq=change.seq + 50_000)
        apply(state, event)
        model.note([event])
    keys = [(link, "ab") for link in sorted(fork.links)[:4]]
    ours = await model.views(fork, keys)  # type: ignore[arg-type]
    engine, wc = analyse(fork)
    _assert_same_views(ours, link_views(engine, wc, keys))  # type: ignore[arg-type]
    assert model.private == 0
    await model.read(lambda engine: None)  # the latest: the engine passes the fork
    _assert_same_views(await model.views(fork, keys), ours)  # type: ignore[arg-type]
    assert model.private == 1


def _assert_same_views(got: list[LinkView], want: list[LinkView]) -> None:
    """Equal, floats up to the residue incremental sums leave."""
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.load_bps == pytest.approx(b.load_bps, rel=1e-9)
        assert a.wc_load_bps == pytest.approx(b.wc_load_bps, rel=1e-9)
        assert replace(a, load_bps=0.0, wc_load_bps=0.0) == \
            replace(b, load_bps=0.0, wc_load_bps=0.0)


def test_the_daemon_answers_every_control_request() -> None:
    assert DaemonHandlers.__new__(DaemonHandlers).missing() == frozenset()
