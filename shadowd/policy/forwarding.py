"""Walk routers' forwarding tables the way packets would: per demand, every ECMP branch
from the source to the destination, splitting evenly at each hop as routers hash.

Pure: the tables come in (the lab's RIBs, ``shadowd.lab.fidelity.Table`` per router, or
the model's), and out come the load each link direction carries, the demands that reach a
router with no route (unreachable) and those whose branches revisit a router (a loop).
That is how a policy's predicted effect is checked against real routers' choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Tables = Mapping[str, Mapping[str, frozenset[str]]]  # router -> destination -> link ids
Ends = Mapping[str, tuple[str, str]]  # link id -> (a, b)
Demands = Mapping[str, Mapping[str, float]]  # src -> dst -> bit/s


@dataclass(slots=True)
class Walk:
    loads: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (link, from, to)
    unreachable: list[tuple[str, str]] = field(default_factory=list)  # (src, dst)
    loops: list[tuple[str, str]] = field(default_factory=list)

    def utilisation(self, capacity: Mapping[str, float]) -> dict[tuple[str, str, str], float]:
        return {key: load / capacity[key[0]] for key, load in self.loads.items()
                if capacity.get(key[0], 0.0) > 0.0}


def walk(tables: Tables, ends: Ends, demands: Demands) -> Walk:
    """Every demand along the tables' next hops; a demand from or to a router that has no
    table (it is down) counts as unreachable."""
    out = Walk()
    walker = _Walker(tables, ends, out.loads)
    for src, row in sorted(demands.items()):
        for dst, rate in sorted(row.items()):
            if rate <= 0.0:
                continue
            known = src in tables and (dst in tables or walker.routed(dst))
            verdict = walker.follow(src, dst, rate, (src,)) if known else "unreachable"
            if verdict == "loop":
                out.loops.append((src, dst))
            elif verdict == "unreachable":
                out.unreachable.append((src, dst))
    return out


@dataclass(slots=True)
class _Walker:
    tables: Tables
    ends: Ends
    loads: dict[tuple[str, str, str], float]

    def routed(self, dst: str) -> bool:
        return any(dst in table for table in self.tables.values())

    def follow(self, at: str, dst: str, amount: float, path: tuple[str, ...]) -> str:
        """Send ``amount`` from ``at`` toward ``dst``: "ok", "unreachable" or "loop" (the
        worst any branch met). Loads are added as they go, so a broken demand still shows
        where its traffic went before it broke."""
        if at == dst:
            return "ok"
        hops = sorted(self.tables.get(at, {}).get(dst, frozenset()))
        if not hops:
            return "unreachable"
        share, worst = amount / len(hops), "ok"
        for link in hops:
            a, b = self.ends[link]
            nxt = b if at == a else a
            key = (link, at, nxt)
            self.loads[key] = self.loads.get(key, 0.0) + share
            if nxt in path:
                return "loop"
            verdict = self.follow(nxt, dst, share, (*path, nxt))
            worst = verdict if verdict != "ok" else worst
            if worst == "loop":
                return worst
        return worst
