"""The daemon's answers to control requests: one ``on_<tag>`` method per request.

A request a handler cannot answer raises (``NotFound``, ``LabDown``...); the dispatcher
answers it with the code ``control.errors.REPLY_CODES`` gives the error."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import msgspec

from shadowd.control import policybook
from shadowd.control.errors import LabDown, LabFailed
from shadowd.control.policybook import PolicyBook
from shadowd.control.protocol import (
    ForecastRequest,
    LabDownRequest,
    LabFidelityRequest,
    LabStatusRequest,
    LabUpRequest,
    LoadsRequest,
    LogTailRequest,
    MetricsRequest,
    PolicyApproveRequest,
    PolicyDeployRequest,
    PolicyHistoryRequest,
    PolicyListRequest,
    PolicyProposeRequest,
    PolicyRollbackRequest,
    PolicyShowRequest,
    ReportRequest,
    RoutesRequest,
    ScenarioListRequest,
    ScenarioRunRequest,
    ScenarioRunsRequest,
    ScenarioShowRequest,
    SnapshotRequest,
    StatusRequest,
    TopologyRequest,
    WorstCaseRequest,
)
from shadowd.control.replies import (
    ForecastReply,
    LabDownReply,
    LabFidelityReply,
    LabStatusReply,
    LabUpReply,
    LoadsReply,
    LogTailReply,
    MetricsReply,
    PolicyApproveReply,
    PolicyDeployReply,
    PolicyHistoryReply,
    PolicyListReply,
    PolicyProposeReply,
    PolicyRollbackReply,
    PolicyShowReply,
    ReportReply,
    RoutesReply,
    ScenarioListReply,
    ScenarioRunReply,
    ScenarioRunsReply,
    ScenarioShowReply,
    SnapshotReply,
    StatusReply,
    TopologyReply,
    WorstCaseReply,
)
from shadowd.control.rows import (
    FeedStatus,
    LabConvergence,
    LabRouteDiff,
    LinkForecast,
    LinkLoad,
    LoggedEvent,
    NextHopInfo,
    ScenarioInfo,
    ScenarioProblem,
    SourceStatus,
    WorstCase,
)
from shadowd.control.service import Handlers, Peer
from shadowd.core.errors import NotFound, ShadowdError, Unavailable
from shadowd.core.state import digest, view_digest
from shadowd.core.sync import SourceCounters, position
from shadowd.engine.incremental import Engine
from shadowd.ingest.source import Feed
from shadowd.lab.availability import LabUnavailable
from shadowd.prometheus.figures import DaemonMetrics, MetricsParts
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import Scenario, validate
from shadowd.scenario.timeline import label, timeline
from shadowd.services import report as reporting
from shadowd.services.mirror import ConvergenceRecord
from shadowd.services.policy import Policies
from shadowd.store.backend import Backend
from shadowd.version import VERSION


class DaemonParts(MetricsParts, Protocol):
    """What the handlers read of the daemon (``shadowd.daemon.Daemon`` is one): what the
    metrics read, and the log, the feeds, the policies and the metrics themselves."""

    @property
    def backend(self) -> Backend: ...
    @property
    def feeds(self) -> Mapping[str, Feed]: ...
    @property
    def policies(self) -> Policies: ...
    @property
    def metrics(self) -> DaemonMetrics: ...
    async def snapshot(self) -> tuple[int, Path]: ...


class DaemonHandlers(Handlers):
    def __init__(self, daemon: DaemonParts) -> None:
        self._daemon = daemon

    async def on_status(self, request: StatusRequest, peer: Peer) -> StatusReply:
        d = self._daemon
        state = d.ingest.state
        return StatusReply(
            seq=state.lsn, digest=digest(state), uptime_s=d.uptime(),
            sources=self._sources(), routers=len(state.routers), links=len(state.links),
            demands=state.demand_count(), version=VERSION, durable_seq=d.ingest.durable_lsn,
            view_digest=view_digest(state), feeds=self._feeds(),
        )

    def _sources(self) -> dict[str, SourceStatus]:
        ingest = self._daemon.ingest
        out: dict[str, SourceStatus] = {}
        for name in sorted(set(ingest.state.sources) | set(ingest.counters)):
            pos = ingest.state.sources.get(name)
            c = ingest.counters.get(name, SourceCounters())
            out[name] = SourceStatus(
                seq=position(ingest.state, ingest.counters, name), ts=pos.ts if pos else 0.0,
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

    async def on_routes(self, request: RoutesRequest, peer: Peer) -> RoutesReply:
        state = self._daemon.ingest.state
        if request.router not in state.routers:
            raise NotFound(f"unknown router {request.router!r}; `shadowctl topology` lists them")

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

    # --- the lab ------------------------------------------------------------------------

    async def on_lab_up(self, request: LabUpRequest, peer: Peer) -> LabUpReply:
        try:
            result = await self._daemon.lab.up(request.igp)
        except LabUnavailable as err:  # a LabError, not an Unavailable (see shadowd.lab.lab)
            raise Unavailable(str(err)) from err
        except ShadowdError as err:
            raise LabFailed(f"the lab could not be built: {err}") from err
        record, lab = result.convergence, result.status
        return LabUpReply(
            lab_id=lab.lab_id, igp=lab.igp, lsn=record.lsn if record else 0,
            already_up=result.already_up, seconds=result.seconds,
            converged=record.converged if record else True,
            agreement=record.agreement if record else 1.0, routes=record.routes if record else 0,
            routers=lab.routers, links=lab.links, removed=result.removed)

    async def on_lab_down(self, request: LabDownRequest, peer: Peer) -> LabDownReply:
        mirror = self._daemon.lab
        was_up, removed = await mirror.down()
        return LabDownReply(lab_id=mirror.settings.lab_id, was_up=was_up, removed=removed)

    async def on_lab_status(self, request: LabStatusRequest, peer: Peer) -> LabStatusReply:
        s = self._daemon.lab.status()
        lab = s.lab
        return LabStatusReply(
            lab_id=lab.lab_id, igp=lab.igp, up=lab.up, enabled=s.enabled, lsn=s.lsn,
            pending=s.pending, routers=lab.routers, running=lab.running, links=lab.links,
            links_up=lab.links_up, namespaces=len(lab.namespaces), unavailable=s.unavailable,
            last_error=s.last_error, convergences=[_convergence(c) for c in s.convergences])

    async def on_lab_fidelity(self, request: LabFidelityRequest,
                              peer: Peer) -> LabFidelityReply:
        mirror = self._daemon.lab
        try:
            report = await mirror.fidelity()
        except ShadowdError as err:  # a router changing or failing under the read
            raise LabFailed(f"reading the lab's RIBs failed: {err}") from err
        if report is None:
            raise LabDown(f"lab {mirror.settings.lab_id} is not up; `shadowctl lab up` builds it")
        shown = report.differences[: request.differences]
        return LabFidelityReply(
            lab_id=mirror.settings.lab_id, lsn=report.lsn, routes=report.routes,
            agreeing=report.agreeing, agreement=report.agreement,
            differences=[LabRouteDiff(router=d.router, destination=d.destination,
                                      model=d.model, lab=d.lab) for d in shown],
            more=len(report.differences) - len(shown))


    # --- predictions and scenarios -------------------------------------------------------

    async def on_forecast(self, request: ForecastRequest, peer: Peer) -> ForecastReply:
        p = self._daemon.predictor
        rows = await p.forecast(request.link, request.top)  # NotFound: an unknown link
        return ForecastReply(
            seq=self._daemon.ingest.state.lsn, log_ts=p.feed.clock,
            threshold_util=p.config.threshold_util, horizon_s=p.config.horizon_s,
            enabled=p.config.enabled,
            links=[LinkForecast(**msgspec.structs.asdict(r)) for r in rows])

    # The predictor raises NoLibrary (an Unavailable), NotFound, and ScenarioError when a
    # scenario does not fit the network.

    async def on_scenario_list(self, request: ScenarioListRequest,
                               peer: Peer) -> ScenarioListReply:
        p = self._daemon.predictor
        library = await p.library()
        return ScenarioListReply(directory=str(p.scenarios_dir),
                                 scenarios=[_info(s) for s in library.scenarios],
                                 errors=[_problem(e) for e in library.errors])

    async def on_scenario_show(self, request: ScenarioShowRequest,
                               peer: Peer) -> ScenarioShowReply:
        scenario = await self._daemon.predictor.scenario(request.name)
        state = self._daemon.ingest.state
        try:
            validate(scenario, state)
        except ScenarioError as err:
            return ScenarioShowReply(scenario=_info(scenario), spec=_spec(scenario),
                                     problem=str(err))
        steps = [f"+{at:g}s: {label(events)}" for at, events in timeline(scenario, state)]
        return ScenarioShowReply(scenario=_info(scenario), spec=_spec(scenario), timeline=steps)

    async def on_scenario_run(self, request: ScenarioRunRequest,
                              peer: Peer) -> ScenarioRunReply:
        run = await self._daemon.predictor.run_manual(request.name, lab=request.lab)
        return ScenarioRunReply(run=run.model, lab_run=run.lab, lab_error=run.lab_error)

    async def on_scenario_runs(self, request: ScenarioRunsRequest,
                               peer: Peer) -> ScenarioRunsReply:
        p = self._daemon.predictor
        runs = list(p.runs)[-request.count:]
        return ScenarioRunsReply(runs=runs, spikes=p.counters.spikes, pending=p.scheduler.pending)

    # --- policies: answered from ``daemon.policies`` (see ``control.policybook``) ----------

    @property
    def _policies(self) -> PolicyBook:
        return self._daemon.policies

    async def on_policy_list(self, request: PolicyListRequest, peer: Peer) -> PolicyListReply:
        return policybook.answer_list(self._policies, request)

    async def on_policy_show(self, request: PolicyShowRequest,
                             peer: Peer) -> PolicyShowReply:
        return await policybook.answer_show(self._policies, request)

    async def on_policy_propose(self, request: PolicyProposeRequest,
                                peer: Peer) -> PolicyProposeReply:
        return await policybook.answer_propose(self._policies, request)

    async def on_policy_deploy(self, request: PolicyDeployRequest,
                               peer: Peer) -> PolicyDeployReply:
        return await policybook.answer_deploy(self._policies, request)

    async def on_policy_approve(self, request: PolicyApproveRequest,
                                peer: Peer) -> PolicyApproveReply:
        return policybook.answer_approve(self._policies, request)

    async def on_policy_rollback(self, request: PolicyRollbackRequest,
                                 peer: Peer) -> PolicyRollbackReply:
        return policybook.answer_rollback(self._policies, request)

    async def on_policy_history(self, request: PolicyHistoryRequest,
                                peer: Peer) -> PolicyHistoryReply:
        return policybook.answer_history(self._policies, request)

    # --- the report ----------------------------------------------------------------------

    async def on_report(self, request: ReportRequest, peer: Peer) -> ReportReply:
        d = self._daemon
        data = await reporting.collect(
            d.ingest.state, d.model, d.predictor, title=request.title,
            forecasts=request.forecasts, runs=request.runs, generated_ts=time.time())
        return ReportReply(data=data)

    async def on_metrics(self, request: MetricsRequest, peer: Peer) -> MetricsReply:
        return MetricsReply(text=await self._daemon.metrics.text())


def _convergence(record: ConvergenceRecord) -> LabConvergence:
    return LabConvergence(**msgspec.structs.asdict(record))


def _info(scenario: Scenario) -> ScenarioInfo:
    return ScenarioInfo(name=scenario.name, kind=scenario.kind,
                        description=scenario.description, file=scenario.file)


def _problem(err: ScenarioError) -> ScenarioProblem:
    return ScenarioProblem(file=err.file, line=err.line, key=err.key, reason=err.reason,
                           message=str(err))


def _spec(scenario: Scenario) -> dict[str, object]:
    spec: dict[str, object] = msgspec.to_builtins(scenario.spec)
    return spec
