"""The daemon's answers to control requests: one ``on_<tag>`` method per request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shadowd import __version__
from shadowd.control.protocol import (
    LoggedEvent,
    LogTailReply,
    LogTailRequest,
    SnapshotReply,
    SnapshotRequest,
    SourceStatus,
    StatusReply,
    StatusRequest,
    TopologyReply,
    TopologyRequest,
)
from shadowd.control.service import Handlers, Peer
from shadowd.core.state import digest

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
        )

    def _sources(self) -> dict[str, SourceStatus]:
        ingest = self._daemon.ingest
        out: dict[str, SourceStatus] = {}
        for name, pos in ingest.state.sources.items():
            c = ingest.counters.get(name)
            out[name] = SourceStatus(
                seq=pos.seq, ts=pos.ts, accepted=c.accepted if c else 0,
                duplicates=c.duplicates if c else 0, rejected=c.rejected if c else 0,
                gaps=c.gaps if c else 0,
            )
        return out

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
        events = [LoggedEvent(lsn=lsn, event=e) for lsn, e in d.log.events(first, last)]
        return LogTailReply(events=events)

    async def on_snapshot(self, request: SnapshotRequest, peer: Peer) -> SnapshotReply:
        lsn, path = await self._daemon.snapshot()
        return SnapshotReply(lsn=lsn, path=str(path))
