"""A fake control service over a folded event list, and a server in a thread, for tests.

``FakeService`` answers every request from a ``State`` it folds itself, so tests of the
socket, of ``shadowctl`` and of anything that drives the daemon through its socket can
run without a daemon. ``serving_in_thread`` runs a real ``ControlServer`` on its own loop
in a thread, for synchronous callers such as ``shadowctl``'s ``main``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shadowd.control.protocol import (
    LAB_DOWN,
    ErrorReply,
    LabConvergence,
    LabDownReply,
    LabDownRequest,
    LabFidelityReply,
    LabFidelityRequest,
    LabStatusReply,
    LabStatusRequest,
    LabUpReply,
    LabUpRequest,
    LinkLoad,
    LoadsReply,
    LoadsRequest,
    LoggedEvent,
    LogTailReply,
    LogTailRequest,
    NextHopInfo,
    RoutesReply,
    RoutesRequest,
    SnapshotReply,
    SnapshotRequest,
    SourceStatus,
    StatusReply,
    StatusRequest,
    TopologyReply,
    TopologyRequest,
    WorstCaseReply,
    WorstCaseRequest,
)
from shadowd.control.server import ControlServer, running
from shadowd.control.service import Handlers, Peer
from shadowd.core.events import AnyEvent
from shadowd.core.state import digest, fold


class FakeService(Handlers):
    """Answers from ``events`` folded into a state; ``fail`` makes a request type raise."""

    def __init__(self, events: Sequence[AnyEvent] = (), *, uptime_s: float = 0.0):
        self.events = list(events)
        self.state = fold(self.events)
        self.uptime_s = uptime_s
        self.fail: set[str] = set()
        self.peers: list[Peer] = []
        self.lab_igp: str | None = None  # the fake lab's IGP while it is "up"

    def _seen(self, tag: str, peer: Peer) -> None:
        self.peers.append(peer)
        if tag in self.fail:
            raise RuntimeError(f"fake failure answering {tag}")

    async def on_status(self, request: StatusRequest, peer: Peer) -> StatusReply:
        self._seen(request.tag(), peer)
        s = self.state
        sources = {
            name: SourceStatus(seq=pos.seq, ts=pos.ts, accepted=pos.seq)
            for name, pos in s.sources.items()
        }
        return StatusReply(
            seq=s.lsn, digest=digest(s), uptime_s=self.uptime_s, sources=sources,
            routers=len(s.routers), links=len(s.links), demands=s.demand_count(),
            version="0.0.0-fake",
        )

    async def on_topology(self, request: TopologyRequest, peer: Peer) -> TopologyReply:
        self._seen(request.tag(), peer)
        s = self.state
        return TopologyReply(
            seq=s.lsn, routers=list(s.routers.values()), links=list(s.links.values())
        )

    async def on_log_tail(self, request: LogTailRequest, peer: Peer) -> LogTailReply:
        self._seen(request.tag(), peer)
        first = max(0, len(self.events) - request.count)
        tail = [LoggedEvent(lsn=i + 1, event=e) for i, e in enumerate(self.events) if i >= first]
        return LogTailReply(events=tail)

    async def on_snapshot(self, request: SnapshotRequest, peer: Peer) -> SnapshotReply:
        self._seen(request.tag(), peer)
        return SnapshotReply(lsn=self.state.lsn, path=f"/fake/snapshots/{self.state.lsn}.snap")


    async def on_routes(self, request: RoutesRequest, peer: Peer) -> RoutesReply:
        """Direct neighbours only: enough for a fake; the daemon's model routes for real."""
        self._seen(request.tag(), peer)
        routes: dict[str, list[NextHopInfo]] = {}
        for link in self.state.links.values():
            if request.router in (link.a, link.b):
                far = link.b if link.a == request.router else link.a
                routes.setdefault(far, []).append(
                    NextHopInfo(link=link.id, neighbor=far, metric=float(link.metric)))
        return RoutesReply(seq=self.state.lsn, router=request.router, routes=routes)

    async def on_loads(self, request: LoadsRequest, peer: Peer) -> LoadsReply:
        """The links' own counters, as loads."""
        self._seen(request.tag(), peer)
        loads = [LinkLoad(link=k.id, src=k.a, dst=k.b, load_bps=k.ab_bps,
                          capacity_bps=k.capacity_bps, utilization=k.ab_bps / k.capacity_bps)
                 for k in self.state.links.values()]
        loads.sort(key=lambda x: -x.utilization)
        return LoadsReply(seq=self.state.lsn, loads=loads[: request.top])

    async def on_worst_case(self, request: WorstCaseRequest, peer: Peer) -> WorstCaseReply:
        self._seen(request.tag(), peer)
        return WorstCaseReply(seq=self.state.lsn, failures=request.failures)

    # A lab that comes up at once, in full agreement with the model; no FRR anywhere.

    async def on_lab_up(self, request: LabUpRequest, peer: Peer) -> LabUpReply:
        self._seen(request.tag(), peer)
        already = self.lab_igp is not None and request.igp in (None, self.lab_igp)
        if not already:
            self.lab_igp = request.igp or "ospf"
        s = self.state
        return LabUpReply(lab_id="fake", igp=self.lab_igp or "ospf", lsn=s.lsn,
                          already_up=already, converged=True, agreement=1.0,
                          routes=self._routes(), routers=len(s.routers), links=len(s.links))

    async def on_lab_down(self, request: LabDownRequest, peer: Peer) -> LabDownReply:
        self._seen(request.tag(), peer)
        was_up, self.lab_igp = self.lab_igp is not None, None
        return LabDownReply(lab_id="fake", was_up=was_up)

    async def on_lab_status(self, request: LabStatusRequest, peer: Peer) -> LabStatusReply:
        self._seen(request.tag(), peer)
        s = self.state
        if self.lab_igp is None:
            return LabStatusReply(lab_id="fake", igp="ospf")
        return LabStatusReply(
            lab_id="fake", igp=self.lab_igp, up=True, lsn=s.lsn, routers=len(s.routers),
            running=sum(r.up for r in s.routers.values()), links=len(s.links),
            links_up=sum(k.up for k in s.links.values()), namespaces=len(s.routers),
            convergences=[LabConvergence(lsn=s.lsn, changes=["lab up"], converged=True,
                                         agreement=1.0, routes=self._routes())])

    async def on_lab_fidelity(self, request: LabFidelityRequest,
                              peer: Peer) -> LabFidelityReply | ErrorReply:
        self._seen(request.tag(), peer)
        if self.lab_igp is None:
            return ErrorReply(code=LAB_DOWN, message="lab fake is not up")
        routes = self._routes()
        return LabFidelityReply(lab_id="fake", lsn=self.state.lsn, routes=routes,
                                agreeing=routes)

    def _routes(self) -> int:
        running = sum(r.up for r in self.state.routers.values())
        return running * max(len(self.state.routers) - 1, 0)


@contextmanager
def serving_in_thread(path: Path, service: Handlers, **options: Any) -> Iterator[ControlServer]:
    """A ``ControlServer`` listening at ``path`` on a loop in a thread, while in the block."""
    server = ControlServer(path, service, **options)
    bound, stop, failed = threading.Event(), threading.Event(), list[BaseException]()
    thread = threading.Thread(
        target=asyncio.run, args=(_serve(server, bound, stop, failed),), daemon=True
    )
    thread.start()
    bound.wait()
    try:
        if failed:
            raise failed[0]
        yield server
    finally:
        stop.set()
        thread.join()


async def _serve(
    server: ControlServer, bound: threading.Event, stop: threading.Event,
    failed: list[BaseException],
) -> None:
    try:
        async with running(server):
            bound.set()
            await asyncio.to_thread(stop.wait)
    except BaseException as err:  # handed to the thread that asked
        failed.append(err)
    finally:
        bound.set()
