"""The fold: deterministic, digest-stable, validated before it is applied."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowd.core.checks import validate
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkMetric,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
)
from shadowd.core.state import State, apply, digest, fold
from tests.unit.samples import SAMPLES


def _router(seq: int, name: str) -> RouterAdded:
    return RouterAdded(source="t", seq=seq, ts=float(seq), router=name)


def _link(seq: int, link: str, a: str, b: str) -> LinkAdded:
    return LinkAdded(source="t", seq=seq, ts=float(seq), link=link, a=a, b=b, metric=10,
                     capacity_bps=1e9)


def test_fold_of_samples() -> None:
    state = fold(SAMPLES)
    assert state.lsn == len(SAMPLES)
    assert set(state.routers) == {"fra", "ams"}
    assert set(state.links) == {"fra--ams"}
    link = state.links["fra--ams"]
    assert (link.up, link.metric, link.reverse_metric) == (False, 20, 20)
    assert state.demands == {}  # lon was removed, and with it the demand towards it
    assert state.sources["golden"].seq == 13


def test_fold_equals_apply_one_by_one() -> None:
    one_by_one = State()
    for event in SAMPLES:
        apply(one_by_one, event)
    assert digest(one_by_one) == digest(fold(SAMPLES))


def test_digest_is_pinned() -> None:
    """Same state, same digest on any machine: pin it so an encoding change is noticed."""
    assert digest(fold(SAMPLES)) == "db8749e8486ca6c8cacbaf6e38ca5d08"


def test_digest_ignores_insertion_order() -> None:
    a = fold([_router(1, "x"), _router(2, "y")])
    b = fold([_router(1, "y"), _router(2, "x")])
    assert digest(a) == digest(b)


def test_digest_sees_every_change() -> None:
    base = fold(SAMPLES[:5])
    changed = fold([LinkUtilization(source="golden", seq=6, ts=1.0, link="ams--lon",
                                    ab_bps=1.0, ba_bps=0.0)], base.fork())
    assert digest(changed) != digest(base)


def test_fork_is_independent() -> None:
    state = fold(SAMPLES[:5])
    fork = state.fork()
    apply(fork, LinkStatus(source="t", seq=1, ts=0.0, link="fra--ams", up=False))
    assert state.links["fra--ams"].up
    assert not fork.links["fra--ams"].up


def test_link_readded_keeps_its_status() -> None:
    down = LinkStatus(source="t", seq=4, ts=0.0, link="l", up=False)
    state = fold([_router(1, "a"), _router(2, "b"), _link(3, "l", "a", "b"), down,
                  _link(5, "l", "b", "a")])
    assert not state.links["l"].up


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (_link(9, "l2", "a", "nowhere"), "unknown router (link end b) 'nowhere'"),
        (_link(9, "l2", "a", "a"), "link 'l2' loops on router 'a'"),
        (_link(9, "l", "a", "c"), "link 'l' already joins 'a' and 'b'"),
        (LinkMetric(source="t", seq=9, ts=0.0, link="ghost", metric=5), "unknown link 'ghost'"),
        (DemandSet(source="t", seq=9, ts=0.0, src="a", dst="mars", rate_bps=1.0),
         "unknown demand destination 'mars'"),
        (DemandSet(source="t", seq=9, ts=0.0, src="a", dst="a", rate_bps=1.0),
         "demand from 'a' to itself"),
        (RouterHealth(source="t", seq=9, ts=0.0, router="zz", up=False), "unknown router 'zz'"),
        (RouterRemoved(source="t", seq=9, ts=0.0, router="zz"), "unknown router 'zz'"),
    ],
)
def test_validate_names_what_is_wrong(event: AnyEvent, reason: str) -> None:
    state = fold([_router(1, "a"), _router(2, "b"), _router(3, "c"), _link(4, "l", "a", "b")])
    with pytest.raises(InvalidEvent) as info:
        validate(state, event)
    assert info.value.reason == reason
    assert f"from t#{event.seq}" in str(info.value)


def test_zero_rate_removes_a_demand() -> None:
    state = fold([_router(1, "a"), _router(2, "b"),
                  DemandSet(source="t", seq=3, ts=0.0, src="a", dst="b", rate_bps=5.0),
                  DemandSet(source="t", seq=4, ts=0.0, src="a", dst="b", rate_bps=0.0)])
    assert state.demands == {}


_names = st.sampled_from(["a", "b", "c", "d"])


@st.composite
def _event_streams(draw: st.DrawFn) -> list[AnyEvent]:
    """Random but valid event streams over a small fixed network."""
    events: list[AnyEvent] = [_router(i + 1, n) for i, n in enumerate("abcd")]
    events += [_link(5, "ab", "a", "b"), _link(6, "bc", "b", "c"), _link(7, "cd", "c", "d")]
    for _ in range(draw(st.integers(0, 40))):
        seq = len(events) + 1
        kind = draw(st.integers(0, 3))
        link = draw(st.sampled_from(["ab", "bc", "cd"]))
        if kind == 0:
            up = draw(st.booleans())
            events.append(LinkStatus(source="t", seq=seq, ts=0.0, link=link, up=up))
        elif kind == 1:
            events.append(LinkMetric(source="t", seq=seq, ts=0.0, link=link,
                                     metric=draw(st.integers(1, 100))))
        elif kind == 2:
            events.append(LinkUtilization(source="t", seq=seq, ts=0.0, link=link,
                                          ab_bps=draw(st.floats(0, 1e12)), ba_bps=0.0))
        else:
            src, dst = draw(_names), draw(_names)
            if src != dst:
                events.append(DemandSet(source="t", seq=seq, ts=0.0, src=src, dst=dst,
                                        rate_bps=draw(st.floats(0, 1e10))))
    return events


@settings(max_examples=200, deadline=None)
@given(_event_streams(), st.data())
def test_any_cut_point_replays_to_the_same_digest(
    events: list[AnyEvent], data: st.DataObject
) -> None:
    """Fold to a cut, snapshot (encode/decode), fold the rest: same digest as one pass."""
    cut = data.draw(st.integers(0, len(events)))
    head = fold(events[:cut])
    restored = msgspec.msgpack.decode(msgspec.msgpack.encode(head), type=State)
    assert digest(fold(events[cut:], restored)) == digest(fold(events))
