"""Predictive injection, the pure part: for each predicted spike, which scenarios to run in
the shadow, and when.

A spike's scenarios are injected together at ``peak_ts - lead_s``, never before the time
the spike was predicted (``now``): a spike whose peak is closer than the lead time is
injected at once. Time is an argument everywhere (log time: the telemetry's own clock),
and the scheduler exposes its next deadline for the shell to arm; nothing here reads a
clock or does I/O.

The scenarios that matter for a spike on one direction of a link (``choose``):

1. the link's worst-case failure (WAE's *WC failure*: the single link, router or SRLG
   failure that puts the most load on it), as a ``link_cut``, ``router_failure`` or
   ``srlg_cut`` lasting ``duration_s``; none when no failure adds load to it;
2. each SRLG the link belongs to (a shared duct, a landing station), as an ``srlg_cut``;
3. a surge toward the destination with the most traffic over the link: every demand
   toward it multiplied by ``surge_factor``.

At most ``max_runs`` of them, in that order. The shell reads the facts these choices need
(``SpikeFacts``) from the model, at the state of the log when the spike was predicted.

Usage, by the shell::

    injection = scheduler.expect(key, peak_ts, now)  # a spike: reserve its injection
    scheduler.plan(injection, facts)         # later: what to inject (the facts are known)
    for injection in scheduler.due(now): ... # log time passed their injection time
    scheduler.next_deadline()                # when the next injection is due

A spike is expected once (the same key again is a duplicate and ignored), and each
injection is handed out by ``due`` exactly once.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from shadowd.core.events import Direction
from shadowd.scenario.library import Scenario, scenario_of
from shadowd.scenario.spec import (
    AnyScenario,
    LinkCutScenario,
    RouterFailureScenario,
    SrlgCutScenario,
    SurgeScenario,
)

NAME_MAX = 64  # scenario names, as the library allows them

SpikeKey = tuple[str, Direction, float]  # link, direction, peak time


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    lead_s: float = 900.0
    max_runs: int = 3
    surge_factor: float = 2.0
    duration_s: float = 1800.0  # how long each chosen failure or surge lasts


@dataclass(frozen=True, slots=True)
class SpikeFacts:
    """What the choice of scenarios needs to know about a spiking link direction."""

    link: str
    direction: Direction
    worst_failure: str  # ``Failure.name``: "link:ID", "router:NAME", "srlg:NAME", "none"
    srlgs: tuple[str, ...] = ()  # the link's shared-risk groups
    heaviest_dst: str | None = None  # the destination with the most traffic over it


@dataclass(slots=True)
class Injection:
    """One spike's scenarios, to inject into the shadow at ``inject_at`` (log time)."""

    key: SpikeKey
    inject_at: float
    scenarios: list[Scenario] | None = None  # None: not planned yet (facts still coming)

    @property
    def trigger(self) -> str:
        link, direction, _ = self.key
        return f"spike:{link} {direction}"

    @property
    def peak_ts(self) -> float:
        return self.key[2]


def choose(facts: SpikeFacts, settings: SchedulerSettings) -> list[Scenario]:
    """The scenarios that matter for a spike on ``facts.link`` (see the module doc)."""
    specs: list[AnyScenario] = []
    worst = _failure_scenario(facts.worst_failure, settings.duration_s)
    if worst is not None:
        specs.append(worst)
    for group in facts.srlgs:
        specs.append(SrlgCutScenario(name=_name("srlg", group), srlg=group,
                                     duration_s=settings.duration_s,
                                     description=f"SRLG {group} of {facts.link} is cut"))
    if facts.heaviest_dst is not None:
        specs.append(SurgeScenario(
            name=_name("surge", facts.heaviest_dst), target=facts.heaviest_dst,
            factor=settings.surge_factor, duration_s=settings.duration_s,
            description=f"traffic toward {facts.heaviest_dst}, the heaviest destination "
                        f"over {facts.link}, x{settings.surge_factor:g}"))
    unique = list({spec.name: spec for spec in specs}.values())  # wc srlg == its srlg
    return [scenario_of(spec) for spec in unique[: settings.max_runs]]


def _failure_scenario(failure: str, duration_s: float) -> AnyScenario | None:
    kind, _, item = failure.partition(":")
    what = f"the worst-case failure ({failure}) of the spiking link"
    if kind == "link":
        return LinkCutScenario(name=_name("wc-link", item), link=item, duration_s=duration_s,
                               description=what)
    if kind == "router":
        return RouterFailureScenario(name=_name("wc-router", item), router=item,
                                     duration_s=duration_s, description=what)
    if kind == "srlg":
        return SrlgCutScenario(name=_name("srlg", item), srlg=item, duration_s=duration_s,
                               description=what)
    return None  # "none": no failure puts more on it; "links2" is not swept for spikes


def _name(prefix: str, item: str) -> str:
    """A library-valid name: letters, digits, '.', '_', '-', at most ``NAME_MAX``."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in item)
    return f"{prefix}-{safe}"[:NAME_MAX]


@dataclass
class Scheduler:
    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    _entries: dict[SpikeKey, Injection] = field(default_factory=dict)
    _queue: list[tuple[float, int, SpikeKey]] = field(default_factory=list)  # a heap
    _order: int = 0

    def expect(self, key: SpikeKey, peak_ts: float, now: float) -> Injection | None:
        """Reserve the injection of a spike predicted at ``now``; ``None`` if that spike
        is already expected (a duplicate) or its peak is not after ``now``."""
        if key in self._entries or peak_ts <= now:
            return None
        injection = Injection(key=key, inject_at=max(peak_ts - self.settings.lead_s, now))
        self._entries[key] = injection
        heapq.heappush(self._queue, (injection.inject_at, self._order, key))
        self._order += 1
        return injection

    def plan(self, injection: Injection, facts: SpikeFacts) -> list[Scenario]:
        """Choose what ``injection`` runs, once (later calls keep the first choice)."""
        if injection.scenarios is None:
            injection.scenarios = choose(facts, self.settings)
        return injection.scenarios

    def due(self, now: float) -> list[Injection]:
        """Injections whose time has come, earliest first; each is handed out once."""
        out = []
        while self._queue and self._queue[0][0] <= now:
            _, _, key = heapq.heappop(self._queue)
            out.append(self._entries[key])
        if out:
            self._forget(now)
        return out

    def next_deadline(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _forget(self, now: float) -> None:
        """Keep the keys of spikes still ahead (to refuse duplicates); drop the past."""
        queued = {key for _, _, key in self._queue}
        for key in [k for k in self._entries if k[2] <= now and k not in queued]:
            del self._entries[key]
