"""The lab: the shadow as FRR routers in network namespaces, kept in step with a state.

``Lab.up(state)`` removes whatever a crashed earlier run of the same lab id left, then
builds the plan's namespaces, veths and shaping and starts the daemons;
``Lab.apply(state)`` turns the lab into what a newer state asks for, changing only what
differs (a link down is a veth down, a metric is a vtysh command, a failed router's
daemons stop, a deployed BGP policy is route-map settings: ``route_maps``);
``Lab.fidelity`` and ``Lab.converge`` read every router's RIB and compare it with the
model; ``Lab.down()`` removes everything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import msgspec

from shadowd.core.state import State
from shadowd.lab import cleanup, daemons
from shadowd.lab.availability import check_available
from shadowd.lab.bgpread import BgpBest, best_routes
from shadowd.lab.fidelity import FidelityReport, Table, compare, lab_table
from shadowd.lab.frrconf import (
    cost_commands,
    interface_commands,
    mesh_commands,
    peer_commands,
    render,
    render_peer,
)
from shadowd.lab.netlink import Netlink
from shadowd.lab.owner import LabOwner
from shadowd.lab.plan import LabError, LabPlan, LabSettings, LinkPlan, PeerPlan, plan
from shadowd.lab.route_maps import RouteMapSync
from shadowd.shell import vtysh, vtysh_json

T = TypeVar("T")
PARALLEL: Final = 4  # concurrent daemon starts / RIB reads: the machine has few cores


class Convergence(msgspec.Struct, frozen=True, kw_only=True):
    converged: bool
    seconds: float
    polls: int
    report: FidelityReport


class LabRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What another process needs to read a running lab: how it was built, for what."""

    settings: LabSettings
    plan: LabPlan
    state: State


class LabStatus(msgspec.Struct, frozen=True, kw_only=True):
    lab_id: str
    igp: str
    up: bool
    routers: int = 0
    running: int = 0
    links: int = 0
    links_up: int = 0
    namespaces: list[str] = msgspec.field(default_factory=list)


class Lab:
    def __init__(self, settings: LabSettings, *,
                 route_maps: RouteMapSync[Any] | None = None) -> None:
        self.settings = settings
        self._route_maps = route_maps or RouteMapSync.bare()  # peers' settings
        self.plan: LabPlan | None = None
        self._nl = Netlink()
        self._running: set[str] = set()
        self._peers: set[str] = set()  # external peers whose daemons run
        self._gate = asyncio.Semaphore(PARALLEL)
        self._owner = LabOwner(settings.lab_id)

    # --- lifecycle --------------------------------------------------------------------

    async def up(self, state: State) -> dict[str, list[str]]:
        """Build the lab for ``state`` and start its routers; returns the leftovers of an
        earlier run that were removed first. On any failure, everything is removed."""
        check_available()
        self._owner.take()  # before anything is touched: one builder per lab id
        found = await cleanup.purge(self.settings.lab_id)
        target = plan(state, self.settings)
        try:
            for router in target.routers.values():
                await self._nl.create(router.ns, router.loopback)
            for link in target.links.values():
                await self._nl.add_link(link, target.routers[link.a].ns,
                                        target.routers[link.b].ns)
            for peer in target.peers.values():
                await self._add_peer(target, peer)
            self.plan = target
            await self._each([r.name for r in target.routers.values() if r.up], self._start)
            await self._each(sorted(target.peers), self._start_peer)
            await self._route_maps.reconcile(state, target, self._running)
            self._save(state)
        except BaseException:
            await self.down()
            raise
        return found

    @classmethod
    def attach(cls, lab_id: str) -> tuple[Lab, State]:
        """The running lab ``lab_id`` (started by any process) and the state it mirrors."""
        path = cleanup.record_path(lab_id)
        try:
            record = msgspec.msgpack.decode(path.read_bytes(), type=LabRecord)
        except FileNotFoundError:
            raise LabError(f"no lab {lab_id!r} is up (no {path})") from None
        lab = cls(record.settings)
        lab.plan = record.plan
        lab._running = {r.name for r in record.plan.routers.values()
                        if any(daemons.alive(p) for p in daemons.pids(r.ns))}
        lab._peers = {p.name for p in record.plan.peers.values()
                      if any(daemons.alive(pid) for pid in daemons.pids(p.ns))}
        return lab, record.state

    def _save(self, state: State) -> None:
        record = LabRecord(settings=self.settings, plan=self._require(), state=state)
        path = cleanup.record_path(self.settings.lab_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.msgpack.encode(record))
        tmp.replace(path)

    async def down(self) -> dict[str, list[str]]:
        """Stop every daemon and remove every namespace of this lab id."""
        await self._nl.close()
        self.plan, self._running, self._peers = None, set(), set()
        self._route_maps.forget()
        try:
            return await cleanup.purge(self.settings.lab_id)
        finally:
            self._owner.release()

    async def apply(self, state: State) -> list[str]:
        """Make the running lab what ``state`` asks for; returns what changed."""
        old = self._require()
        new = plan(state, self.settings, old)
        changes: list[str] = []
        rebuilt = [p for p in old.peers.values() if _peer_replaced(p, new.peers.get(p.name))]
        for peer in rebuilt:
            await self._remove_peer(peer, new)
            changes.append(f"peer {peer.name} removed")
        for name in sorted(old.routers.keys() - new.routers.keys()):
            await self._remove_router(old, name)
            changes.append(f"router {name} removed")
        gone = [lk for lk in old.links.values() if _replaced(lk, new.links.get(lk.id))]
        for link in gone:
            if link.a in new.routers and link.b in new.routers:
                await self._nl.remove_link(link, old.routers[link.a].ns)
            changes.append(f"link {link.id} removed")
        for name in sorted(new.routers.keys() - old.routers.keys()):
            await self._nl.create(new.routers[name].ns, new.routers[name].loopback)
            changes.append(f"router {name} added")
        self.plan = new
        for link in new.links.values():
            changes += await self._link_changes(old.links.get(link.id), link, new)
        configured = self._running - {r.name for r in new.routers.values() if not r.up}
        changes += await self._bgp_changes(old, new, configured)
        changes += await self._router_changes(new)
        changes += await self._route_maps.reconcile(state, new, self._running)
        if changes:
            self._save(state)
        return changes

    def _require(self) -> LabPlan:
        if self.plan is None:
            raise LabError(f"lab {self.settings.lab_id} is not up")
        return self.plan

    async def _remove_router(self, old: LabPlan, name: str) -> None:
        ns = old.routers[name].ns
        await daemons.stop([p for p in daemons.pids(ns) if daemons.alive(p)])
        self._running.discard(name)
        await self._nl.close(ns)
        await cleanup.purge_namespace(ns)

    async def _link_changes(self, was: LinkPlan | None, link: LinkPlan,
                            lab: LabPlan) -> list[str]:
        ns_a, ns_b = lab.routers[link.a].ns, lab.routers[link.b].ns
        if _replaced(was, link):
            await self._nl.add_link(link, ns_a, ns_b)
            for router in (link.a, link.b):
                if router in self._running:
                    await vtysh(lab.routers[router].ns,
                                *interface_commands(lab, router, link, self.settings))
            return [f"link {link.id} added"]
        assert was is not None
        out = []
        if was.up != link.up:
            await self._nl.set_up(link, ns_a, ns_b, link.up)
            out.append(f"link {link.id} {'up' if link.up else 'down'}")
        if was.rate_bps != link.rate_bps:
            await self._nl.set_rate(link, ns_a, ns_b)
            out.append(f"link {link.id} rate {link.rate_bps:.0f} bit/s")
        for router, before, after in ((link.a, was.a_cost, link.a_cost),
                                      (link.b, was.b_cost, link.b_cost)):
            if before != after and router in self._running:
                await vtysh(lab.routers[router].ns, *cost_commands(lab, router, link))
                out.append(f"link {link.id} cost at {router} {after}")
        return out

    async def _router_changes(self, lab: LabPlan) -> list[str]:
        stop = [r.name for r in lab.routers.values() if not r.up and r.name in self._running]
        start = [r.name for r in lab.routers.values() if r.up and r.name not in self._running]
        await self._each(stop, self._stop)
        await self._each(start, self._start)
        return [f"router {n} stopped" for n in stop] + [f"router {n} started" for n in start]

    async def _start(self, name: str) -> None:
        lab = self._require()
        ns = lab.routers[name].ns
        daemons.write_config(ns, render(lab, name, self.settings))
        await daemons.start(ns, lab.igp, bgp=lab.bgp)
        self._running.add(name)

    # --- BGP: external peers and the iBGP mesh ------------------------------------------

    async def _add_peer(self, lab: LabPlan, peer: PeerPlan) -> None:
        await self._nl.create(peer.ns, None)
        await self._nl.add_peer_link(peer, lab.routers[peer.router].ns)

    async def _start_peer(self, name: str) -> None:
        lab = self._require()
        ns = lab.peers[name].ns
        daemons.write_config(ns, render_peer(lab, name))
        await daemons.start(ns, None, bgp=True)
        self._peers.add(name)

    async def _remove_peer(self, peer: PeerPlan, new: LabPlan) -> None:
        """Its session off its egress router (if that still runs), then its namespace."""
        if peer.router in self._running and peer.router in new.routers:
            await vtysh(new.routers[peer.router].ns, *peer_commands(new, peer, present=False))
        self._peers.discard(peer.name)
        await self._nl.close(peer.ns)
        await cleanup.purge_namespace(peer.ns)

    async def _bgp_changes(self, old: LabPlan, new: LabPlan, configured: set[str]) -> list[str]:
        """BGP on the routers that keep running (``configured``: the others get it all
        from ``frr.conf`` when they start): bgpd started or stopped, the mesh's sessions
        to routers that came or went, peers' sessions; then the peers themselves."""
        out: list[str] = []
        if new.bgp != old.bgp:
            await self._each(sorted(configured), self._bgpd_on if new.bgp else self._bgpd_off)
            out.append(f"bgp {'started' if new.bgp else 'stopped'}")
        elif new.bgp:
            came = [new.routers[n].loopback for n in sorted(new.routers.keys() - old.routers)]
            went = [old.routers[n].loopback for n in sorted(old.routers.keys() - new.routers)]
            for name in sorted(configured) if came or went else []:
                await vtysh(new.routers[name].ns, *mesh_commands(new, came, went))
        for peer in sorted(new.peers.values(), key=lambda p: p.index):
            out += await self._peer_changes(old, new, peer, configured)
        return out

    async def _peer_changes(self, old: LabPlan, new: LabPlan, peer: PeerPlan,
                            configured: set[str]) -> list[str]:
        was = old.peers.get(peer.name)
        router_ns = new.routers[peer.router].ns
        if _peer_replaced(was, peer):
            await self._add_peer(new, peer)
            if old.bgp and peer.router in configured:
                await vtysh(router_ns, *peer_commands(new, peer, present=True))
            await self._start_peer(peer.name)
            return [f"peer {peer.name} added"]
        assert was is not None
        out = []
        if was.up != peer.up:
            await self._nl.set_peer_up(peer, router_ns)
            out.append(f"peer {peer.name} {'up' if peer.up else 'down'}")
        if was.rate_bps != peer.rate_bps:
            await self._nl.set_rate(peer, router_ns, peer.ns)
            out.append(f"peer {peer.name} rate {peer.rate_bps:.0f} bit/s")
        return out

    async def _bgpd_on(self, name: str) -> None:
        lab = self._require()
        ns = lab.routers[name].ns
        daemons.write_config(ns, render(lab, name, self.settings))
        await daemons.start_daemons(ns, ("bgpd",))

    async def _bgpd_off(self, name: str) -> None:
        pid = daemons.pid_of(self._require().routers[name].ns, "bgpd")
        await daemons.stop([pid] if pid is not None else [])

    async def _stop(self, name: str) -> None:
        ns = self._require().routers[name].ns
        self._running.discard(name)
        await daemons.stop([p for p in daemons.pids(ns) if daemons.alive(p)])

    async def _each(self, names: list[str], action: Callable[[str], Awaitable[None]]) -> None:
        async def gated(name: str) -> None:
            async with self._gate:
                await action(name)

        async with asyncio.TaskGroup() as tg:
            for name in names:
                tg.create_task(gated(name))

    # --- reading ----------------------------------------------------------------------

    async def ribs(self) -> dict[str, Table]:
        """Every running router's next hops towards every other loopback."""
        lab = self._require()
        names = sorted(self._running)

        async def one(name: str) -> Table:
            async with self._gate:
                rib = await vtysh_json(lab.routers[name].ns, "show ip route json",
                                       daemon="zebra")
            return lab_table(lab, name, rib)

        tables = await asyncio.gather(*(one(n) for n in names))
        return dict(zip(names, tables, strict=True))

    async def bgp_routes(self, router: str) -> dict[str, BgpBest]:
        """``router``'s best BGP route per prefix, with the egress it leaves by."""
        lab = self._require()
        rib = await vtysh_json(lab.routers[router].ns, "show ip bgp json", daemon="bgpd")
        return best_routes(lab, rib)

    async def fidelity(self, model: Mapping[str, Table], lsn: int = 0) -> FidelityReport:
        """The lab's RIBs against ``model``'s tables (routers that run in the model)."""
        lab = self._require()
        return compare(model, await self.ribs(), sorted(lab.routers), lsn)

    async def converge(self, model: Mapping[str, Table], *, timeout_s: float = 60.0,
                       since: float | None = None, lsn: int = 0) -> Convergence:
        """Poll the RIBs until they agree with ``model``; seconds are counted from
        ``since`` (a ``time.monotonic()`` taken when the change was injected)."""
        start = since if since is not None else time.monotonic()
        polls = 0
        while True:
            report = await self.fidelity(model, lsn)
            polls += 1
            elapsed = time.monotonic() - start
            if report.agreement == 1.0 or elapsed > timeout_s:
                return Convergence(converged=report.agreement == 1.0, seconds=elapsed,
                                   polls=polls, report=report)
            await asyncio.sleep(0.05)  # pacing: the routers need the CPU to converge

    def status(self) -> LabStatus:
        lab = self.plan
        if lab is None:
            return LabStatus(lab_id=self.settings.lab_id, igp=self.settings.igp, up=False)
        return LabStatus(
            lab_id=lab.lab_id, igp=lab.igp, up=True, routers=len(lab.routers),
            running=len(self._running), links=len(lab.links),
            links_up=sum(lk.up for lk in lab.links.values()),
            namespaces=sorted(r.ns for r in lab.routers.values()))

    def memory(self) -> dict[str, tuple[int, int]]:
        """(RSS, PSS) bytes of each router's processes (its FRR daemons)."""
        lab = self._require()
        pids = cleanup.processes_by_namespace([r.ns for r in lab.routers.values()])
        out = {}
        for router in lab.routers.values():
            usage = [daemons.rss_bytes(p) for p in pids[router.ns]]
            out[router.name] = (sum(u[0] for u in usage), sum(u[1] for u in usage))
        return out

    async def counters(self, router: str) -> dict[str, tuple[int, int]]:
        """(tx, rx) bytes per link id at ``router``'s end."""
        lab = self._require()
        by_ifname = lab.by_ifname(router)
        raw = await self._nl.counters(lab.routers[router].ns)
        return {by_ifname[n].id: v for n, v in raw.items() if n in by_ifname}

    async def shape(self, link_id: str, rate_bps: float) -> None:
        """Override the shaped rate of ``link_id`` (both directions) until the next
        ``apply`` that changes its capacity: for probes and what-if runs."""
        lab = self._require()
        link = lab.links[link_id]
        await self._nl.set_rate(link, lab.routers[link.a].ns, lab.routers[link.b].ns, rate_bps)


def _peer_replaced(was: PeerPlan | None, now: PeerPlan | None) -> bool:
    """A peer that must be (re)built: new, gone, or its session's settings changed."""
    return was is None or now is None or was.session() != now.session()


def _replaced(was: LinkPlan | None, now: LinkPlan | None) -> bool:
    """A link that must be (re)built: new, gone, or its ends or addresses changed."""
    return was is None or now is None or (was.a, was.b, was.index) != (now.a, now.b, now.index)
