"""The BGP settings production runs, as the shadow lab must run them (pure).

Every deployed BGP policy (status ``deployed``, in the order their rollouts completed)
folds into one ``PeerPolicy`` per peer (``bgp.policy_of``), as the model uses them. The
lab holds them per (egress router, peer), in the inbound route-map of that peer's session
(``route-map PEER-<peer>-in permit 10``). A policy rolled back (or aborted) is not
deployed, so its settings leave the lab again.

``route_maps(state)`` is what the lab should run, ``edits(have, want)`` the settings that
differ between two such maps, and ``edit_lines`` the vtysh lines that make them, spelled
by the same renderer the FRR driver uses on production (``render.commands`` and
``render.refresh``); a setting back at its default is cleared (``no set ...``), so a lab
whose policies are all rolled back runs the bare stanzas it started with.
``shadowd.services.mirror.lab_route_maps()`` wires them to the lab's side
(``shadowd.lab.route_maps.RouteMapSync``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias

from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.igp import Igp
from shadowd.core.state import PolicyEntry, State
from shadowd.policy.bgp import BGP_ATTRS, BgpAttr, BgpPolicy, PeerPolicy, policy_of
from shadowd.policy.render import commands, refresh, slot
from shadowd.policy.targets import Target

RouteMaps: TypeAlias = dict[tuple[str, str], PeerPolicy]  # (egress router, peer) -> settings
DEFAULT: Final = PeerPolicy()


@dataclass(frozen=True, slots=True)
class Edit:
    """One setting of one peer's route-map: ``value`` None (or the default) clears it."""

    router: str
    peer: str
    attr: BgpAttr
    value: int | None

    def change(self) -> PolicyChange:
        value = self.value or 0
        return PolicyChange(router=self.router, target=self.peer,
                            attr=self.attr, old=value, new=value)

    @property
    def clears(self) -> bool:
        return self.value is None or self.value == getattr(DEFAULT, self.attr)


def deployed_bgp(state: State) -> list[PolicyProposed]:
    """The deployed BGP policies, in the order their rollouts completed."""
    entries = [e for e in state.policies.values()
               if e.status == "deployed" and e.proposal.kind == "bgp"]
    return [e.proposal for e in sorted(entries, key=_completed)]


def _completed(entry: PolicyEntry) -> tuple[float, int]:
    last = entry.steps[-1] if entry.steps else None  # the "completed" step is kept last
    return (last.ts, last.seq) if last is not None else (0.0, 0)


def route_maps(state: State) -> RouteMaps:
    """What every peer's inbound route-map on its egress router sets (peers in the state,
    at their defaults left out)."""
    policy = policy_of(deployed_bgp(state))
    return {(state.peers[name].router, name): settings
            for name, settings in sorted(policy.items())
            if name in state.peers and settings != DEFAULT}


def edits(have: Mapping[tuple[str, str], PeerPolicy],
          want: Mapping[tuple[str, str], PeerPolicy]) -> list[Edit]:
    """The settings that differ from ``have`` to ``want``, with ``want``'s values."""
    out = []
    for router, peer in sorted(have.keys() | want.keys()):
        before, after = have.get((router, peer), DEFAULT), want.get((router, peer), DEFAULT)
        out += [Edit(router, peer, attr, getattr(after, attr)) for attr in BGP_ATTRS
                if getattr(before, attr) != getattr(after, attr)]
    return out


def edit_lines(todo: list[Edit], target: Target, igp: Igp) -> dict[str, list[str]]:
    """Per router, one vtysh session's lines: the settings, then the soft refresh of the
    sessions whose route-maps changed."""
    out: dict[str, list[str]] = {}
    for router in sorted({e.router for e in todo}):
        mine = [e for e in todo if e.router == router]
        config = [ln for e in mine for ln in _lines(e, target, igp)]
        out[router] = ["configure terminal", *config, "end",
                       *refresh([e.change() for e in mine], target)]
    return out


def _lines(edit: Edit, target: Target, igp: Igp) -> list[str]:
    change = edit.change()
    if not edit.clears:
        return commands(change, target, igp)
    where = slot(change, target, igp)
    return [where.header, f"no {where.key}", "exit"]


def running_bgp(state: State) -> BgpPolicy:
    """The BGP settings production runs: every deployed BGP policy, in order."""
    return policy_of(deployed_bgp(state))
