"""A scenario compiled to a timeline: the events to apply, at offsets from its start.

``timeline(scenario, state)`` returns ``[(offset_s, [events...]), ...]`` in time order.
The events are ordinary log events (``LinkStatus``, ``RouterHealth``, ``LinkCapacity``,
``DemandSet``) stamped with the scenario's source (``scenario:NAME``), sequence numbers
from ``first_seq`` and ``ts = start ts + offset``, so one timeline drives the model
(``shadowd.scenario.run``) and the lab (``shadowd.services.drill.Step`` holds events) alike.

Every change is undone at the end of its action by a *restoration*: the value ``state``
had before (a link that was already down stays down; a demand that did not exist is
removed with rate 0). At one offset, restorations come before new changes, so back to
back steps on one link compose. A surge with ``ramp_s`` grows in ``ramp_steps`` equal
increments at ``ramp_s / ramp_steps``, ``2 * ramp_s / ramp_steps``, ... ``ramp_s``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Final, TypeAlias, TypedDict

import msgspec

from shadowd.core.events import AnyEvent, DemandSet, LinkCapacity, LinkStatus, RouterHealth
from shadowd.core.state import State
from shadowd.scenario.check import (
    flap_down_s,
    new_capacity,
    rate_bps,
    srlg_links,
    surge_sources,
)
from shadowd.scenario.library import Scenario, validate
from shadowd.scenario.spec import (
    Action,
    CapacityDegradation,
    LinkCut,
    LinkFlap,
    RouterFailure,
    SrlgCut,
    Surge,
    actions,
)

Timeline: TypeAlias = list[tuple[float, list[AnyEvent]]]


class _Stamp(TypedDict):
    source: str
    seq: int
    ts: float


_DRAFT: Final[_Stamp] = {"source": "scenario", "seq": 1, "ts": 0.0}  # ``timeline`` stamps


@dataclass(frozen=True, slots=True)
class _Change:
    at_s: float
    restore: bool
    events: list[AnyEvent]


def source_of(scenario: Scenario) -> str:
    return f"scenario:{scenario.name}"


def timeline(scenario: Scenario, state: State, *, ts: float = 0.0,
             source: str | None = None, first_seq: int = 1) -> Timeline:
    """The scenario's events on ``state`` (validated first: ``ScenarioError``)."""
    validate(scenario, state)
    changes: list[_Change] = []
    for offset, _, action in actions(scenario.spec):
        changes += _compile(action, offset, state)
    ordered = sorted(changes, key=lambda c: (c.at_s, not c.restore))  # stable: step order
    grouped: dict[float, list[AnyEvent]] = defaultdict(list)
    seq = first_seq
    for change in ordered:
        for event in change.events:
            grouped[change.at_s].append(msgspec.structs.replace(
                event, source=source or source_of(scenario), seq=seq, ts=ts + change.at_s))
            seq += 1
    return list(grouped.items())


def label(events: list[AnyEvent]) -> str:
    """What a timeline entry does, for people: ``link a--b down; router r up``."""
    parts: list[str] = []
    toward: dict[str, list[float]] = defaultdict(list)
    for event in events:
        if isinstance(event, LinkStatus):
            parts.append(f"link {event.link} {'up' if event.up else 'down'}")
        elif isinstance(event, RouterHealth):
            parts.append(f"router {event.router} {'up' if event.up else 'down'}")
        elif isinstance(event, LinkCapacity):
            parts.append(f"link {event.link} capacity {_si(event.capacity_bps)}")
        elif isinstance(event, DemandSet):
            toward[event.dst].append(event.rate_bps)
    parts += [f"{len(rates)} demand{'s' if len(rates) > 1 else ''} toward {dst} at "
              f"{_si(sum(rates))} in all" for dst, rates in toward.items()]
    return "; ".join(parts)


def _si(bps: float) -> str:
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if bps >= scale:
            return f"{bps / scale:.4g}{unit}bit/s"
    return f"{bps:.4g}bit/s"


# --- per kind -------------------------------------------------------------------------


def _compile(action: Action, t: float, state: State) -> list[_Change]:
    if isinstance(action, LinkCut):
        return _links_down([action.link], t, action.duration_s, state)
    if isinstance(action, SrlgCut):
        return _links_down(srlg_links(action, state), t, action.duration_s, state)
    if isinstance(action, RouterFailure):
        return _router_down(action, t, state)
    if isinstance(action, CapacityDegradation):
        return _capacity(action, t, state)
    if isinstance(action, LinkFlap):
        return _flap(action, t, state)
    if isinstance(action, Surge):
        return _surge(action, t, state)
    raise TypeError(f"not an action: {action!r}")


def _status(link: str, up: bool) -> LinkStatus:
    return LinkStatus(**_DRAFT, link=link, up=up)


def _links_down(links: list[str], t: float, duration: float, state: State) -> list[_Change]:
    return [_Change(t, False, [_status(k, False) for k in links]),
            _Change(t + duration, True, [_status(k, state.links[k].up) for k in links])]


def _router_down(action: RouterFailure, t: float, state: State) -> list[_Change]:
    was = state.routers[action.router]

    def health(up: bool) -> RouterHealth:
        return RouterHealth(**_DRAFT, router=was.name, up=up, cpu_pct=was.cpu_pct,
                            mem_pct=was.mem_pct)

    return [_Change(t, False, [health(False)]),
            _Change(t + action.duration_s, True, [health(was.up)])]


def _capacity(action: CapacityDegradation, t: float, state: State) -> list[_Change]:
    was = state.links[action.link].capacity_bps
    return [
        _Change(t, False, [LinkCapacity(**_DRAFT, link=action.link,
                                        capacity_bps=new_capacity(action, state))]),
        _Change(t + action.duration_s, True,
                [LinkCapacity(**_DRAFT, link=action.link, capacity_bps=was)]),
    ]


def _flap(action: LinkFlap, t: float, state: State) -> list[_Change]:
    down_s, was = flap_down_s(action), state.links[action.link].up
    out = []
    for i in range(action.count):
        start = t + i * action.period_s
        last = i == action.count - 1
        out += [_Change(start, False, [_status(action.link, False)]),
                _Change(start + down_s, True, [_status(action.link, was if last else True)])]
    return out


def _surge(action: Surge, t: float, state: State) -> list[_Change]:
    sources = surge_sources(action, state)
    base = {src: state.demands.get(src, {}).get(action.target, 0.0) for src in sources}
    if action.factor is not None:
        extra = {src: rate * (action.factor - 1.0) for src, rate in base.items()}
    else:
        total = _rate(action)
        extra = dict.fromkeys(sources, total / len(sources))
    steps = action.ramp_steps if action.ramp_s > 0.0 else 1

    def level(share: float) -> list[AnyEvent]:
        return [DemandSet(**_DRAFT, src=src, dst=action.target,
                          rate_bps=base[src] + share * extra[src]) for src in sources]

    out = [_Change(t + action.ramp_s * k / steps, False, level(k / steps))
           for k in range(1, steps + 1)]
    return [*out, _Change(t + action.duration_s, True, level(0.0))]


def _rate(action: Surge) -> float:
    assert action.rate is not None
    return rate_bps(action.rate, "$.rate")
