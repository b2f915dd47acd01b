"""What shadowd answers on the control socket: the ``Reply`` base, ``ErrorReply`` and one
tagged reply per request. ``shadowd.control.protocol`` pairs each with its request
(``Request[StatusReply]``) and holds the ``AnyReply`` union and the codec; its schema
rules hold here too: never rename, retype or reuse a tag or a field; new fields get
defaults."""

from __future__ import annotations

from typing import Any, Final

import msgspec

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
from shadowd.core.events import RolloutStep, ScenarioRan
from shadowd.core.state import Link, PolicyEntry, Router
from shadowd.report.data import ReportData

PROTOCOL_VERSION: Final = 1  # StatusReply reports it; a bad request's error names it too


class Reply(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Common base of every reply. Not itself sent: only its tagged subclasses are."""


class ErrorReply(Reply, frozen=True, tag="error"):
    """The request failed; ``code`` is one of ``shadowd.control.protocol``'s error codes
    (or a newer one)."""

    code: str
    message: str


class StatusReply(Reply, frozen=True, tag="status"):
    seq: int  # log sequence number the shadow has applied (``State.lsn``)
    digest: str  # ``shadowd.core.state.digest`` of the shadow at ``seq``
    uptime_s: float
    sources: dict[str, SourceStatus] = msgspec.field(default_factory=dict)
    routers: int = 0
    links: int = 0
    demands: int = 0
    version: str = ""  # shadowd's package version
    protocol: int = PROTOCOL_VERSION
    durable_seq: int = 0  # highest log sequence number known to be on disk (fsynced)
    view_digest: str = ""  # ``shadowd.core.state.view_digest``: the network view alone
    feeds: dict[str, FeedStatus] = msgspec.field(default_factory=dict)


class TopologyReply(Reply, frozen=True, tag="topology"):
    seq: int = 0
    routers: list[Router] = msgspec.field(default_factory=list)
    links: list[Link] = msgspec.field(default_factory=list)


class LogTailReply(Reply, frozen=True, tag="log_tail"):
    events: list[LoggedEvent] = msgspec.field(default_factory=list)  # oldest first


class SnapshotReply(Reply, frozen=True, tag="snapshot"):
    lsn: int
    path: str


class RoutesReply(Reply, frozen=True, tag="routes"):
    """One router's next-hop table, as the model computes it at ``seq``."""

    seq: int
    router: str
    routes: dict[str, list[NextHopInfo]] = msgspec.field(default_factory=dict)
    unreachable: list[str] = msgspec.field(default_factory=list)


class LoadsReply(Reply, frozen=True, tag="loads"):
    seq: int
    loads: list[LinkLoad] = msgspec.field(default_factory=list)  # most utilised first


class WorstCaseReply(Reply, frozen=True, tag="worst_case"):
    seq: int
    failures: str  # the failure set swept: links | nodes | srlg | links2
    scenarios: int = 0  # how many failures were evaluated
    mode: str = ""  # how the set was chosen (exhaustive, pruned ...)
    worst: list[WorstCase] = msgspec.field(default_factory=list)  # highest wc_util first


class LabUpReply(Reply, frozen=True, tag="lab_up"):
    lab_id: str
    igp: str
    lsn: int = 0  # the state the lab was built for
    already_up: bool = False  # it was up with this IGP: nothing was done
    seconds: float = 0.0  # from the request until converged (or the timeout)
    converged: bool = False
    agreement: float = 0.0
    routes: int = 0  # (router, destination) pairs compared
    routers: int = 0
    links: int = 0
    removed: dict[str, list[str]] = msgspec.field(default_factory=dict)  # leftovers of a crash


class LabDownReply(Reply, frozen=True, tag="lab_down"):
    lab_id: str
    was_up: bool = False
    removed: dict[str, list[str]] = msgspec.field(default_factory=dict)  # namespaces, processes


class LabStatusReply(Reply, frozen=True, tag="lab_status"):
    lab_id: str
    igp: str
    up: bool = False
    enabled: bool = False  # brought up at daemon start ([lab] enabled)
    lsn: int = 0  # the state the lab mirrors
    pending: bool = False  # events are waiting to be mirrored
    routers: int = 0
    running: int = 0  # routers whose FRR daemons run
    links: int = 0
    links_up: int = 0
    namespaces: int = 0
    unavailable: str = ""  # why this machine cannot run the lab, once known
    last_error: str = ""
    convergences: list[LabConvergence] = msgspec.field(default_factory=list)  # oldest first


class LabFidelityReply(Reply, frozen=True, tag="lab_fidelity"):
    lab_id: str
    lsn: int  # the state the lab mirrors, which the model side is read at
    routes: int = 0
    agreeing: int = 0
    agreement: float = 1.0
    differences: list[LabRouteDiff] = msgspec.field(default_factory=list)  # the first ones
    more: int = 0  # differing routes not listed


class ForecastReply(Reply, frozen=True, tag="forecast"):
    seq: int
    log_ts: float  # the log time the forecasts are made at
    threshold_util: float
    horizon_s: float
    enabled: bool = True  # [predict] enabled
    links: list[LinkForecast] = msgspec.field(default_factory=list)  # highest extreme first


class ScenarioListReply(Reply, frozen=True, tag="scenario_list"):
    directory: str
    scenarios: list[ScenarioInfo] = msgspec.field(default_factory=list)
    errors: list[ScenarioProblem] = msgspec.field(default_factory=list)


class ScenarioShowReply(Reply, frozen=True, tag="scenario_show"):
    scenario: ScenarioInfo
    spec: dict[str, Any] = msgspec.field(default_factory=dict)  # the file's keys, decoded
    timeline: list[str] = msgspec.field(default_factory=list)  # "+600s: link X up"...
    problem: str = ""  # why it cannot run on the network as it is now ("" if it can)


class ScenarioRunReply(Reply, frozen=True, tag="scenario_run"):
    run: ScenarioRan  # the model run (its ``error`` says if it could not complete)
    lab_run: ScenarioRan | None = None
    lab_error: str = ""  # why there is no lab run although one was asked for


class ScenarioRunsReply(Reply, frozen=True, tag="scenario_runs"):
    runs: list[ScenarioRan] = msgspec.field(default_factory=list)  # oldest first
    spikes: int = 0  # spikes predicted since the daemon started
    pending: int = 0  # injections scheduled, not yet due


class PolicyListReply(Reply, frozen=True, tag="policy_list"):
    policies: list[PolicyEntry] = msgspec.field(default_factory=list)  # oldest first
    more: int = 0  # older policies not listed


class PolicyShowReply(Reply, frozen=True, tag="policy_show"):
    """One policy: its proposal, validation, journal and feedback, and how it renders."""

    entry: PolicyEntry
    frr: dict[str, str] = msgspec.field(default_factory=dict)  # router -> frr.conf snippet
    json: dict[str, Any] = msgspec.field(default_factory=dict)  # vendor-neutral
    diffs: dict[str, str] = msgspec.field(default_factory=dict)  # router -> diff vs running
    render_error: str = ""  # why there is no rendering ("" when there is)


class PolicyProposeReply(Reply, frozen=True, tag="policy_propose"):
    entry: PolicyEntry | None = None  # None: nothing was over target
    message: str = ""


class PolicyDeployReply(Reply, frozen=True, tag="policy_deploy"):
    policy_id: str
    rollout_id: str
    segment: str = ""  # as asked ("" = the configured default)
    dry_run: bool = False


class PolicyApproveReply(Reply, frozen=True, tag="policy_approve"):
    policy_id: str
    message: str = ""


class PolicyRollbackReply(Reply, frozen=True, tag="policy_rollback"):
    policy_id: str
    message: str = ""


class PolicyHistoryReply(Reply, frozen=True, tag="policy_history"):
    policy_id: str | None = None  # None: every policy's rollouts
    steps: list[RolloutStep] = msgspec.field(default_factory=list)  # oldest first
    more: int = 0  # older entries not listed


class ReportReply(Reply, frozen=True, tag="report"):
    """Everything ``shadowctl report`` draws: ``shadowd.report.html.page(data)``."""

    data: ReportData


class MetricsReply(Reply, frozen=True, tag="metrics"):
    """The Prometheus text exposition (format 0.0.4), as GET /metrics serves it."""

    text: str = ""
