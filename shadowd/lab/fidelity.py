"""Fidelity: do the lab's routers forward the way the model says they should?

For every running router and every other router's loopback, the lab's next hops (the
selected route in ``show ip route json``, its active next hops, mapped from interface to
link) are compared with the model's ECMP next hops (links) towards that router. A route
agrees when both sets are equal, including both being empty (unreachable in both).
Everything here is pure: the RIB text comes in, a report goes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from shadowd.lab.plan import LabPlan

NextHops = frozenset[str]  # link ids
Table = dict[str, NextHops]  # destination router -> next hops


class RouteDiff(msgspec.Struct, frozen=True, kw_only=True):
    router: str
    destination: str
    model: list[str]  # link ids, sorted; [] = unreachable
    lab: list[str]


class FidelityReport(msgspec.Struct, frozen=True, kw_only=True):
    routes: int  # (router, destination) pairs compared
    agreeing: int
    differences: list[RouteDiff]
    lsn: int = 0  # the state the model side was read at

    @property
    def agreement(self) -> float:
        return self.agreeing / self.routes if self.routes else 1.0


def lab_table(plan: LabPlan, router: str, rib: Mapping[str, Any]) -> Table:
    """``router``'s next hops towards every other router's loopback, from its RIB JSON."""
    by_ifname = plan.by_ifname(router)
    table: Table = {}
    for dst in plan.routers.values():
        if dst.name == router:
            continue
        hops = _selected_hops(rib.get(f"{dst.loopback}/32", []))
        links = frozenset(by_ifname[h].id for h in hops if h in by_ifname)
        if links:
            table[dst.name] = links
    return table


def _selected_hops(entries: Any) -> list[str]:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("selected"):
            return [nh["interfaceName"] for nh in entry.get("nexthops", [])
                    if nh.get("active") and "interfaceName" in nh]
    return []


def compare(model: Mapping[str, Table], lab: Mapping[str, Table], destinations: list[str],
            lsn: int = 0) -> FidelityReport:
    """Route by route: from each router in ``model`` (the running ones) to every one of
    ``destinations`` (all routers, so routes to a failed one must be gone too)."""
    routes = agreeing = 0
    diffs: list[RouteDiff] = []
    for router in sorted(model):
        want, got = model[router], lab.get(router, {})
        for dst in destinations:
            if dst == router:
                continue
            routes += 1
            m, g = want.get(dst, frozenset()), got.get(dst, frozenset())
            if m == g:
                agreeing += 1
            else:
                diffs.append(RouteDiff(router=router, destination=dst, model=sorted(m),
                                       lab=sorted(g)))
    return FidelityReport(routes=routes, agreeing=agreeing, differences=diffs, lsn=lsn)
