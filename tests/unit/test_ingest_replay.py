"""The replay source (paced by trace time, resumes after a seq) and the trace generator."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
)
from shadowd.core.state import State, digest, fold
from shadowd.ingest.replay import ReplaySource
from shadowd.traffic.trace import TRACE_EPOCH, TraceSpec, diurnal, event_count, generate


class FakeClock:
    """Wall time that only moves when the source sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _batches() -> Iterable[list[AnyEvent]]:
    for k in range(4):
        ts = 1000.0 + 60.0 * k
        yield [RouterAdded(source="r", seq=2 * k + i + 1, ts=ts, router=f"r{2 * k + i}")
               for i in range(2)]


async def _drain(source: ReplaySource, after: int = 0) -> list[list[AnyEvent]]:
    return [batch async for batch in source.batches(after_seq=after)]


async def test_paced_by_trace_time_over_speed() -> None:
    clock = FakeClock()
    source = ReplaySource("r", _batches, speed=60.0, clock=clock, sleep=clock.sleep)
    batches = await _drain(source)
    assert len(batches) == 4
    assert clock.sleeps == pytest.approx([0.0, 1.0, 1.0, 1.0])  # 60 s of trace = 1 s of wall
    assert source.progress.done
    assert source.progress.emitted == 8


async def test_speed_zero_never_waits() -> None:
    clock = FakeClock()
    source = ReplaySource("r", _batches, speed=0.0, clock=clock, sleep=clock.sleep)
    await _drain(source)
    assert set(clock.sleeps) == {0}


async def test_resumes_after_seq_mid_batch() -> None:
    clock = FakeClock()
    source = ReplaySource("r", _batches, speed=0.0, clock=clock, sleep=clock.sleep)
    batches = await _drain(source, after=3)
    assert [e.seq for b in batches for e in b] == [4, 5, 6, 7, 8]


# --- the trace generator -----------------------------------------------------------------


def _topology() -> list[AnyEvent]:
    events: list[AnyEvent] = [RouterAdded(source="t", seq=i + 1, ts=0.0, router=r)
                              for i, r in enumerate("abc")]
    events += [LinkAdded(source="t", seq=4, ts=0.0, link="ab", a="a", b="b", metric=1,
                         capacity_bps=1.0),
               LinkAdded(source="t", seq=5, ts=0.0, link="bc", a="b", b="c", metric=1,
                         capacity_bps=1.0),
               DemandSet(source="t", seq=6, ts=0.0, src="a", dst="c", rate_bps=3e9)]
    return events


def _fake_loads(state: State) -> dict[str, tuple[float, float]]:
    """Every demand crosses every up link a->b: enough routing for the generator's tests."""
    total = sum(r for row in state.demands.values() for r in row.values())
    return {k: (total, 0.0) for k, link in state.links.items() if link.up}


def _trace(**kw: object) -> list[list[AnyEvent]]:
    spec = TraceSpec(days=1, flaps=1, **kw)  # type: ignore[arg-type]
    return list(generate(spec, _topology(), _fake_loads))


def test_trace_is_deterministic_and_counted() -> None:
    first, second = _trace(seed=7), _trace(seed=7)
    assert first == second
    assert digest(fold([e for b in first for e in b])) != digest(
        fold([e for b in _trace(seed=8) for e in b]))
    flat = [e for b in first for e in b]
    assert [e.seq for e in flat] == list(range(1, len(flat) + 1))
    assert len(flat) == event_count(TraceSpec(days=1, flaps=1), _topology())


def test_capacities_keep_the_peak_under_target() -> None:
    head = _trace()[0]
    caps = {e.link: e.capacity_bps for e in head if isinstance(e, LinkAdded)}
    assert caps == {"ab": 10e9, "bc": 10e9}  # 3 Gb/s peak / 0.45 -> 6.7 Gb/s -> 10G


def test_diurnal_shape() -> None:
    monday = TRACE_EPOCH
    assert diurnal(monday + 4.5 * 3600) == pytest.approx(0.35)
    assert diurnal(monday + 16.5 * 3600) == pytest.approx(1.0)
    assert diurnal(monday + 5 * 86400 + 16.5 * 3600) == pytest.approx(0.75)  # Saturday


def test_a_flap_goes_down_then_up_and_counters_follow() -> None:
    flat = [e for b in _trace() for e in b]
    flaps = [e for e in flat if isinstance(e, LinkStatus)]
    assert [f.up for f in flaps] == [False, True]
    assert flaps[0].link == flaps[1].link
    down_util = [e for e in flat if isinstance(e, LinkUtilization) and e.link == flaps[0].link
                 and flaps[0].ts <= e.ts < flaps[1].ts]
    assert down_util
    assert all(e.ab_bps == 0.0 for e in down_util)
