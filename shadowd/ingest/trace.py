"""Synthetic but realistic telemetry traces, generated deterministically from a real topology.

A trace starts with the topology (routers, links with capacities, the demand matrix) and
then, every ``interval_s``, sends what a production collector would: the traffic matrix
(each demand following a diurnal curve with weekends lower, times slow random noise),
the link counters that result from routing that matrix, and now and then a link flap
(down for a few intervals, then up again; the counters show the traffic moving).

Link capacities: the topology has none (SNDlib as shipped by topohub), so each link gets
the smallest standard rate that keeps its no-failure peak at or under ``peak_util``.

Pure given ``seed``: no clock, no I/O. The routing engine is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Final

import msgspec
import numpy as np

from shadowd.core.events import AnyEvent, DemandSet, LinkAdded, LinkStatus, LinkUtilization
from shadowd.core.state import State, fold

DAY: Final = 86_400.0
TRACE_EPOCH: Final = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
STANDARD_RATES: Final = (1e9, 2.5e9, 10e9, 40e9, 100e9, 400e9)

LinkLoads = Callable[[State], dict[str, tuple[float, float]]]  # link -> (a->b, b->a) bps


class TraceSpec(msgspec.Struct, frozen=True, kw_only=True):
    topology: str = "sndlib/geant"
    source: str = "replay"
    days: int = 7
    interval_s: int = 300
    seed: int = 1
    flaps: int = 4
    peak_util: float = 0.45
    noise: float = 0.05  # std-dev of the demands' log-noise
    start_ts: float = TRACE_EPOCH

    @property
    def intervals(self) -> int:
        return int(self.days * DAY // self.interval_s)


def diurnal(ts: float) -> float:
    """Traffic relative to a weekday's peak: trough at 04:30 UTC (35%), peak at 16:30."""
    hour = (ts % DAY) / 3600.0
    level = 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.5) / 24.0))
    weekend = datetime.fromtimestamp(ts, UTC).weekday() >= 5
    return level * (0.75 if weekend else 1.0)


class _Stamp:
    """Gives every event of the trace its source and the next sequence number."""

    def __init__(self, source: str) -> None:
        self.source, self.seq = source, 0

    def __call__(self, event: AnyEvent, ts: float) -> AnyEvent:
        self.seq += 1
        return msgspec.structs.replace(event, source=self.source, seq=self.seq, ts=ts)


class _Flap(msgspec.Struct, frozen=True):
    link: str
    down_at: int  # interval index
    up_at: int


def generate(
    spec: TraceSpec, topology: list[AnyEvent], link_loads: LinkLoads
) -> Iterator[list[AnyEvent]]:
    """Yield the trace as batches: the topology first, then one batch per interval."""
    rng = np.random.default_rng(spec.seed)
    stamp = _Stamp(spec.source)
    base = fold(list(topology))
    head = [stamp(e, spec.start_ts) for e in _with_capacities(topology, base, link_loads, spec)]
    state = fold(head)
    yield head
    pairs = [(s, d, r) for s in sorted(base.demands) for d, r in sorted(base.demands[s].items())]
    flaps = _flaps(spec, sorted(state.links), rng)
    noise = np.zeros(len(pairs))
    for k in range(spec.intervals):
        ts = spec.start_ts + (k + 1) * spec.interval_s
        noise = 0.8 * noise + rng.normal(0.0, spec.noise, len(pairs))
        level = diurnal(ts)
        batch = [stamp(DemandSet(source="", seq=1, ts=ts, src=s, dst=d,
                                 rate_bps=r * level * math.exp(n)), ts)
                 for (s, d, r), n in zip(pairs, noise.tolist(), strict=True)]
        batch += [stamp(e, ts) for e in _flap_events(flaps, k, ts)]
        fold(batch, state)
        counters = [stamp(e, ts) for e in _counters(state, link_loads, rng, ts)]
        fold(counters, state)
        yield batch + counters


def event_count(spec: TraceSpec, topology: list[AnyEvent]) -> int:
    base = fold(list(topology))
    per_interval = base.demand_count() + len(base.links)
    return len(topology) + spec.intervals * per_interval + 2 * _flap_count(spec, len(base.links))


def _with_capacities(
    topology: list[AnyEvent], base: State, link_loads: LinkLoads, spec: TraceSpec
) -> list[AnyEvent]:
    peak = link_loads(base)  # the matrix as given is the weekday peak

    def sized(event: AnyEvent) -> AnyEvent:
        if not isinstance(event, LinkAdded):
            return event
        needed = max(peak.get(event.link, (0.0, 0.0))) / spec.peak_util
        return msgspec.structs.replace(event, capacity_bps=_rate_for(needed))

    return [sized(e) for e in topology]


def _rate_for(needed_bps: float) -> float:
    return next((r for r in STANDARD_RATES if r >= needed_bps), STANDARD_RATES[-1])


def _flap_count(spec: TraceSpec, links: int) -> int:
    return min(spec.flaps, links)


def _flaps(spec: TraceSpec, links: list[str], rng: np.random.Generator) -> list[_Flap]:
    chosen = rng.choice(len(links), size=_flap_count(spec, len(links)), replace=False)
    flaps = []
    for i in sorted(chosen.tolist()):
        down = int(rng.integers(1, max(spec.intervals - 8, 2)))
        flaps.append(_Flap(links[i], down, down + int(rng.integers(1, 7))))
    return flaps


def _flap_events(flaps: list[_Flap], k: int, ts: float) -> list[AnyEvent]:
    out: list[AnyEvent] = []
    for f in flaps:
        if k in (f.down_at, f.up_at):
            out.append(LinkStatus(source="", seq=1, ts=ts, link=f.link, up=k == f.up_at))
    return out


def _counters(
    state: State, link_loads: LinkLoads, rng: np.random.Generator, ts: float
) -> list[AnyEvent]:
    loads = link_loads(state)
    jitter = rng.normal(1.0, 0.01, (len(state.links), 2)).clip(0.9, 1.1)
    out: list[AnyEvent] = []
    for (link_id, link), (ja, jb) in zip(sorted(state.links.items()), jitter.tolist(), strict=True):
        ab, ba = loads.get(link_id, (0.0, 0.0)) if link.up else (0.0, 0.0)
        out.append(LinkUtilization(source="", seq=1, ts=ts, link=link_id,
                                   ab_bps=ab * ja, ba_bps=ba * jb))
    return out
