"""FRR routers as production: vtysh JSON for topology, netlink for counters.

Per configured router (a vtysh pathspace, ``vtysh -N``, and the network namespace of its
interfaces) each poll reads ``show interface json`` (state, speed, addresses), the IGP's
costs and adjacencies, and the interface counters through netlink (pyroute2 in the
namespace). The IGP is the reader's ``igp``: OSPF reads ``show ip ospf interface json``,
``show ip ospf neighbor json`` and ``show ip ospf json`` (router id); IS-IS reads
``show isis interface detail json`` (per-level metrics) and ``show isis neighbor json``
(FRR 8 has no IS-IS command that prints an IPv4 router id, so its routers have no
loopback).

Links are the interface pairs of two configured routers that share an IPv4 subnet, so a
link whose adjacency is gone stays known and is reported down rather than removed. A link
is up while both interfaces are operationally up and, where both run the IGP, an adjacency
on it is up (OSPF: Full; IS-IS: Up). Metric = the a-side cost (OSPF cost, IS-IS metric of
the circuit's level 1, else level 2), reverse metric = the b side's; capacity =
the slower interface's speed. Rates are the transmit-byte deltas of each end over the
time between polls (a->b is what a sends); drops and errors are those of the interval.

A router whose vtysh does not answer is reported down, with its links as last seen, down.
The parsing and the inference are pure functions; ``FrrReader`` does the I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from shadowd import logs
from shadowd.agent.config import FrrReaderConfig, FrrRouterConfig
from shadowd.core.state import Link, Router, State
from shadowd.shell import vtysh_json

DEFAULT_COST: Final = 10
MAX_LINK_ID: Final = 64


class Iface(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    up: bool
    speed_mbit: int = 0
    networks: tuple[str, ...] = ()  # IPv4 subnets, "10.0.0.0/30"
    igp: bool = False  # the IGP (OSPF or IS-IS) runs on this interface
    cost: int | None = None
    adjacent: bool = False  # an up adjacency on it (OSPF Full, IS-IS Up)


class RouterReading(msgspec.Struct, frozen=True, kw_only=True):
    router_id: str | None = None
    ifaces: dict[str, Iface] = msgspec.field(default_factory=dict)


class IfCounters(msgspec.Struct, frozen=True, kw_only=True):
    tx_bytes: int
    rx_bytes: int
    drops: int
    errors: int


class IfRates(msgspec.Struct, frozen=True, kw_only=True):
    """One interface over one poll interval."""

    tx_bps: float = 0.0
    rx_bps: float = 0.0
    drops: int = 0
    errors: int = 0


class LinkEnds(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    a: str
    a_iface: str
    b: str
    b_iface: str


# --- parsing vtysh JSON (pure) -------------------------------------------------------------


def parse_router(interfaces: Mapping[str, Any], ospf_interfaces: Mapping[str, Any],
                 ospf_neighbors: Mapping[str, Any], ospf: Mapping[str, Any]) -> RouterReading:
    """One OSPF router's reading from the JSON of its four ``show`` commands."""
    costs = ospf_interfaces.get("interfaces", ospf_interfaces)
    igp: dict[str, int | None] = {}
    for name, ospf_if in (costs.items() if isinstance(costs, dict) else ()):
        if isinstance(ospf_if, dict) and ospf_if.get("ospfEnabled", True):
            cost = ospf_if.get("cost")
            igp[name] = cost if isinstance(cost, int) else None
    return _reading(interfaces, igp, _full_adjacency_ifaces(ospf_neighbors),
                    router_id=ospf.get("routerId"))


def parse_isis_router(interfaces: Mapping[str, Any], isis_interfaces: Mapping[str, Any],
                      isis_neighbors: Mapping[str, Any]) -> RouterReading:
    """One IS-IS router's reading from ``show interface json``, ``show isis interface
    detail json`` and ``show isis neighbor json``."""
    igp: dict[str, int | None] = {}
    for circuit in _isis_circuits(isis_interfaces):
        iface = circuit.get("interface")
        if isinstance(iface, dict) and isinstance(iface.get("name"), str):
            igp[iface["name"]] = _isis_metric(iface.get("levels"))
    up = set()
    for circuit in _isis_circuits(isis_neighbors):
        iface = circuit.get("interface")  # a name; a dict in the "detail" form
        name = iface.get("name") if isinstance(iface, dict) else iface
        state = iface.get("state") if isinstance(iface, dict) else circuit.get("state")
        if isinstance(name, str) and state == "Up":
            up.add(name)
    return _reading(interfaces, igp, up, router_id=None)


def _isis_circuits(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The circuit entries of every area (a gone adjacency leaves ``{"circuit": 0}``)."""
    out = []
    for area in data.get("areas", []):
        if isinstance(area, dict):
            out += [c for c in area.get("circuits", []) if isinstance(c, dict)]
    return out


def _isis_metric(levels: Any) -> int | None:
    """The circuit's level-1 metric if it runs level 1, else its level-2 metric."""
    metrics = {}
    for level in levels if isinstance(levels, list) else []:
        if isinstance(level, dict) and isinstance(level.get("metric"), int):
            metrics[str(level.get("level"))] = level["metric"]
    return metrics.get("L1", metrics.get("L2"))


def _reading(interfaces: Mapping[str, Any], igp: Mapping[str, int | None],
             adjacent: set[str], *, router_id: str | None) -> RouterReading:
    """Interfaces from ``show interface json``; ``igp`` = the IGP's interfaces and their
    costs, ``adjacent`` = those with an up adjacency."""
    ifaces = {}
    for name, info in interfaces.items():
        if not isinstance(info, dict):
            continue
        ifaces[name] = Iface(
            name=name, up=info.get("operationalStatus") == "up",
            speed_mbit=int(info.get("speed") or 0), networks=_networks(info),
            igp=name in igp, cost=igp.get(name), adjacent=name in adjacent)
    return RouterReading(router_id=router_id, ifaces=ifaces)


def _networks(info: Mapping[str, Any]) -> tuple[str, ...]:
    out = []
    for entry in info.get("ipAddresses", []):
        try:
            iface = ipaddress.ip_interface(entry.get("address", ""))
        except ValueError:
            continue
        if iface.version == 4 and iface.network.prefixlen < 32:
            out.append(str(iface.network))
    return tuple(out)


def _full_adjacency_ifaces(ospf_neighbors: Mapping[str, Any]) -> set[str]:
    """Interfaces with a Full neighbour; FRR names them ``"eth0:10.0.0.1"``."""
    out = set()
    for entries in ospf_neighbors.get("neighbors", {}).values():
        for nbr in entries if isinstance(entries, list) else [entries]:
            state = str(nbr.get("nbrState") or nbr.get("state") or "")
            if state.startswith("Full"):
                out.add(str(nbr.get("ifaceName", "")).split(":", 1)[0])
    return out


# --- inference (pure) ----------------------------------------------------------------------


def link_id(a: str, a_iface: str, b: str, b_iface: str) -> str:
    name = f"{a}:{a_iface}--{b}:{b_iface}"
    if len(name) <= MAX_LINK_ID:
        return name
    return f"{a[:20]}--{b[:20]}-{hashlib.blake2b(name.encode(), digest_size=8).hexdigest()}"


def infer_links(readings: Mapping[str, RouterReading]) -> list[LinkEnds]:
    """Interface pairs of two different routers on one subnet (a = the lower name)."""
    by_net: dict[str, list[tuple[str, str]]] = {}
    for router, reading in sorted(readings.items()):
        for iface in sorted(reading.ifaces.values(), key=lambda i: i.name):
            for net in iface.networks:
                by_net.setdefault(net, []).append((router, iface.name))
    links = {}
    for ends in by_net.values():
        if len(ends) != 2 or ends[0][0] == ends[1][0]:
            continue  # a LAN or a subnet inside one router: not a point-to-point link
        (a, ai), (b, bi) = sorted(ends)
        lid = link_id(a, ai, b, bi)
        links[lid] = LinkEnds(id=lid, a=a, a_iface=ai, b=b, b_iface=bi)
    return [links[k] for k in sorted(links)]


def link_up(a: Iface, b: Iface) -> bool:
    if not (a.up and b.up):
        return False
    return not (a.igp and b.igp) or a.adjacent or b.adjacent


def build_state(readings: Mapping[str, RouterReading], alive: Mapping[str, bool],
                rates: Mapping[tuple[str, str], IfRates], *,
                default_capacity_bps: float) -> State:
    """The network view from the routers' readings and their interfaces' rates."""
    state = State(routers={name: Router(name=name, up=alive.get(name, False),
                                        loopback=readings[name].router_id)
                           for name in readings})
    for ends in infer_links(readings):
        ai = readings[ends.a].ifaces[ends.a_iface]
        bi = readings[ends.b].ifaces[ends.b_iface]
        speeds = [s for s in (ai.speed_mbit, bi.speed_mbit) if s > 0]
        ar = rates.get((ends.a, ends.a_iface), IfRates())
        br = rates.get((ends.b, ends.b_iface), IfRates())
        up = link_up(ai, bi) and alive.get(ends.a, False) and alive.get(ends.b, False)
        state.links[ends.id] = Link(
            id=ends.id, a=ends.a, b=ends.b, metric=ai.cost or DEFAULT_COST,
            reverse_metric=bi.cost or DEFAULT_COST,
            capacity_bps=min(speeds) * 1e6 if speeds else default_capacity_bps, up=up,
            ab_bps=ar.tx_bps if up else 0.0, ba_bps=br.tx_bps if up else 0.0,
            drops=ar.drops + br.drops, errors=ar.errors + br.errors)
    return state


def interval_rates(previous: Mapping[tuple[str, str], tuple[float, IfCounters]],
                   current: Mapping[tuple[str, str], tuple[float, IfCounters]],
                   ) -> dict[tuple[str, str], IfRates]:
    """Per interface: bits per second sent and received, drops and errors, over the time
    between two counter readings (none for an interface seen once or reset)."""
    out = {}
    for key, (t1, c1) in current.items():
        before = previous.get(key)
        if before is None or t1 <= before[0]:
            continue
        t0, c0 = before
        if c1.tx_bytes < c0.tx_bytes or c1.rx_bytes < c0.rx_bytes:
            continue  # counters reset (interface re-created)
        dt = t1 - t0
        out[key] = IfRates(tx_bps=(c1.tx_bytes - c0.tx_bytes) * 8 / dt,
                           rx_bps=(c1.rx_bytes - c0.rx_bytes) * 8 / dt,
                           drops=max(0, c1.drops - c0.drops),
                           errors=max(0, c1.errors - c0.errors))
    return out


# --- the shell ------------------------------------------------------------------------------

SHOW_COMMANDS: Final = ("show interface json", "show ip ospf interface json",
                        "show ip ospf neighbor json", "show ip ospf json")
ISIS_SHOW_COMMANDS: Final = ("show interface json", "show isis interface detail json",
                             "show isis neighbor json")


class FrrReader:
    def __init__(self, routers: list[FrrRouterConfig], *, igp: Literal["ospf", "isis"] = "ospf",
                 vtysh: str = "vtysh", default_capacity_bps: float = 1e9,
                 timeout_s: float = 10.0) -> None:
        self.routers = routers
        self.igp = igp
        self.vtysh = vtysh
        self.default_capacity_bps = default_capacity_bps
        self.timeout_s = timeout_s
        self.done = False
        self._last: dict[str, RouterReading] = {}
        self._counters: dict[tuple[str, str], tuple[float, IfCounters]] = {}
        self._log = logs.get_logger(component="agent.frr")

    @classmethod
    def from_config(cls, config: FrrReaderConfig) -> FrrReader:
        return cls(config.routers, igp=config.igp, vtysh=config.vtysh,
                   default_capacity_bps=config.default_capacity_bps, timeout_s=config.timeout_s)

    async def poll(self, now: float) -> State:
        results = await asyncio.gather(*(self._read(r) for r in self.routers),
                                       return_exceptions=True)
        alive = {}
        for router, result in zip(self.routers, results, strict=True):
            if isinstance(result, RouterReading):
                self._last[router.name] = result
                alive[router.name] = True
            else:
                self._log.warning("router unreadable", router=router.name, error=str(result))
                self._last.setdefault(router.name, RouterReading())
                alive[router.name] = False
        counters = await asyncio.to_thread(self._read_counters, now)
        rates = interval_rates(self._counters, counters)
        self._counters = counters
        return build_state(self._last, alive, rates,
                           default_capacity_bps=self.default_capacity_bps)

    async def close(self) -> None:
        self.done = True

    async def _read(self, router: FrrRouterConfig) -> RouterReading:
        pathspace = router.pathspace if router.pathspace is not None else router.namespace
        if self.igp == "isis":
            outputs = await asyncio.gather(*(self._vtysh(pathspace, c)
                                             for c in ISIS_SHOW_COMMANDS))
            return parse_isis_router(*outputs)
        outputs = await asyncio.gather(*(self._vtysh(pathspace, c) for c in SHOW_COMMANDS))
        return parse_router(*outputs)

    async def _vtysh(self, pathspace: str, command: str) -> dict[str, Any]:
        return await vtysh_json(pathspace, command, vtysh=self.vtysh, timeout_s=self.timeout_s)

    def _read_counters(self, now: float) -> dict[tuple[str, str], tuple[float, IfCounters]]:
        out = {}
        for router in self.routers:
            try:
                for name, counters in read_netns_counters(router.namespace).items():
                    out[(router.name, name)] = (now, counters)
            except OSError as err:
                self._log.warning("counters unreadable", router=router.name, error=str(err))
        return out


def read_netns_counters(namespace: str) -> dict[str, IfCounters]:
    """Interface counters (IFLA_STATS64) of every link in ``namespace`` ("" = our own)."""
    from pyroute2 import IPRoute, NetNS  # noqa: PLC0415 - only the FRR reader needs netlink

    with NetNS(namespace) if namespace else IPRoute() as nl:
        links = nl.get_links()
    out = {}
    for link in links:
        stats = link.get("IFLA_STATS64")
        name = link.get("IFLA_IFNAME")
        if stats is None or name is None:
            continue
        out[name] = IfCounters(
            tx_bytes=stats.get("tx_bytes"), rx_bytes=stats.get("rx_bytes"),
            drops=stats.get("rx_dropped") + stats.get("tx_dropped"),
            errors=stats.get("rx_errors") + stats.get("tx_errors"))
    return out
