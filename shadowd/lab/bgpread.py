"""BGP as the lab's routers see it: the best route per prefix, from ``show ip bgp json``,
and the egress router and peer it leaves by. Pure: the JSON comes in, routes go out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from shadowd.lab.plan import LabPlan


class BgpBest(msgspec.Struct, frozen=True, kw_only=True):
    prefix: str
    nexthop: str  # the BGP next hop: an egress router's loopback, or a peer's address
    egress: str | None  # the egress router, "" when the next hop is not the lab's
    peer: str | None  # the peer it was learnt from, when that is known for sure
    external: bool  # learnt over eBGP by this router itself
    as_path: str = ""


def best_routes(lab: LabPlan, rib: Mapping[str, Any]) -> dict[str, BgpBest]:
    routes = rib.get("routes", {})
    out = {}
    for prefix, paths in (routes.items() if isinstance(routes, dict) else []):
        best = _best(paths)
        if best is not None:
            out[prefix] = _describe(lab, prefix, best)
    return out


def _best(paths: Any) -> dict[str, Any] | None:
    for path in paths if isinstance(paths, list) else []:
        if isinstance(path, dict) and path.get("bestpath"):
            return path
    return None


def _describe(lab: LabPlan, prefix: str, path: dict[str, Any]) -> BgpBest:
    hops = [h.get("ip", "") for h in path.get("nexthops", []) if isinstance(h, dict)]
    nexthop = hops[0] if hops else ""
    as_path = str(path.get("path", ""))
    external = path.get("pathFrom") == "external"
    by_addr = {p.peer_addr: p for p in lab.peers.values()}
    by_loopback = {r.loopback: r.name for r in lab.routers.values()}
    if nexthop in by_addr:
        peer = by_addr[nexthop]
        return BgpBest(prefix=prefix, nexthop=nexthop, egress=peer.router, peer=peer.name,
                       external=external, as_path=as_path)
    egress = by_loopback.get(nexthop)
    first_as = as_path.split(maxsplit=1)[0] if as_path else ""
    mine = [p.name for p in lab.peers_of(egress) if str(p.asn) == first_as] if egress else []
    return BgpBest(prefix=prefix, nexthop=nexthop, egress=egress,
                   peer=mine[0] if len(mine) == 1 else None, external=external,
                   as_path=as_path)
