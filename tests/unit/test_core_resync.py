"""Resync: reconcile turns any view into any snapshot's; admit_snapshot moves the position;
the sync session holds what comes early, asks for resyncs sparingly, and times digests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowd.core.checks import validate
from shadowd.core.diff import snapshot_events as view_events
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
    ScenarioRan,
)
from shadowd.core.resync import SyncSession, plan, reconcile
from shadowd.core.state import State, apply, fold, view_digest
from shadowd.core.sync import SourceCounters, admit, admit_snapshot, position

ROUTERS = [f"r{i}" for i in range(5)]
LINKS = [f"l{i}" for i in range(6)]


class Snap(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    seq: int
    ts: float = 0.0
    events: Sequence[AnyEvent] = ()


def _ev(kind: int, abc: tuple[int, int, int], x: float, flag: bool) -> AnyEvent:
    a, b, c = abc
    s: dict[str, Any] = {"source": "other", "seq": 1, "ts": 0.0}
    ra, rb, link = ROUTERS[a % 5], ROUTERS[(a + 1 + b % 4) % 5], LINKS[c % 6]
    events: list[AnyEvent] = [
        RouterAdded(**s, router=ra, pos=(x, x) if flag else None),
        RouterRemoved(**s, router=ra),
        RouterHealth(**s, router=ra, up=flag, cpu_pct=x % 100),
        LinkAdded(**s, link=link, a=ra, b=rb, metric=1 + c, capacity_bps=1 + x,
                  reverse_metric=2 + c if flag else None, srlgs=("s",) if flag else ()),
        LinkStatus(**s, link=link, up=flag),
        LinkMetric(**s, link=link, metric=1 + b, reverse_metric=None),
        LinkCapacity(**s, link=link, capacity_bps=2 + x),
        LinkUtilization(**s, link=link, ab_bps=x, ba_bps=x / 2, drops=c, errors=b),
        DemandSet(**s, src=ra, dst=rb, rate_bps=0.0 if flag and c == 0 else x),
    ]
    return events[kind % len(events)]


_event = st.builds(_ev, st.integers(0, 8),
                   st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 5)),
                   st.floats(0, 1e6, allow_nan=False), st.booleans())


def _valid_fold(events: list[AnyEvent], source: str = "other") -> State:
    """Every router, then whatever of ``events`` applies (removals included), all said by
    ``source``."""
    state = fold(RouterAdded(source=source, seq=1, ts=0.0, router=r) for r in ROUTERS)
    for e in (msgspec.structs.replace(e, source=source) for e in events):
        try:
            validate(state, e)
        except InvalidEvent:
            continue
        apply(state, e)
    return state


states = st.lists(_event, max_size=80).map(_valid_fold)
agent_states = st.lists(_event, max_size=80).map(lambda events: _valid_fold(events, "agent"))


def snapshot_events(state: State, source: str, seq: int) -> list[AnyEvent]:
    """``state``'s whole view, stamped as one snapshot of ``source`` at ``seq``."""
    return [msgspec.structs.replace(e, source=source, seq=seq, ts=0.0)
            for e in view_events(state)]


@settings(max_examples=300, deadline=None)
@given(agent_states, states)
def test_reconcile_takes_the_sources_own_view_to_the_snapshots(a: State, b: State) -> None:
    snap = Snap(source="agent", seq=7, events=snapshot_events(b, "agent", 7))
    diff = reconcile(a, snap)
    fold(diff, a)  # ``fold`` does not validate: reconcile's events must apply as they come
    assert view_digest(a) == view_digest(b)
    assert all((e.source, e.seq) == ("agent", 7) for e in diff)


@settings(max_examples=100, deadline=None)
@given(states)
def test_reconcile_of_the_same_view_is_empty(a: State) -> None:
    assert reconcile(a, Snap(source="x", seq=1, events=snapshot_events(a, "x", 1))) == []


@settings(max_examples=300, deadline=None)
@given(states, states)
def test_with_other_sources_a_snapshot_adds_and_updates_but_removes_nothing(
    a: State, b: State
) -> None:
    """The state does not record who said what: another source's routers, links and
    demands must survive a snapshot that does not mention them."""
    before = a.fork()
    fold(reconcile(a, Snap(source="agent", seq=7, events=snapshot_events(b, "agent", 7))), a)
    assert set(before.routers) <= set(a.routers)
    for name, router in b.routers.items():
        assert a.routers[name] == router
    for link_id, link in b.links.items():
        assert a.links[link_id] == link
    moved = {k for k, lk in before.links.items()
             if k in b.links and {lk.a, lk.b} != {b.links[k].a, b.links[k].b}}
    assert set(before.links) - moved <= set(a.links)
    for src, row in b.demands.items():
        for dst, rate in row.items():
            assert a.demands[src][dst] == rate


@settings(max_examples=100, deadline=None)
@given(agent_states, states)
def test_admit_snapshot_validates_every_diff_event(a: State, b: State) -> None:
    counters: dict[str, SourceCounters] = {}
    result = admit_snapshot(a, Snap(source="agent", seq=3,
                                    events=snapshot_events(b, "agent", 3)), counters)
    assert not result.rejected
    assert not result.stale
    assert view_digest(a) == view_digest(b)
    assert position(a, counters, "agent") == 3


def test_snapshot_events_that_cannot_build_the_view_are_rejected() -> None:
    s: dict[str, Any] = {"source": "agent", "seq": 2, "ts": 0.0}
    recon = plan(State(), Snap(source="agent", seq=2, events=[
        RouterAdded(**s, router="a"), LinkStatus(**s, link="nope", up=True)]))
    assert [e.router for e in recon.events if isinstance(e, RouterAdded)] == ["a"]
    ((_bad, err),) = recon.rejected
    assert err.reason == "unknown link 'nope'"


def _r(seq: int, name: str) -> RouterAdded:
    return RouterAdded(source="s", seq=seq, ts=0.0, router=name)


def test_a_stale_snapshot_is_dropped_and_counted() -> None:
    state, counters = fold([_r(1, "a"), _r(2, "b")]), dict[str, SourceCounters]()
    result = admit_snapshot(state, Snap(source="s", seq=1, events=[_r(1, "z")]), counters)
    assert result.stale
    assert counters["s"].stale_snapshots == 1
    assert set(state.routers) == {"a", "b"}


def test_a_snapshot_moves_the_position_even_when_nothing_changed() -> None:
    state, counters = fold([_r(1, "a")]), dict[str, SourceCounters]()
    result = admit_snapshot(state, Snap(source="s", seq=9, events=[_r(9, "a")]), counters)
    assert result.accepted == []
    assert position(state, counters, "s") == 9
    later = admit(state, [_r(8, "old"), _r(10, "c")], counters)
    assert [e.seq for e in later.accepted] == [10]  # 8 is from before the snapshot
    assert later.duplicates == 1


def test_a_snapshot_at_the_current_position_heals_a_diverged_view() -> None:
    state, counters = fold([_r(1, "a"), _r(2, "b")]), dict[str, SourceCounters]()
    admit_snapshot(state, Snap(source="s", seq=2, events=[_r(2, "a")]), counters)
    assert set(state.routers) == {"a"}


# --- the session -----------------------------------------------------------------------


def test_session_holds_a_batch_past_a_gap_and_releases_it_when_the_gap_fills() -> None:
    session = SyncSession("s", retry_s=10.0)
    events, need = session.batch(2, [_r(5, "e"), _r(6, "f")], now=0.0)
    assert events is None
    assert need is not None
    assert (need.from_seq, need.reason) == (3, "gap")
    assert session.ready(2) is None
    assert [e.seq for e in session.ready(4) or []] == [5, 6]
    assert session.held == {}


def test_session_asks_again_only_after_retry_s() -> None:
    session = SyncSession("s", retry_s=10.0)
    assert session.batch(1, [_r(5, "e")], now=0.0)[1] is not None
    assert session.batch(1, [_r(7, "g")], now=9.0)[1] is None
    assert session.batch(1, [_r(9, "i")], now=10.0)[1] is not None
    session.resynced()
    assert session.batch(1, [_r(11, "k")], now=10.5)[1] is not None


def test_session_asks_a_source_it_never_saw_for_everything() -> None:
    _, need = SyncSession("s").batch(0, [_r(40, "x")], now=0.0)
    assert need is not None
    assert (need.from_seq, need.reason) == (1, "startup")


def test_session_drops_held_batches_a_snapshot_covered() -> None:
    session = SyncSession("s")
    session.batch(1, [_r(5, "e")], now=0.0)
    assert session.ready(7) is None
    assert session.held == {}


def test_session_bounds_what_it_holds() -> None:
    session = SyncSession("s", max_held=1)
    session.batch(1, [_r(5, "e")], now=0.0)
    session.batch(1, [_r(7, "g")], now=0.0)
    assert list(session.held) == [5]
    assert session.discarded == 1


def test_digests_are_due_exactly_at_their_seq_and_dropped_once_passed() -> None:
    session = SyncSession("s")
    session.hold_digest(5, "d5")
    session.hold_digest(8, "d8")
    assert session.due_digests(4) == (None, 0)
    assert session.due_digests(5) == ("d5", 0)
    assert session.due_digests(9) == (None, 1)
    assert session.digests == {}


def test_shadowds_own_records_do_not_count_as_another_source() -> None:
    """The daemon logs its predictions and runs under ``DAEMON_SOURCE``; they hold no
    part of the view, so the agent's snapshot may still remove what it no longer has."""
    state = fold([_r(1, "a"), _r(2, "b")], State())
    record = ScenarioRan(source=DAEMON_SOURCE, seq=1, ts=0.0, run_id="r1", scenario="x",
                         kind="link_cut", trigger="manual", tier="model", injected_ts=0.0)
    fold([record], state)
    assert DAEMON_SOURCE in state.sources
    recon = plan(state, Snap(source="s", seq=3, events=[_r(3, "a")]))
    assert [type(e).__name__ for e in recon.events] == ["RouterRemoved"]
