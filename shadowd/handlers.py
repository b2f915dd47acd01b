"""The daemon's answers to control requests: one ``on_<tag>`` method per request."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from shadowd import __version__
from shadowd.control.protocol import (
    ErrorReply,
    FeedStatus,
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
    WorstCase,
    WorstCaseReply,
    WorstCaseRequest,
)
from shadowd.control.service import Handlers, Peer
from shadowd.core.state import digest, view_digest
from shadowd.core.sync import SourceCounters
from shadowd.engine.incremental import Engine

if TYPE_CHECKING:
    from shadowd.daemon import Daemon


class DaemonHandlers(Handlers):
    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    async def on_status(self, request: StatusRequest, peer: Peer) -> StatusReply:
        d = self._daemon
        state = d.ingest.state
        return StatusReply(
            seq=state.lsn, digest=digest(state), uptime_s=d.uptime(),
            sources=self._sources(), routers=len(state.routers), links=len(state.links),
            demands=state.demand_count(), version=__version__, durable_seq=d.ingest.durable_lsn,
            view_digest=view_digest(state), feeds=self._feeds(),
        )

    def _sources(self) -> dict[str, SourceStatus]:
        ingest = self._daemon.ingest
        out: dict[str, SourceStatus] = {}
        for name in sorted(set(ingest.state.sources) | set(ingest.counters)):
            pos = ingest.state.sources.get(name)
            c = ingest.counters.get(name, SourceCounters())
            out[name] = SourceStatus(
                seq=max(pos.seq if pos else 0, c.resynced_to), ts=pos.ts if pos else 0.0,
                accepted=c.accepted, duplicates=c.duplicates, rejected=c.rejected, gaps=c.gaps,
                snapshots=c.snapshots, stale_snapshots=c.stale_snapshots, resyncs=c.resyncs,
                held=c.held, digests_ok=c.digests_ok, digest_mismatches=c.digest_mismatches,
                digests_passed=c.digests_passed, dead_letters=c.dead_letters,
            )
        return out

    def _feeds(self) -> dict[str, FeedStatus]:
        return {name: FeedStatus(offsets=feed.offsets(), **msgspec.structs.asdict(feed.stats))
                for name, feed in self._daemon.feeds.items()}

    async def on_topology(self, request: TopologyRequest, peer: Peer) -> TopologyReply:
        state = self._daemon.ingest.state
        return TopologyReply(
            seq=state.lsn,
            routers=[state.routers[k] for k in sorted(state.routers)],
            links=[state.links[k] for k in sorted(state.links)],
        )

    async def on_log_tail(self, request: LogTailRequest, peer: Peer) -> LogTailReply:
        d = self._daemon
        last = d.ingest.durable_lsn
        first = max(1, last - request.count + 1)
        events = await d.backend.tail(first, last)
        return LogTailReply(events=[LoggedEvent(lsn=lsn, event=e) for lsn, e in events])

    async def on_snapshot(self, request: SnapshotRequest, peer: Peer) -> SnapshotReply:
        lsn, path = await self._daemon.snapshot()
        return SnapshotReply(lsn=lsn, path=str(path))

    async def on_routes(self, request: RoutesRequest, peer: Peer) -> RoutesReply | ErrorReply:
        state = self._daemon.ingest.state
        if request.router not in state.routers:
            return ErrorReply(code="not_found", message=f"unknown router {request.router!r}; "
                              "`shadowctl topology` lists them")

        def table(engine: Engine) -> RoutesReply:
            routes = {dst: [NextHopInfo(link=h.link, neighbor=h.neighbor, metric=h.metric)
                            for h in hops]
                      for dst, hops in sorted(engine.routes(request.router).items())}
            return RoutesReply(seq=engine.state.lsn, router=request.router, routes=routes,
                               unreachable=sorted(engine.unreachable(request.router)))

        return await self._daemon.model.read(table)

    async def on_loads(self, request: LoadsRequest, peer: Peer) -> LoadsReply:
        def top(engine: Engine) -> LoadsReply:
            loads = [LinkLoad(link=e.link, src=e.src, dst=e.dst, load_bps=e.load,
                              capacity_bps=e.capacity, utilization=e.utilization)
                     for e in engine.top(request.top)]
            return LoadsReply(seq=engine.state.lsn, loads=loads)

        return await self._daemon.model.read(top)

    async def on_worst_case(self, request: WorstCaseRequest, peer: Peer) -> WorstCaseReply:
        lsn, result = await self._daemon.model.worst_case(request.failures)
        net, util = result.net, result.wc_util
        order = sorted(range(net.edge_count), key=lambda e: -float(util[e]))
        worst = []
        for edge in order[: request.top]:
            link, src, dst = net.describe_edge(edge)
            worst.append(WorstCase(link=link, src=src, dst=dst,
                                   wc_load_bps=float(result.wc_load[edge]),
                                   wc_util=float(util[edge]),
                                   wc_failure=result.wc_failure_of(edge).name))
        return WorstCaseReply(seq=lsn, failures=request.failures,
                              scenarios=len(result.failures), mode=result.mode, worst=worst)
