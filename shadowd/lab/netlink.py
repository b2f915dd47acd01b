"""The lab's kernel side, over netlink (pyroute2): namespaces, veth pairs, addresses, tc.

One ``AsyncIPRoute`` socket per namespace, opened once and kept: pyroute2 opens a netns
socket by forking a helper, which costs milliseconds, while requests on an open socket
cost microseconds. A veth pair is created from the ``a`` end's namespace with its peer
placed straight into ``b``'s, so no lab interface ever appears in the host namespace and
two labs never compete for a name there.

Shaping is a tbf root qdisc on each end, so each direction of a link is limited to the
plan's rate (at most about 34 Gbit/s, tbf's 32-bit rate field); its queue holds
``QUEUE_MS`` of traffic, beyond which packets drop.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any, Final

from pyroute2 import AsyncIPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from shadowd.lab.plan import LinkPlan, PeerPlan
from shadowd.shell import run

NETNS_DIR: Final = Path("/var/run/netns")
QUEUE_MS: Final = 50
MIN_BURST_BYTES: Final = 3_200  # two full-size frames
# a router forwards, and ECMP's asymmetric paths must not trip reverse-path filtering
SYSCTLS: Final = ("-w", "net.ipv4.ip_forward=1", "-w", "net.ipv4.conf.all.rp_filter=0",
                  "-w", "net.ipv4.conf.default.rp_filter=0")
MAX_RATE_BYTES: Final = 2**32 - 1  # tbf's 32-bit rate field: about 34 Gbit/s


def namespaces(prefix: str) -> list[str]:
    """Named network namespaces whose name starts with ``prefix``."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def remove_namespace(name: str) -> None:
    """Unmount and unlink ``name``; the kernel frees it (and its veths) when unused."""
    if (NETNS_DIR / name).exists():
        netns.remove(name)


class Netlink:
    """Open sockets into the lab's namespaces, by namespace name."""

    def __init__(self) -> None:
        self._sockets: dict[str, Any] = {}

    async def create(self, ns: str, loopback: str | None) -> None:
        """A fresh namespace with ``lo`` up holding ``loopback``/32 (if any)."""
        await asyncio.to_thread(netns.create, ns)
        await run(["ip", "netns", "exec", ns, "sysctl", "-q", *SYSCTLS])
        nl = await self._open(ns)
        lo = (await nl.link_lookup(ifname="lo"))[0]
        await nl.link("set", index=lo, state="up")
        if loopback is not None:
            await nl.addr("add", index=lo, address=loopback, prefixlen=32)

    async def _open(self, ns: str) -> Any:
        nl = self._sockets.get(ns)
        if nl is None:
            nl = AsyncIPRoute(netns=ns)
            await nl.setup_endpoint()
            self._sockets[ns] = nl
        return nl

    async def close(self, ns: str | None = None) -> None:
        """Close ``ns``'s socket, or all of them."""
        for name in [ns] if ns is not None else list(self._sockets):
            nl = self._sockets.pop(name, None)
            if nl is not None:
                nl.close()

    async def add_link(self, link: LinkPlan, a_ns: str, b_ns: str) -> None:
        """The veth pair of ``link`` with addresses, alias, shaping and admin state."""
        a, b = await self._open(a_ns), await self._open(b_ns)
        name = link.ifname
        await a.link("add", ifname=name, kind="veth", peer={"ifname": name, "net_ns_fd": b_ns})
        for nl, addr, peer in ((a, link.a_addr, link.b), (b, link.b_addr, link.a)):
            index = await self._index(nl, name)
            await nl.addr("add", index=index, address=addr, prefixlen=31)
            await self._shape(nl, index, link.rate_bps, "add")
            await nl.link("set", index=index, ifalias=f"{link.id} to {peer}",
                          state="up" if link.up else "down")

    async def add_peer_link(self, peer: PeerPlan, router_ns: str) -> None:
        """The veth from ``peer``'s egress router into its namespace, with the /31, the
        shaping, each announced prefix's first address on the peer's loopback, and the
        peer's default route back through the egress (so probes' replies find home)."""
        r, p = await self._open(router_ns), await self._open(peer.ns)
        name = peer.ifname
        await r.link("add", ifname=name, kind="veth", peer={"ifname": name, "net_ns_fd": peer.ns})
        for nl, addr, alias in ((r, peer.addr, f"peer {peer.name}"),
                                (p, peer.peer_addr, f"egress {peer.router}")):
            index = await self._index(nl, name)
            await nl.addr("add", index=index, address=addr, prefixlen=31)
            await self._shape(nl, index, peer.rate_bps, "add")
            await nl.link("set", index=index, ifalias=alias, state="up" if peer.up else "down")
        lo = await self._index(p, "lo")
        for prefix in peer.prefixes:
            net = ipaddress.ip_network(prefix)
            first = net.network_address + (1 if net.num_addresses > 2 else 0)
            await p.addr("add", index=lo, address=str(first), prefixlen=net.prefixlen)
        await p.route("add", dst="0.0.0.0/0", gateway=peer.addr)

    async def set_peer_up(self, peer: PeerPlan, router_ns: str) -> None:
        for ns in (router_ns, peer.ns):
            nl = await self._open(ns)
            await nl.link("set", index=await self._index(nl, peer.ifname),
                          state="up" if peer.up else "down")

    async def remove_link(self, link: LinkPlan, a_ns: str) -> None:
        nl = await self._open(a_ns)
        try:
            await nl.link("del", index=await self._index(nl, link.ifname))
        except (NetlinkError, LookupError):
            return  # gone already (its namespace went first)

    async def set_up(self, link: LinkPlan, a_ns: str, b_ns: str, up: bool) -> None:
        for ns in (a_ns, b_ns):
            nl = await self._open(ns)
            await nl.link("set", index=await self._index(nl, link.ifname),
                          state="up" if up else "down")

    async def set_rate(self, link: LinkPlan | PeerPlan, a_ns: str, b_ns: str,
                       rate_bps: float | None = None) -> None:
        """Shape both directions to the plan's rate, or to ``rate_bps`` when given."""
        rate = link.rate_bps if rate_bps is None else rate_bps
        for ns in (a_ns, b_ns):
            nl = await self._open(ns)
            await self._shape(nl, await self._index(nl, link.ifname), rate, "change")

    async def counters(self, ns: str) -> dict[str, tuple[int, int]]:
        """(tx_bytes, rx_bytes) of every interface in ``ns``."""
        nl = await self._open(ns)
        out = {}
        async for msg in await nl.link("dump"):
            stats = msg.get("IFLA_STATS64")
            if stats is not None:
                out[msg.get("IFLA_IFNAME")] = (stats.get("tx_bytes"), stats.get("rx_bytes"))
        return out

    @staticmethod
    async def _index(nl: Any, ifname: str) -> int:
        found = await nl.link_lookup(ifname=ifname)
        if not found:
            raise LookupError(f"no interface {ifname} in namespace {nl.status['netns']}")
        return int(found[0])

    @staticmethod
    async def _shape(nl: Any, index: int, rate_bps: float, verb: str) -> None:
        rate = min(MAX_RATE_BYTES, max(1, int(rate_bps / 8)))
        burst = max(MIN_BURST_BYTES, rate // 100)  # at least 10 ms of traffic
        await nl.tc(verb, "tbf", index=index, handle="1:", rate=rate, burst=burst,
                    latency=f"{QUEUE_MS}ms")
