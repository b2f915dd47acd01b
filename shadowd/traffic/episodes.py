"""Spike episodes: the ground truth a backtest scores predictions against.

``EpisodeFinder`` reads any trace's counters and returns its spike episodes, the maximal
intervals a directed link's utilisation is over a threshold (runs less than
``merge_gap_s`` apart are one episode), each labelled with its cause: ``failure`` if a
link or router was down during it, else ``surge`` if a surge was under way, else
``load``. ``ground_truth`` generates a trace (``shadowd.traffic.trace``) and runs the
finder over it with the trace's surge plan.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec

from shadowd.core.events import (
    AnyEvent,
    LinkAdded,
    LinkCapacity,
    LinkStatus,
    LinkUtilization,
    RouterHealth,
)
from shadowd.traffic.trace import LinkLoads, Surge, TraceSpec, generate, surges

Cause = Literal["surge", "failure", "load"]


class SpikeEpisode(msgspec.Struct, frozen=True, kw_only=True):
    """A maximal interval a directed link's utilisation was over the threshold."""

    link: str
    direction: Literal["ab", "ba"]
    start: float  # the first sample over
    end: float  # the last sample over
    peak_util: float
    cause: Cause = "load"


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    threshold: float
    surges: list[Surge]
    episodes: list[SpikeEpisode]


@dataclass
class _Run:
    start: float
    end: float
    peak: float
    over: bool  # the last sample was over the threshold


class EpisodeFinder:
    """Spike episodes from a trace's counters, fed batch by batch (``feed``)."""

    def __init__(self, threshold: float, merge_gap_s: float = 1800.0) -> None:
        self.threshold, self.merge_gap_s = threshold, merge_gap_s
        self.capacity: dict[str, float] = {}
        self.runs: dict[tuple[str, str], _Run] = {}
        self.closed: list[tuple[str, str, _Run]] = []
        self.down: dict[str, float] = {}  # what is down (a link, or router:NAME) since when
        self.outages: list[tuple[float, float]] = []
        self.last_ts = -math.inf

    def feed(self, batch: list[AnyEvent]) -> None:
        for event in batch:
            self.last_ts = max(self.last_ts, event.ts)
            if isinstance(event, LinkAdded | LinkCapacity):
                self.capacity[event.link] = event.capacity_bps
            elif isinstance(event, LinkStatus):
                self._status(event.link, event.up, event.ts)
            elif isinstance(event, RouterHealth):
                self._status(f"router:{event.router}", event.up, event.ts)
            elif isinstance(event, LinkUtilization) and self.capacity.get(event.link):
                capacity = self.capacity[event.link]
                self._sample(event.link, "ab", event.ab_bps / capacity, event.ts)
                self._sample(event.link, "ba", event.ba_bps / capacity, event.ts)

    def episodes(self, plan: Sequence[Surge] = ()) -> list[SpikeEpisode]:
        """Every episode so far (runs still open end at their last sample over)."""
        outages = self.outages + [(t, self.last_ts) for t in self.down.values()]
        runs = self.closed + [(link, d, run) for (link, d), run in self.runs.items()]
        found = [SpikeEpisode(link=link, direction="ab" if d == "ab" else "ba", start=r.start,
                              end=r.end, peak_util=r.peak,
                              cause=_cause(r.start, r.end, outages, plan))
                 for link, d, r in runs]
        return sorted(found, key=lambda e: (e.start, e.link, e.direction))

    def _status(self, what: str, up: bool, ts: float) -> None:
        if not up:
            self.down.setdefault(what, ts)
        elif what in self.down:
            self.outages.append((self.down.pop(what), ts))

    def _sample(self, link: str, direction: str, util: float, ts: float) -> None:
        key = (link, direction)
        run = self.runs.get(key)
        if util <= self.threshold:
            if run is not None:
                run.over = False
            return
        if run is not None and (run.over or ts - run.end <= self.merge_gap_s):
            run.end, run.peak, run.over = ts, max(run.peak, util), True
            return
        if run is not None:
            self.closed.append((link, direction, run))
        self.runs[key] = _Run(start=ts, end=ts, peak=util, over=True)


def _cause(start: float, end: float, outages: list[tuple[float, float]],
           plan: Sequence[Surge]) -> Cause:
    if any(down <= end and start <= up for down, up in outages):
        return "failure"
    if any(s.start <= end and start <= s.end for s in plan):
        return "surge"
    return "load"


def ground_truth(spec: TraceSpec, topology: list[AnyEvent], link_loads: LinkLoads,
                 threshold: float = 0.8, merge_gap_s: float = 1800.0) -> GroundTruth:
    """Generate the trace of ``spec`` and return its surges and spike episodes."""
    finder = EpisodeFinder(threshold, merge_gap_s)
    for batch in generate(spec, topology, link_loads):
        finder.feed(batch)
    plan = surges(spec, topology, link_loads)
    return GroundTruth(threshold=threshold, surges=plan, episodes=finder.episodes(plan))
