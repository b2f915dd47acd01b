"""Synthetic but realistic telemetry traces, generated deterministically from a real topology.

A trace starts with the topology (routers, links with capacities, the demand matrix) and
then, every ``interval_s``, sends what a production collector would: the traffic matrix
(each demand following a diurnal curve with weekends lower, times slow random noise),
the link counters that result from routing that matrix, and now and then a link flap
(down for a few intervals, then up again; the counters show the traffic moving).

Link capacities: the topology has none (SNDlib as shipped by topohub), so each link is
sized the way operators size a backbone: the smallest standard rate (from
``min_rate_bps``: a backbone's links are 10 Gbit/s and up) that keeps its
weekday peak at or under ``peak_util`` with nothing failed *and* at or under
``failure_util`` under its worst single link failure (``failure_util`` 0: the first rule
alone). Such a network rides out any one failure at its normal peak; surges are what
break that.
``demand_total_bps`` rescales the matrix first (topohub's germany50 and nobel-eu sum to a
few Mbit/s in GEANT's units); 0 keeps it as given.

Surges (``surges_per_week``, default none): a demand overlay toward one destination
router: every demand to it grows by ``gain`` times its weekday-peak rate, ramping up
linearly, holding, then decaying linearly (durations drawn from ``surge_ramp_s``,
``surge_hold_s``, ``surge_decay_s``), and sharing the demands' noise. ``gain`` is sized so
that, noise aside, the busiest link toward the destination reaches a utilisation drawn
from ``surge_util`` at the surge's peak: some surges cross a spike threshold of 0.8, some
stay under it. Surges are drawn from their own random stream, so adding them changes no
other part of the trace.

Ground truth: ``surges`` gives the plan; ``shadowd.traffic.episodes`` finds the spike
episodes in a trace's counters and labels each with its cause.

Pure given ``seed``: no clock, no I/O. The routing engine is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec
import numpy as np
import numpy.typing as npt

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkStatus,
    LinkUtilization,
)
from shadowd.core.state import State, fold

DAY: Final = 86_400.0
TRACE_EPOCH: Final = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
STANDARD_RATES: Final = (1e9, 2.5e9, 10e9, 40e9, 100e9, 400e9)

WEEK: Final = 7 * DAY
SURGE_STREAM: Final = 0x5E6E  # the surges' own random stream, next to the trace's seed

LinkLoads = Callable[[State], dict[str, tuple[float, float]]]  # link -> (a->b, b->a) bps
Span = tuple[float, float]


class TraceSpec(msgspec.Struct, frozen=True, kw_only=True):
    topology: str = "sndlib/geant"
    source: str = "replay"
    days: int = 7
    interval_s: int = 300
    seed: int = 1
    flaps: int = 4
    peak_util: float = 0.45
    failure_util: float = 0.75  # 0: size for the no-failure peak alone
    min_rate_bps: float = 10e9  # the thinnest link
    noise: float = 0.05  # std-dev of the demands' log-noise
    start_ts: float = TRACE_EPOCH
    demand_total_bps: float = 0.0  # rescale the matrix to this sum; 0: as the topology has it
    surges_per_week: float = 0.0
    surge_util: Span = (0.6, 1.4)  # busiest link's utilisation at a surge's peak
    surge_ramp_s: Span = (1800.0, 5400.0)
    surge_hold_s: Span = (1800.0, 7200.0)
    surge_decay_s: Span = (1800.0, 5400.0)

    @property
    def intervals(self) -> int:
        return int(self.days * DAY // self.interval_s)

    def times(self) -> npt.NDArray[np.float64]:
        """When the trace's samples are taken, one per interval after its start."""
        return self.start_ts + self.interval_s * np.arange(1, self.intervals + 1,
                                                           dtype=np.float64)


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
    topology = _rescaled(topology, spec.demand_total_bps)
    base = fold(list(topology))
    head = [stamp(e, spec.start_ts) for e in _with_capacities(topology, base, link_loads, spec)]
    state = fold(head)
    yield head
    pairs = [(s, d, r) for s in sorted(base.demands) for d, r in sorted(base.demands[s].items())]
    overlay = _Overlay(surges(spec, topology, link_loads), [d for _, d, _ in pairs])
    flaps = _flaps(spec, sorted(state.links), rng)
    noise = np.zeros(len(pairs))
    for k, ts in enumerate(spec.times().tolist()):
        noise = 0.8 * noise + rng.normal(0.0, spec.noise, len(pairs))
        level = diurnal(ts)
        batch = [stamp(DemandSet(source="", seq=1, ts=ts, src=s, dst=d,
                                 rate_bps=r * (level + b) * math.exp(n)), ts)
                 for (s, d, r), n, b in zip(pairs, noise.tolist(), overlay.at(ts), strict=True)]
        batch += [stamp(e, ts) for e in _flap_events(flaps, k, ts)]
        fold(batch, state)
        counters = [stamp(e, ts) for e in _counters(state, link_loads, rng, ts)]
        fold(counters, state)
        yield batch + counters


def event_count(spec: TraceSpec, topology: list[AnyEvent]) -> int:
    base = fold(list(topology))
    per_interval = base.demand_count() + len(base.links)
    return len(topology) + spec.intervals * per_interval + 2 * _flap_count(spec, len(base.links))


def _rescaled(topology: list[AnyEvent], total_bps: float) -> list[AnyEvent]:
    demands = [e for e in topology if isinstance(e, DemandSet)]
    current = sum(e.rate_bps for e in demands)
    if total_bps <= 0 or current <= 0:
        return list(topology)
    scale = total_bps / current
    return [msgspec.structs.replace(e, rate_bps=e.rate_bps * scale)
            if isinstance(e, DemandSet) else e for e in topology]


def _with_capacities(
    topology: list[AnyEvent], base: State, link_loads: LinkLoads, spec: TraceSpec
) -> list[AnyEvent]:
    peak = link_loads(base)  # the matrix as given is the weekday peak
    needed = {link: max(loads) / spec.peak_util for link, loads in peak.items()}
    if spec.failure_util > 0.0:
        for link, load in _worst_single_failure(base, link_loads).items():
            needed[link] = max(needed.get(link, 0.0), load / spec.failure_util)

    def sized(event: AnyEvent) -> AnyEvent:
        if not isinstance(event, LinkAdded):
            return event
        rate = _rate_for(max(needed.get(event.link, 0.0), spec.min_rate_bps))
        return msgspec.structs.replace(event, capacity_bps=rate)

    return [sized(e) for e in topology]


def _worst_single_failure(base: State, link_loads: LinkLoads) -> dict[str, float]:
    """Each link's highest load (either direction) when any one other link is down."""
    worst: dict[str, float] = {}
    for failed in sorted(base.links):
        state = base.fork()
        state.links[failed].up = False
        for link, loads in link_loads(state).items():
            if link != failed:
                worst[link] = max(worst.get(link, 0.0), *loads)
    return worst


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


# --- surges ------------------------------------------------------------------------------


class Surge(msgspec.Struct, frozen=True, kw_only=True):
    """Extra demand toward ``dst``: ``gain`` x each demand's weekday-peak rate at the top."""

    dst: str
    start: float
    ramp_s: float
    hold_s: float
    decay_s: float
    gain: float
    peak_util: float  # what ``gain`` was sized for: the busiest link's utilisation, noise aside

    @property
    def end(self) -> float:
        return self.start + self.ramp_s + self.hold_s + self.decay_s

    def shape(self, ts: float) -> float:
        """0 before and after, rising linearly to 1, holding, falling linearly to 0."""
        t = ts - self.start
        if t <= 0.0 or ts >= self.end:
            return 0.0
        if t < self.ramp_s:
            return t / self.ramp_s
        if t < self.ramp_s + self.hold_s:
            return 1.0
        return 1.0 - (t - self.ramp_s - self.hold_s) / self.decay_s


def surges(spec: TraceSpec, topology: list[AnyEvent], link_loads: LinkLoads) -> list[Surge]:
    """The surges ``generate`` injects into the trace of ``spec``, in order of start."""
    count = round(spec.surges_per_week * spec.days * DAY / WEEK)
    if count <= 0:
        return []
    rng = np.random.default_rng([SURGE_STREAM, spec.seed])
    sizing = _Sizing.of(spec, topology, link_loads)
    targets = sorted({d for row in sizing.state.demands.values() for d in row})
    room = spec.intervals * spec.interval_s
    plan = []
    for _ in range(count):
        dst = targets[int(rng.integers(len(targets)))]
        ramp, hold, decay = (float(rng.uniform(*span)) for span in
                             (spec.surge_ramp_s, spec.surge_hold_s, spec.surge_decay_s))
        start = spec.start_ts + float(rng.uniform(0.0, max(room - ramp - hold - decay, 0.0)))
        util = float(rng.uniform(*spec.surge_util))
        gain = sizing.gain(dst, diurnal(start + ramp), util)
        plan.append(Surge(dst=dst, start=start, ramp_s=ramp, hold_s=hold, decay_s=decay,
                          gain=gain, peak_util=util))
    return sorted(plan, key=lambda s: s.start)


class _Sizing:
    """How much extra demand toward a destination drives its busiest link to a utilisation."""

    def __init__(self, head: list[AnyEvent], link_loads: LinkLoads) -> None:
        self.head, self.link_loads = head, link_loads
        self.state = fold(list(head))
        self.peak = link_loads(self.state)

    @classmethod
    def of(cls, spec: TraceSpec, topology: list[AnyEvent], link_loads: LinkLoads) -> _Sizing:
        """Sizing in the trace of ``spec``: its matrix rescaled, its capacities chosen."""
        topology = _rescaled(topology, spec.demand_total_bps)
        return cls(_with_capacities(topology, fold(list(topology)), link_loads, spec),
                   link_loads)

    def column(self, dst: str) -> dict[str, tuple[float, float]]:
        """Each link's load from the demands toward ``dst`` alone, at weekday peak."""
        only_dst = [e for e in self.head if not isinstance(e, DemandSet) or e.dst == dst]
        return self.link_loads(fold(only_dst))

    def gain(self, dst: str, level: float, util: float) -> float:
        column = self.column(dst)
        gains = [
            (util * self.state.links[link].capacity_bps - level * base) / extra
            for link, loads in column.items()
            for extra, base in zip(loads, self.peak.get(link, (0.0, 0.0)), strict=True)
            if extra > 0.0
        ]
        return max(min(gains, default=0.0), 0.0)


class Footprint(msgspec.Struct, frozen=True, kw_only=True):
    """A trace's link loads without noise or flaps, as utilisation per directed link:
    ``diurnal(t) * base + sum(surge.shape(t) * reach[s] for each surge s)``."""

    series: list[tuple[str, Literal["ab", "ba"]]]
    base: list[float]  # each series' weekday peak
    reach: list[list[float]]  # per surge of the plan: each series' utilisation at its top

    def at(self, ts: float, plan: Sequence[Surge]) -> npt.NDArray[np.float64]:
        util = diurnal(ts) * np.asarray(self.base)
        for surge, reach in zip(plan, self.reach, strict=True):
            if surge.start < ts < surge.end:
                util += surge.shape(ts) * np.asarray(reach)
        return util


def footprint(spec: TraceSpec, topology: list[AnyEvent], link_loads: LinkLoads,
              plan: Sequence[Surge]) -> Footprint:
    """The noise-free loads of the trace of ``spec`` whose surges are ``plan``."""
    sizing = _Sizing.of(spec, topology, link_loads)
    links = sorted(sizing.state.links.items())
    series: list[tuple[str, Literal["ab", "ba"]]] = [(k, d) for k, _ in links
                                                      for d in ("ab", "ba")]

    def util(loads: dict[str, tuple[float, float]]) -> list[float]:
        return [x / link.capacity_bps for k, link in links for x in loads.get(k, (0.0, 0.0))]

    columns = {dst: util(sizing.column(dst)) for dst in {s.dst for s in plan}}
    return Footprint(series=series, base=util(sizing.peak),
                     reach=[[s.gain * x for x in columns[s.dst]] for s in plan])


class _Overlay:
    """Each demand's surge boost at a time, as a multiple of its weekday-peak rate."""

    def __init__(self, plan: list[Surge], dsts: list[str]) -> None:
        self.plan, self.size = plan, len(dsts)
        self.rows = {s.dst: np.array([i for i, d in enumerate(dsts) if d == s.dst],
                                     dtype=np.int64) for s in plan}

    def at(self, ts: float) -> list[float]:
        boost = np.zeros(self.size)
        for surge in self.plan:
            if surge.start < ts < surge.end:
                boost[self.rows[surge.dst]] += surge.gain * surge.shape(ts)
        return boost.tolist()
