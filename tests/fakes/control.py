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

import msgspec

from shadowd.control import policybook
from shadowd.control.protocol import (
    INVALID_SCENARIO,
    LAB_DOWN,
    NOT_FOUND,
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
    ErrorReply,
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
    LabConvergence,
    LinkForecast,
    LinkLoad,
    LoggedEvent,
    NextHopInfo,
    ScenarioInfo,
    ScenarioProblem,
    SourceStatus,
)
from shadowd.control.server import ControlServer, running
from shadowd.control.service import Handlers, Peer
from shadowd.core.events import DAEMON_SOURCE, AnyEvent, ScenarioRan
from shadowd.core.state import digest, fold
from shadowd.predict.extreme import analyse
from shadowd.prometheus.exposition import MetricsInputs, families, render
from shadowd.report import rows as report_rows
from shadowd.report.data import ReportData
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import Library, Scenario, validate
from shadowd.scenario.run import run_model
from tests.fakes.policybook import FakePolicyBook


class FakeService(Handlers):
    """Answers from ``events`` folded into a state; ``fail`` makes a request type raise."""

    def __init__(self, events: Sequence[AnyEvent] = (), *, uptime_s: float = 0.0):
        self.events = list(events)
        self.state = fold(self.events)
        self.uptime_s = uptime_s
        self.fail: set[str] = set()
        self.peers: list[Peer] = []
        self.lab_igp: str | None = None  # the fake lab's IGP while it is "up"
        self.library = Library()  # the fake's scenario library (tests fill it)
        self.runs: list[ScenarioRan] = []
        # a small policy book whose records join ``events`` and ``state``
        self.policies = FakePolicyBook(self.events, self.state, self._clock)

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

    # Predictions: none (no forecaster); scenarios run in the real model on the fake state.

    async def on_forecast(self, request: ForecastRequest,
                          peer: Peer) -> ForecastReply | ErrorReply:
        """The links' own counters as "now"; no forecast, no worst case."""
        self._seen(request.tag(), peer)
        s = self.state
        if request.link is not None and request.link not in s.links:
            return ErrorReply(code=NOT_FOUND, message=f"unknown link {request.link!r}")
        rows = [LinkForecast(link=k.id, direction=d, src=a, dst=b, capacity_bps=k.capacity_bps,
                             observed_bps=load, recent_max_bps=load)
                for k in s.links.values() if request.link in (None, k.id)
                for d, a, b, load in (("ab", k.a, k.b, k.ab_bps), ("ba", k.b, k.a, k.ba_bps))]
        return ForecastReply(seq=s.lsn, log_ts=self._clock(), threshold_util=0.8,
                             horizon_s=1800.0, links=rows[: request.top])

    async def on_scenario_list(self, request: ScenarioListRequest,
                               peer: Peer) -> ScenarioListReply:
        self._seen(request.tag(), peer)
        return ScenarioListReply(
            directory="/fake/scenarios", scenarios=[_info(x) for x in self.library.scenarios],
            errors=[ScenarioProblem(file=e.file, line=e.line, key=e.key, reason=e.reason,
                                    message=str(e)) for e in self.library.errors])

    async def on_scenario_show(self, request: ScenarioShowRequest,
                               peer: Peer) -> ScenarioShowReply | ErrorReply:
        self._seen(request.tag(), peer)
        found = self._scenario(request.name)
        if isinstance(found, ErrorReply):
            return found
        return ScenarioShowReply(scenario=_info(found), spec=msgspec.to_builtins(found.spec))

    async def on_scenario_run(self, request: ScenarioRunRequest,
                              peer: Peer) -> ScenarioRunReply | ErrorReply:
        self._seen(request.tag(), peer)
        found = self._scenario(request.name)
        if isinstance(found, ErrorReply):
            return found
        try:
            validate(found, self.state)
        except ScenarioError as err:
            return ErrorReply(code=INVALID_SCENARIO, message=str(err))
        result = run_model(found, self.state, ts=self._clock())
        worst = result.worst_link
        run = ScenarioRan(
            source=DAEMON_SOURCE, seq=len(self.runs) + 1, ts=self._clock(),
            run_id=f"run-{len(self.runs) + 1}", scenario=found.name, kind=found.kind,
            trigger="manual", tier="model", injected_ts=self._clock(),
            worst_link=f"{worst.link} {worst.src}->{worst.dst}" if worst else "",
            worst_util=worst.utilization if worst else 0.0,
            newly_overloaded=len(result.newly_overloaded), unreachable=result.unreachable,
            max_loss_pct=result.max_loss_pct, steps=len(result.steps))
        self.runs.append(run)
        return ScenarioRunReply(run=run, lab_error="the fake has no lab" if request.lab else "")

    async def on_scenario_runs(self, request: ScenarioRunsRequest,
                               peer: Peer) -> ScenarioRunsReply:
        self._seen(request.tag(), peer)
        return ScenarioRunsReply(runs=self.runs[-request.count:])

    # Policies: a small in-memory book over the service's own events and state.

    async def on_policy_list(self, request: PolicyListRequest, peer: Peer) -> PolicyListReply:
        self._seen(request.tag(), peer)
        return policybook.answer_list(self.policies, request)

    async def on_policy_show(self, request: PolicyShowRequest,
                             peer: Peer) -> PolicyShowReply | ErrorReply:
        self._seen(request.tag(), peer)
        return await policybook.answer_show(self.policies, request)

    async def on_policy_propose(self, request: PolicyProposeRequest,
                                peer: Peer) -> PolicyProposeReply | ErrorReply:
        self._seen(request.tag(), peer)
        return await policybook.answer_propose(self.policies, request)

    async def on_policy_deploy(self, request: PolicyDeployRequest,
                               peer: Peer) -> PolicyDeployReply | ErrorReply:
        self._seen(request.tag(), peer)
        return await policybook.answer_deploy(self.policies, request)

    async def on_policy_approve(self, request: PolicyApproveRequest,
                                peer: Peer) -> PolicyApproveReply | ErrorReply:
        self._seen(request.tag(), peer)
        return policybook.answer_approve(self.policies, request)

    async def on_policy_rollback(self, request: PolicyRollbackRequest,
                                 peer: Peer) -> PolicyRollbackReply | ErrorReply:
        self._seen(request.tag(), peer)
        return policybook.answer_rollback(self.policies, request)

    async def on_policy_history(self, request: PolicyHistoryRequest,
                                peer: Peer) -> PolicyHistoryReply | ErrorReply:
        self._seen(request.tag(), peer)
        return policybook.answer_history(self.policies, request)

    async def on_report(self, request: ReportRequest, peer: Peer) -> ReportReply:
        """The real model's worst cases of the fake state; no forecasts (no forecaster)."""
        self._seen(request.tag(), peer)
        s = self.state
        wc = analyse(s)[1] if s.links else None
        return ReportReply(data=ReportData(
            title=request.title, generated_ts=self._clock(), seq=s.lsn, log_ts=self._clock(),
            failures=report_rows.failure_set(), routers=report_rows.routers(s),
            links=report_rows.link_rows(s, wc), runs=self.runs[-request.runs:] if request.runs
            else [], policies=sorted(s.policies.values(), key=lambda e: e.proposal.seq)))

    async def on_metrics(self, request: MetricsRequest, peer: Peer) -> MetricsReply:
        """The real text format over the fake state; no model, lab or predictor figures."""
        self._seen(request.tag(), peer)
        inputs = MetricsInputs(state=self.state, durable_seq=self.state.lsn,
                               uptime_s=self.uptime_s, lab_up=self.lab_igp is not None)
        return MetricsReply(text=render(families(inputs)))

    def _scenario(self, name: str) -> Scenario | ErrorReply:
        try:
            return self.library.get(name)
        except KeyError:
            return ErrorReply(code=NOT_FOUND, message=f"no scenario {name!r}; known: "
                              f"{', '.join(self.library.names) or 'none'}")

    def _clock(self) -> float:
        return max((e.ts for e in self.events), default=0.0)

    def _routes(self) -> int:
        running = sum(r.up for r in self.state.routers.values())
        return running * max(len(self.state.routers) - 1, 0)


def _info(scenario: Scenario) -> ScenarioInfo:
    return ScenarioInfo(name=scenario.name, kind=scenario.kind,
                        description=scenario.description, file=scenario.file)


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
