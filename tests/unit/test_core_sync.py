"""Differential sync: duplicates dropped, gaps noticed, bad deltas rejected with a reason."""

from __future__ import annotations

from shadowd.core.events import AnyEvent, LinkStatus, RouterAdded
from shadowd.core.resync import Gap
from shadowd.core.state import State, fold
from shadowd.core.sync import SourceCounters, admit


def _r(seq: int, name: str, source: str = "s") -> RouterAdded:
    return RouterAdded(source=source, seq=seq, ts=0.0, router=name)


def test_accepts_in_order_and_applies() -> None:
    state, counters = State(), dict[str, SourceCounters]()
    result = admit(state, [_r(1, "a"), _r(2, "b")], counters)
    assert [e.seq for e in result.accepted] == [1, 2]
    assert set(state.routers) == {"a", "b"}
    assert counters["s"].accepted == 2


def test_duplicates_are_dropped_and_counted() -> None:
    state, counters = fold([_r(1, "a"), _r(2, "b")]), dict[str, SourceCounters]()
    result = admit(state, [_r(2, "b"), _r(1, "a"), _r(3, "c")], counters)
    assert [e.seq for e in result.accepted] == [3]
    assert result.duplicates == 2 == counters["s"].duplicates
    assert state.lsn == 3


def test_gap_is_reported_but_the_delta_applies() -> None:
    state, counters = fold([_r(1, "a")]), dict[str, SourceCounters]()
    result = admit(state, [_r(5, "e")], counters)
    assert result.gaps == [Gap(source="s", expected=2, got=5)]
    assert "e" in state.routers


def test_sources_are_independent() -> None:
    state, counters = fold([_r(1, "a", "x")]), dict[str, SourceCounters]()
    result = admit(state, [_r(1, "b", "y")], counters)
    assert len(result.accepted) == 1
    assert not result.gaps


def test_rejected_delta_keeps_the_rest_and_is_not_a_gap() -> None:
    state, counters = fold([_r(1, "a")]), dict[str, SourceCounters]()
    batch: list[AnyEvent] = [LinkStatus(source="s", seq=2, ts=0.0, link="nope", up=True),
                             _r(3, "c")]
    result = admit(state, batch, counters)
    ((bad, err),) = result.rejected
    assert bad.seq == 2
    assert err.reason == "unknown link 'nope'"
    assert [e.seq for e in result.accepted] == [3]
    assert not result.gaps
    assert counters["s"].rejected == 1
