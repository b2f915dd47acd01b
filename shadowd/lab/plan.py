"""From the shadow's state to a lab plan: what the FRR lab should look like, as data.

The plan is pure: names, addresses, costs and rates, worked out from a ``State`` and the
lab's settings. ``plan(state, settings, previous)`` keeps every allocation of
``previous`` (a router keeps its loopback, a link its /31 and interface names) so that a
lab that follows the log changes only what the log changed.

Naming, so an operator can find things by hand:

- namespace and FRR pathspace of router R in lab ID: ``ID-R`` (``ip netns exec ID-R``,
  ``vtysh -N ID-R``), with the characters FRR refuses there (``.``, ``/``, spaces...)
  spelled ``_``: GEANT's ``de1.de`` is ``ID-de1_de``. Two routers whose names meet that
  way (``a.b`` and ``a_b``) are refused with a ``LabError`` naming both;
- the interface of link number N (its allocation index) is ``lN`` at both ends (each end
  lives in its own namespace), with the link id and the peer in its alias and in FRR's
  interface description;
- loopbacks come from ``loopbacks`` (default 10.255.0.0/16), link /31s from ``links``
  (default 10.0.0.0/9); the lab is its own addressing domain.

BGP, when the state has external peers: every router runs bgpd in AS ``asn`` (65000) with
an iBGP full mesh over the loopbacks; external peer P is its own namespace
``ID-peer-P`` (same spelling rules; refused if a router's namespace has that name)
running zebra and bgpd in the peer's AS, joined to its egress router by a veth ``pN``
(N its allocation index) with a /31 from ``peer_links`` (default 10.128.0.0/16; the
egress router holds the even address), announcing its prefixes, each held on its
loopback (the prefix's first address), so a probe can ping through the chosen egress.

A link is up in the lab when the state says it is up and both its routers are up (a
failed router's links go dark, as a powered-off box's fibres would).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Final

import msgspec

from shadowd.core.errors import ShadowdError
from shadowd.core.igp import MAX_COST, Igp
from shadowd.core.state import State

LAB_ID: Final = re.compile(r"^[a-z0-9]{1,12}$")
MAX_NS_NAME: Final = 64  # /var/run/frr/NAME/zserv.api must fit a unix socket path
MIN_RATE_BPS: Final = 64_000.0
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")  # FRR's -N takes no dots or slashes


class LabError(ShadowdError):
    """The lab cannot be built or changed as asked; the message says what and why."""


@dataclass(frozen=True, slots=True)
class LabSettings:
    """How a lab is built. ``scale`` multiplies link capacity into the shaped tc rate."""

    lab_id: str
    igp: Igp = "ospf"
    scale: float = 1e-3
    loopbacks: str = "10.255.0.0/16"
    links: str = "10.0.0.0/9"
    hello_s: int = 1
    dead_s: int = 3
    asn: int = 65000  # the lab's own AS, for BGP
    peer_links: str = "10.128.0.0/16"

    def __post_init__(self) -> None:
        if not LAB_ID.match(self.lab_id):
            raise LabError(f"lab id {self.lab_id!r}: use 1-12 lower-case letters or digits "
                           "(no '-', which separates the id from the router name)")
        if not 0.0 < self.scale <= 1.0:
            raise LabError(f"scale {self.scale}: must be in (0, 1]")


class RouterPlan(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ns: str
    loopback: str
    index: int  # loopback allocation
    up: bool = True


class LinkPlan(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    index: int  # /31 and interface-name allocation
    a: str
    b: str
    a_addr: str  # the /31's even address
    b_addr: str
    a_cost: int  # a's IGP cost towards b (the link's metric)
    b_cost: int  # b's towards a (its reverse metric)
    rate_bps: float  # tc rate, both directions
    delay_ms: float = 0.0
    up: bool = True

    @property
    def ifname(self) -> str:
        return f"l{self.index}"

    def end(self, router: str) -> tuple[str, str, int]:
        """(own address, peer, own cost) of ``router``'s end."""
        if router == self.a:
            return self.a_addr, self.b, self.a_cost
        return self.b_addr, self.a, self.b_cost


class PeerPlan(msgspec.Struct, frozen=True, kw_only=True):
    """An external BGP peer: its namespace, and the /31 to its egress ``router``."""

    name: str
    ns: str
    router: str
    asn: int
    index: int  # /31 and interface-name allocation
    addr: str  # the egress router's end (the /31's even address)
    peer_addr: str
    prefixes: tuple[str, ...]
    as_path_len: int = 1
    med: int = 0
    rate_bps: float = MIN_RATE_BPS
    up: bool = True  # its egress router is up

    @property
    def ifname(self) -> str:
        return f"p{self.index}"

    @property
    def route_map(self) -> str:
        return route_map(self.name)

    def session(self) -> tuple[object, ...]:
        """What, if it changes, means the peer must be rebuilt (not just reshaped)."""
        return (self.router, self.index, self.asn, self.prefixes, self.as_path_len, self.med)


class LabPlan(msgspec.Struct, frozen=True, kw_only=True):
    lab_id: str
    igp: Igp
    routers: dict[str, RouterPlan]
    links: dict[str, LinkPlan]
    peers: dict[str, PeerPlan] = msgspec.field(default_factory=dict)
    asn: int = 65000

    @property
    def bgp(self) -> bool:
        return bool(self.peers)

    def peers_of(self, router: str) -> list[PeerPlan]:
        return sorted((p for p in self.peers.values() if p.router == router),
                      key=lambda p: p.index)

    def links_of(self, router: str) -> list[LinkPlan]:
        return [lk for lk in self.links.values() if router in (lk.a, lk.b)]

    def by_ifname(self, router: str) -> dict[str, LinkPlan]:
        return {lk.ifname: lk for lk in self.links_of(router)}


def namespace(lab_id: str, router: str) -> str:
    """``ID-ROUTER`` with every character FRR's pathspace refuses (``.``, ``/``, ...)
    spelled ``_``; a name too long for FRR's socket paths is cut and a hash appended."""
    name = f"{lab_id}-{_UNSAFE.sub('_', router)}"
    if len(name) <= MAX_NS_NAME:
        return name
    tag = hashlib.blake2b(router.encode(), digest_size=3).hexdigest()
    return f"{name[: MAX_NS_NAME - 7]}-{tag}"


def peer_namespace(lab_id: str, peer: str) -> str:
    return namespace(lab_id, f"peer-{peer}")


def route_map(peer: str) -> str:
    """The inbound route-map of ``peer``'s session on its egress router, ``PEER-<peer>-in``
    (characters a route-map name cannot hold spelled ``_``): policies set its lines."""
    return f"PEER-{_UNSAFE.sub('_', peer)}-in"


def plan(state: State, settings: LabSettings, previous: LabPlan | None = None) -> LabPlan:
    """The lab ``state`` asks for, keeping ``previous``'s allocations."""
    routers = _routers(state, settings, previous)
    links: dict[str, LinkPlan] = {}
    taken = {lk.index for lk in previous.links.values()} if previous else set()
    pool = ipaddress.ip_network(settings.links)
    fresh = _Fresh(taken, pool.num_addresses // 2)
    for link_id in sorted(state.links):
        link = state.links[link_id]
        old = previous.links.get(link_id) if previous else None
        index = old.index if old is not None and {old.a, old.b} == {link.a, link.b} \
            else next(fresh)
        a_addr = pool.network_address + 2 * index
        links[link_id] = LinkPlan(
            id=link_id, index=index, a=link.a, b=link.b, a_addr=str(a_addr),
            b_addr=str(a_addr + 1),
            a_cost=_cost(settings.igp, link_id, link.metric),
            b_cost=_cost(settings.igp, link_id, link.reverse_metric),
            rate_bps=max(MIN_RATE_BPS, link.capacity_bps * settings.scale),
            delay_ms=link.delay_ms,
            up=link.up and routers[link.a].up and routers[link.b].up,
        )
    return LabPlan(lab_id=settings.lab_id, igp=settings.igp, routers=routers, links=links,
                   peers=_peers(state, settings, routers, previous), asn=settings.asn)


def _peers(state: State, settings: LabSettings, routers: dict[str, RouterPlan],
           previous: LabPlan | None) -> dict[str, PeerPlan]:
    pool = ipaddress.ip_network(settings.peer_links)
    taken = {p.index for p in previous.peers.values()} if previous else set()
    fresh = _Fresh(taken, pool.num_addresses // 2)
    used = {r.ns: r.name for r in routers.values()}
    out: dict[str, PeerPlan] = {}
    for name in sorted(state.peers):
        peer = state.peers[name]
        ns = peer_namespace(settings.lab_id, name)
        if used.setdefault(ns, f"peer {name}") != f"peer {name}":
            raise LabError(f"peer {name!r} and router {used[ns]!r} would share namespace {ns}")
        old = previous.peers.get(name) if previous else None
        index = old.index if old is not None else next(fresh)
        addr = pool.network_address + 2 * index
        out[name] = PeerPlan(
            name=name, ns=ns, router=peer.router, asn=peer.asn, index=index, addr=str(addr),
            peer_addr=str(addr + 1), prefixes=peer.prefixes, as_path_len=peer.as_path_len,
            med=peer.med, rate_bps=max(MIN_RATE_BPS, peer.capacity_bps * settings.scale),
            up=routers[peer.router].up)
    return out


def _routers(state: State, settings: LabSettings,
             previous: LabPlan | None) -> dict[str, RouterPlan]:
    pool = ipaddress.ip_network(settings.loopbacks)
    taken = {r.index for r in previous.routers.values()} if previous else set()
    fresh = _Fresh(taken, pool.num_addresses - 1, start=1)
    out: dict[str, RouterPlan] = {}
    owners: dict[str, str] = {}
    for name in sorted(state.routers):
        ns = namespace(settings.lab_id, name)
        if owners.setdefault(ns, name) != name:
            raise LabError(f"routers {owners[ns]!r} and {name!r} would share namespace {ns}")
        old = previous.routers.get(name) if previous else None
        index = old.index if old is not None else next(fresh)
        out[name] = RouterPlan(
            name=name, ns=ns,
            loopback=str(pool.network_address + index), index=index,
            up=state.routers[name].up,
        )
    return out


class _Fresh:
    """The lowest indices not in ``taken``, in order; ``LabError`` when the pool is out."""

    def __init__(self, taken: set[int], limit: int, start: int = 0) -> None:
        self._taken, self._limit, self._next = taken, limit, start

    def __iter__(self) -> _Fresh:
        return self

    def __next__(self) -> int:
        while self._next in self._taken:
            self._next += 1
        if self._next >= self._limit:
            raise LabError(f"address pool exhausted after {self._limit} allocations")
        self._next += 1
        return self._next - 1


def _cost(igp: Igp, link_id: str, metric: int) -> int:
    if not 1 <= metric <= MAX_COST[igp]:
        hint = " (IS-IS wide metrics reach 16777214: --igp isis)" if igp == "ospf" else ""
        raise LabError(f"link {link_id!r}: metric {metric} is outside {igp.upper()}'s "
                       f"1..{MAX_COST[igp]}{hint}")
    return metric


def loopback_net(loopback: str) -> str:
    """IS-IS NET of a router: area 49.0001, system id spelled from its loopback."""
    digits = "".join(f"{int(octet):03d}" for octet in loopback.split("."))
    return f"49.0001.{digits[0:4]}.{digits[4:8]}.{digits[8:12]}.00"
