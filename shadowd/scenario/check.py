"""What a scenario means, and whether it makes sense: on its own, and against a network.

``static_problem(spec)`` finds what is wrong with a scenario whatever the network (rate
and factor both given, a bad rate unit, a ramp longer than the surge...);
``state_problem(spec, state)`` what is wrong with it on ``state`` (unknown link, router
or SRLG, a "degradation" that raises capacity, two steps changing the same thing at the
same time). Both return the first problem as ``(key, reason)``, ``key`` a ``$.path``.

The resolvers (``surge_sources``, ``srlg_links``, ``new_capacity``...) say what an
action does on a state, for the timeline compiler; they assume a valid scenario.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from shadowd.core.state import State
from shadowd.core.units import parse_rate
from shadowd.scenario.spec import (
    Action,
    AnyScenario,
    CapacityDegradation,
    Custom,
    LinkCut,
    LinkFlap,
    RouterFailure,
    SrlgCut,
    Surge,
    actions,
)

Problem = tuple[str, str]  # ($.path, reason)
Resource = tuple[str, ...]  # ("link", id), ("router", name), ("demand", src, dst)...


class _Bad(Exception):
    def __init__(self, key: str, reason: str):
        super().__init__(reason)
        self.key, self.reason = key, reason


MAX_CHANGES: Final = 10_000  # what one scenario may expand to, checked before it is


def changes(action: object) -> int:
    """How many changes ``action`` expands to in a timeline (a flap: two per cycle)."""
    if isinstance(action, LinkFlap):
        return 2 * action.count
    if isinstance(action, Surge):
        return 2 * (action.ramp_steps + 1)
    return 2


def static_problem(spec: AnyScenario) -> Problem | None:
    expanded = sum(changes(action) for _, _, action in actions(spec))
    if expanded > MAX_CHANGES:
        key = "$.steps" if isinstance(spec, Custom) else "$"
        return key, (f"expands to {expanded:,} changes, over the limit of {MAX_CHANGES:,} "
                     "per scenario")
    try:
        for _, path, action in actions(spec):
            for kind, check in _STATIC.items():
                if isinstance(action, kind):
                    check(action, path)
    except _Bad as bad:
        return bad.key, bad.reason
    return None


def state_problem(spec: AnyScenario, state: State) -> Problem | None:
    try:
        for _, path, action in actions(spec):
            _check_on(action, path, state)
        _check_overlaps(spec, state)
    except _Bad as bad:
        return bad.key, bad.reason
    return None


# --- what an action does --------------------------------------------------------------


def rate_bps(value: str | float, key: str) -> float:
    try:
        rate = parse_rate(value, key.rsplit(".", 1)[-1])
    except ValueError as err:
        raise _Bad(key, str(err)) from None
    if rate <= 0.0:
        raise _Bad(key, f"{value!r} must be more than 0 bit/s")
    return rate


def surge_sources(surge: Surge, state: State) -> list[str]:
    """The routers that send the surge: as listed, or every other router ("all"); with
    ``factor``, "all" means every router with a demand toward the target."""
    if surge.sources != "all":
        return list(surge.sources)
    others = sorted(r for r in state.routers if r != surge.target)
    if surge.factor is None:
        return others
    return [r for r in others if state.demands.get(r, {}).get(surge.target, 0.0) > 0.0]


def srlg_links(cut: SrlgCut, state: State) -> list[str]:
    if cut.links:
        return list(cut.links)
    return sorted(k for k, link in state.links.items() if cut.srlg in link.srlgs)


def new_capacity(degradation: CapacityDegradation, state: State) -> float:
    if degradation.capacity is not None:
        return rate_bps(degradation.capacity, "$.capacity")
    assert degradation.factor is not None
    return state.links[degradation.link].capacity_bps * degradation.factor


def flap_down_s(flap: LinkFlap) -> float:
    return flap.down_s if flap.down_s is not None else flap.period_s / 2


def span_s(action: Action) -> float:
    """How long the action keeps the network changed, from its start to its restoration."""
    if isinstance(action, LinkFlap):
        return (action.count - 1) * action.period_s + flap_down_s(action)
    if isinstance(action, LinkCut | RouterFailure | SrlgCut | Surge | CapacityDegradation):
        return action.duration_s
    raise TypeError(f"not an action: {action!r}")


def resources(action: Action, state: State) -> Iterator[Resource]:
    """What the action changes; two steps must not change one thing at the same time."""
    if isinstance(action, LinkCut | LinkFlap):
        yield ("link status", action.link)
    elif isinstance(action, SrlgCut):
        yield from (("link status", link) for link in srlg_links(action, state))
    elif isinstance(action, RouterFailure):
        yield ("router", action.router)
    elif isinstance(action, CapacityDegradation):
        yield ("capacity", action.link)
    elif isinstance(action, Surge):
        yield from (("demand", src, action.target) for src in surge_sources(action, state))


# --- checks without a network ---------------------------------------------------------


def _one_of(action: Action, path: str, first: str, second: str) -> None:
    given = [k for k in (first, second) if getattr(action, k) is not None]
    if len(given) != 1:
        how = "both" if given else "neither"
        raise _Bad(f"{path}.{first}", f"give either {first!r} or {second!r} ({how} given)")


def _static_surge(surge: Surge, path: str) -> None:
    _one_of(surge, path, "rate", "factor")
    if surge.rate is not None:
        rate_bps(surge.rate, f"{path}.rate")
    if surge.ramp_s >= surge.duration_s:
        raise _Bad(f"{path}.ramp_s", f"ramp_s {surge.ramp_s:g} must be shorter than "
                   f"duration_s {surge.duration_s:g}")
    if surge.sources != "all":
        _unique(surge.sources, f"{path}.sources", "source")
        if surge.target in surge.sources:
            i = surge.sources.index(surge.target)
            raise _Bad(f"{path}.sources[{i}]", f"the target {surge.target!r} cannot be a source")


def _unique(names: list[str], key: str, what: str) -> None:
    if not names:
        raise _Bad(key, f"needs at least one {what}")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise _Bad(f"{key}[{i}]", f"{what} {name!r} is listed twice")
        seen.add(name)


def _static_degradation(degradation: CapacityDegradation, path: str) -> None:
    _one_of(degradation, path, "capacity", "factor")
    if degradation.capacity is not None:
        rate_bps(degradation.capacity, f"{path}.capacity")


def _static_flap(flap: LinkFlap, path: str) -> None:
    if flap.down_s is not None and flap.down_s >= flap.period_s:
        raise _Bad(f"{path}.down_s", f"down_s {flap.down_s:g} must be shorter than "
                   f"period_s {flap.period_s:g}")


def _static_srlg(cut: SrlgCut, path: str) -> None:
    if cut.links:
        _unique(cut.links, f"{path}.links", "link")


_STATIC: dict[type[Action], Callable[[Any, str], None]] = {
    Surge: _static_surge,
    CapacityDegradation: _static_degradation,
    LinkFlap: _static_flap,
    SrlgCut: _static_srlg,
}


# --- checks against a network ---------------------------------------------------------


def _link(state: State, link: str, key: str) -> None:
    if link not in state.links:
        raise _Bad(key, f"unknown link {link!r}")


def _router(state: State, router: str, key: str, what: str = "router") -> None:
    if router not in state.routers:
        raise _Bad(key, f"unknown {what} {router!r}")


def _check_on(action: Action, path: str, state: State) -> None:
    if isinstance(action, LinkCut | LinkFlap):
        _link(state, action.link, f"{path}.link")
    elif isinstance(action, RouterFailure):
        _router(state, action.router, f"{path}.router")
    elif isinstance(action, SrlgCut):
        _check_srlg(action, path, state)
    elif isinstance(action, CapacityDegradation):
        _check_degradation(action, path, state)
    elif isinstance(action, Surge):
        _check_surge(action, path, state)


def _check_srlg(cut: SrlgCut, path: str, state: State) -> None:
    for i, link in enumerate(cut.links):
        _link(state, link, f"{path}.links[{i}]")
    if not srlg_links(cut, state):
        raise _Bad(f"{path}.srlg", f"unknown SRLG {cut.srlg!r}: no link is in it (name its "
                   "links in 'links' when the network's inventory has no SRLGs)")


def _check_degradation(degradation: CapacityDegradation, path: str, state: State) -> None:
    _link(state, degradation.link, f"{path}.link")
    now = state.links[degradation.link].capacity_bps
    if degradation.capacity is not None and new_capacity(degradation, state) >= now:
        raise _Bad(f"{path}.capacity", f"{degradation.capacity!r} is not below the link's "
                   f"capacity of {now:.6g} bit/s")


def _check_surge(surge: Surge, path: str, state: State) -> None:
    _router(state, surge.target, f"{path}.target", "target router")
    if surge.sources != "all":
        for i, src in enumerate(surge.sources):
            _router(state, src, f"{path}.sources[{i}]", "source router")
    if surge.factor is None:
        return
    for i, src in enumerate(surge_sources(surge, state)):
        if state.demands.get(src, {}).get(surge.target, 0.0) <= 0.0:
            raise _Bad(f"{path}.sources[{i}]", f"{src!r} has no demand toward "
                       f"{surge.target!r} for 'factor' to multiply (use 'rate')")
    if not surge_sources(surge, state):
        raise _Bad(f"{path}.factor", f"no router has a demand toward {surge.target!r} for "
                   "'factor' to multiply (use 'rate')")


def _check_overlaps(spec: AnyScenario, state: State) -> None:
    """Two steps changing one link, router or demand at the same time would undo each
    other's restorations: refused. Back to back (one ends as the next starts) is fine."""
    held: dict[Resource, tuple[float, float, str]] = {}
    for start, path, action in sorted(actions(spec), key=lambda x: x[0]):
        end = start + span_s(action)
        for res in resources(action, state):
            was = held.get(res)
            if was is not None and start < was[1]:
                raise _Bad(path, f"changes {' '.join(res)} from {start:g} s while {was[2]} "
                           f"still does (until {was[1]:g} s)")
            held[res] = (start, end, path.removeprefix("$."))
