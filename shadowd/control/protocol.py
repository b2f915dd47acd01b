"""The control protocol: the one module the server and ``shadowctl`` share.

A conversation is a stream of frames over a Unix socket. A frame is a 4-byte big-endian
body length followed by a msgpack body. The client sends a ``Request`` frame, the server
answers with exactly one ``Reply`` frame (the reply named by the request, or an
``ErrorReply``); a connection may carry several requests, one after the other.

Adding a command: one tagged ``Request[YourReply]`` subclass (and its reply) here, added
to ``AnyRequest`` / ``AnyReply``; one ``on_<tag>`` method on the daemon's handlers; one
``shadowctl`` subcommand. The schema only grows: never rename, retype or reuse a tag or
a field; new fields get defaults, so an older ``shadowctl`` still decodes newer replies.
"""

from __future__ import annotations

import functools
import struct
from typing import (
    Annotated,
    Any,
    ClassVar,
    Final,
    Generic,
    Literal,
    TypeAlias,
    TypeVar,
    Union,
    get_args,
)

import msgspec

from shadowd.core.events import AnyEvent, Label, PolicyId, RolloutStep, ScenarioRan
from shadowd.core.state import Link, PolicyEntry, Router
from shadowd.report.data import ReportData

PROTOCOL_VERSION: Final = 1

HEADER: Final = struct.Struct(">I")
MAX_REQUEST_BYTES: Final = 1 << 20  # 1 MiB: requests are small; anything bigger is garbage
MAX_REPLY_BYTES: Final = 64 << 20  # 64 MiB: a whole topology or a long log tail fits
MAX_LOG_TAIL: Final = 10_000

# Error codes. Plain strings, not a Literal, so an older client still decodes a new code.
FORBIDDEN: Final = "forbidden"  # the peer's uid/gid is not allowed
TOO_LARGE: Final = "too_large"  # a frame over the size limit
BAD_REQUEST: Final = "bad_request"  # not msgpack, unknown type, invalid fields, truncated
TIMEOUT: Final = "timeout"  # a frame did not arrive in time
UNSUPPORTED: Final = "unsupported"  # a known request this daemon has no handler for
INTERNAL: Final = "internal"  # the daemon failed while handling it (see its log)
BUSY: Final = "busy"  # too many connections, or replies unread: try again
UNAVAILABLE: Final = "unavailable"  # what the request needs is missing here (the lab: root, FRR)
LAB_DOWN: Final = "lab_down"  # the lab is not up (`shadowctl lab up`)
LAB_FAILED: Final = "lab_failed"  # building or changing the lab failed; the message says why
NOT_FOUND: Final = "not_found"  # no router, link, scenario or policy of that name
INVALID_SCENARIO: Final = "invalid_scenario"  # it does not fit the network (file, line, why)
POLICY_REFUSED: Final = "policy_refused"  # not now for this policy (not validated, deploying...)
POLICY_FAILED: Final = "policy_failed"  # proposing or rendering a policy failed; says why


# --- replies ---------------------------------------------------------------------------


class Reply(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Common base of every reply. Not itself sent: only its tagged subclasses are."""


class ErrorReply(Reply, frozen=True, tag="error"):
    """The request failed; ``code`` is one of the constants above (or a newer one)."""

    code: str
    message: str


class SourceStatus(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How one telemetry source is doing: its last ``seq``/``ts`` (from the log, so they
    survive a restart) and counters since the daemon started (which start again at 0)."""

    seq: int = 0
    ts: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    gaps: int = 0
    snapshots: int = 0  # resync snapshots reconciled
    stale_snapshots: int = 0  # ... and dropped because the shadow was already past them
    resyncs: int = 0  # resync requests sent to the source
    held: int = 0  # delta batches held until the seqs before them arrived
    digests_ok: int = 0
    digest_mismatches: int = 0
    digests_passed: int = 0  # not compared: the shadow had moved past, or holds other sources
    dead_letters: int = 0


class FeedStatus(msgspec.Struct, frozen=True, kw_only=True):
    """How one configured feed (replay, Kafka, MQTT) is doing: its connection, its traffic."""

    kind: str
    connected: bool = False
    messages: int = 0
    lost: int = 0  # times the connection was lost
    paused: int = 0  # times consumption paused for the log to catch up
    dead_letters: int = 0
    resync_requests: int = 0
    offsets: dict[str, int] = msgspec.field(default_factory=dict)


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


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event as the log holds it: its log sequence number and the event."""

    lsn: int
    event: AnyEvent


class LogTailReply(Reply, frozen=True, tag="log_tail"):
    events: list[LoggedEvent] = msgspec.field(default_factory=list)  # oldest first


class SnapshotReply(Reply, frozen=True, tag="snapshot"):
    lsn: int
    path: str


class NextHopInfo(msgspec.Struct, frozen=True, kw_only=True):
    link: str
    neighbor: str
    metric: float  # the destination's distance through this next hop


class RoutesReply(Reply, frozen=True, tag="routes"):
    """One router's next-hop table, as the model computes it at ``seq``."""

    seq: int
    router: str
    routes: dict[str, list[NextHopInfo]] = msgspec.field(default_factory=dict)
    unreachable: list[str] = msgspec.field(default_factory=list)


class LinkLoad(msgspec.Struct, frozen=True, kw_only=True):
    """Load on one direction of a link: ``src`` -> ``dst``."""

    link: str
    src: str
    dst: str
    load_bps: float
    capacity_bps: float
    utilization: float


class LoadsReply(Reply, frozen=True, tag="loads"):
    seq: int
    loads: list[LinkLoad] = msgspec.field(default_factory=list)  # most utilised first


class WorstCase(msgspec.Struct, frozen=True, kw_only=True):
    """A directed link's worst case over a failure set: WC load / WC util / WC failure."""

    link: str
    src: str
    dst: str
    wc_load_bps: float
    wc_util: float
    wc_failure: str  # "none", "link:ID", "router:NAME", "srlg:NAME", "links:A+B"


class WorstCaseReply(Reply, frozen=True, tag="worst_case"):
    seq: int
    failures: str  # the failure set swept: links | nodes | srlg | links2
    scenarios: int = 0  # how many failures were evaluated
    mode: str = ""  # how the set was chosen (exhaustive, pruned ...)
    worst: list[WorstCase] = msgspec.field(default_factory=list)  # highest wc_util first


class LabConvergence(msgspec.Struct, frozen=True, kw_only=True):
    """One change of the lab and how long its RIBs took to agree with the model."""

    lsn: int  # the state the lab was changed to
    ts: float = 0.0  # wall clock when the change began
    changes: list[str] = msgspec.field(default_factory=list)  # "link X down", "lab up" ...
    seconds: float = 0.0  # from the start of the change until agreement (or the timeout)
    converged: bool = False
    agreement: float = 0.0  # share of routes agreeing at the end
    routes: int = 0
    polls: int = 0


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


class LabRouteDiff(msgspec.Struct, frozen=True, kw_only=True):
    """A route on which the lab and the model disagree: next hops as link ids."""

    router: str
    destination: str
    model: list[str] = msgspec.field(default_factory=list)  # [] = unreachable
    lab: list[str] = msgspec.field(default_factory=list)


class LabFidelityReply(Reply, frozen=True, tag="lab_fidelity"):
    lab_id: str
    lsn: int  # the state the lab mirrors, which the model side is read at
    routes: int = 0
    agreeing: int = 0
    agreement: float = 1.0
    differences: list[LabRouteDiff] = msgspec.field(default_factory=list)  # the first ones
    more: int = 0  # differing routes not listed


class LinkForecast(msgspec.Struct, frozen=True, kw_only=True):
    """One direction of a link: historical, normal and extreme-case load."""

    link: str
    direction: str  # "ab" (a -> b) or "ba"
    src: str
    dst: str
    capacity_bps: float
    observed_bps: float | None = None  # historical: the newest sample
    recent_max_bps: float | None = None  # ... and the highest over the last day
    peak_ts: float | None = None  # normal: the next peak within the horizon
    normal_bps: float | None = None  # ... the mean forecast there
    upper_bps: float | None = None  # ... and its calibrated upper band
    ready: bool = False  # the forecaster has seen a season of this link
    factor: float = 1.0  # demand factor taking the load now to the upper band
    wc_load_bps: float = 0.0  # extreme case: the worst-case load now ...
    wc_failure: str = ""  # ... under this failure
    extreme_bps: float = 0.0  # ... x factor
    extreme_util: float = 0.0


class ForecastReply(Reply, frozen=True, tag="forecast"):
    seq: int
    log_ts: float  # the log time the forecasts are made at
    threshold_util: float
    horizon_s: float
    enabled: bool = True  # [predict] enabled
    links: list[LinkForecast] = msgspec.field(default_factory=list)  # highest extreme first


class ScenarioInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: str
    description: str = ""
    file: str = ""


class ScenarioProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A scenario file that cannot be used: where, and why."""

    file: str
    line: int | None = None
    key: str = ""
    reason: str = ""
    message: str = ""  # file:line: key: reason, as one line


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


# --- requests --------------------------------------------------------------------------

R = TypeVar("R", bound=Reply)


class Request(msgspec.Struct, Generic[R], frozen=True, kw_only=True, tag_field="type"):
    """Common base of every request, generic in the reply it asks for.

    ``Request[StatusReply]`` lets the client's ``call`` return a ``StatusReply`` to the
    type checker; ``reply_type`` is the same thing at run time, taken from the base.
    """

    reply_type: ClassVar[type[Reply]] = Reply

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], Reply):
                cls.reply_type = args[0]

    @classmethod
    def tag(cls) -> str:
        return str(cls.__struct_config__.tag)


class StatusRequest(Request[StatusReply], frozen=True, tag="status"):
    pass


class TopologyRequest(Request[TopologyReply], frozen=True, tag="topology"):
    pass


class LogTailRequest(Request[LogTailReply], frozen=True, tag="log_tail"):
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_LOG_TAIL)] = 20


class SnapshotRequest(Request[SnapshotReply], frozen=True, tag="snapshot"):
    pass


class RoutesRequest(Request[RoutesReply], frozen=True, tag="routes"):
    router: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


MAX_TOP: Final = 100_000


class LoadsRequest(Request[LoadsReply], frozen=True, tag="loads"):
    top: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOP)] = 10


FailureSet = Literal["links", "nodes", "srlg", "links2"]


class WorstCaseRequest(Request[WorstCaseReply], frozen=True, tag="worst_case"):
    failures: FailureSet = "links"
    top: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOP)] = 10


Igp = Literal["ospf", "isis"]
MAX_DIFFERENCES: Final = 100_000


class LabUpRequest(Request[LabUpReply], frozen=True, tag="lab_up"):
    """Bring the lab up and wait until it agrees with the model; ``igp`` overrides the
    configured one (a lab up with another IGP is rebuilt)."""

    igp: Igp | None = None


class LabDownRequest(Request[LabDownReply], frozen=True, tag="lab_down"):
    pass


class LabStatusRequest(Request[LabStatusReply], frozen=True, tag="lab_status"):
    pass


class LabFidelityRequest(Request[LabFidelityReply], frozen=True, tag="lab_fidelity"):
    differences: Annotated[int, msgspec.Meta(ge=0, le=MAX_DIFFERENCES)] = 20  # list this many


class ForecastRequest(Request[ForecastReply], frozen=True, tag="forecast"):
    link: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    top: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOP)] = 10


ScenarioName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
MAX_RUNS: Final = 100_000


class ScenarioListRequest(Request[ScenarioListReply], frozen=True, tag="scenario_list"):
    pass


class ScenarioShowRequest(Request[ScenarioShowReply], frozen=True, tag="scenario_show"):
    name: ScenarioName


class ScenarioRunRequest(Request[ScenarioRunReply], frozen=True, tag="scenario_run"):
    """Run a library scenario now, in the model (and in the lab with ``lab``)."""

    name: ScenarioName
    lab: bool = False


class ScenarioRunsRequest(Request[ScenarioRunsReply], frozen=True, tag="scenario_runs"):
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_RUNS)] = 20


MAX_POLICIES: Final = 100_000
Percentage = Annotated[float, msgspec.Meta(gt=0.0, le=100.0)]
Interval = Annotated[float, msgspec.Meta(gt=0.0, le=86_400.0)]
SegmentName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PolicyListRequest(Request[PolicyListReply], frozen=True, tag="policy_list"):
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_POLICIES)] = 50  # the latest N


class PolicyShowRequest(Request[PolicyShowReply], frozen=True, tag="policy_show"):
    policy_id: PolicyId


class MetricSetting(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's own change: ``router``'s outgoing IGP cost on ``link``."""

    router: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    link: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    metric: Annotated[int, msgspec.Meta(ge=1, le=16_777_214)]


class PolicyProposeRequest(Request[PolicyProposeReply], frozen=True, tag="policy_propose"):
    """Generate a policy from the shadow now (or, with ``metrics``, take the operator's
    own), and validate it (in the lab when it is up)."""

    reason: Label = "manual"
    metrics: list[MetricSetting] = msgspec.field(default_factory=list)


class PolicyDeployRequest(Request[PolicyDeployReply], frozen=True, tag="policy_deploy"):
    """``deploy_policy(policy, segment, rollout_percentage, monitoring_interval)``: start a
    phased rollout in the background; ``None`` takes the configured value."""

    policy_id: PolicyId
    segment: SegmentName | None = None
    rollout_percentage: Percentage | None = None
    monitoring_interval_s: Interval | None = None
    dry_run: bool = False


class PolicyApproveRequest(Request[PolicyApproveReply], frozen=True, tag="policy_approve"):
    policy_id: PolicyId


class PolicyRollbackRequest(Request[PolicyRollbackReply], frozen=True, tag="policy_rollback"):
    policy_id: PolicyId


class PolicyHistoryRequest(Request[PolicyHistoryReply], frozen=True, tag="policy_history"):
    policy_id: PolicyId | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_LOG_TAIL)] = 200  # the latest N entries


MAX_FORECAST_PLOTS: Final = 100


class ReportRequest(Request[ReportReply], frozen=True, tag="report"):
    """The data of the report page: map, worst case, forecasts, runs, policies."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "shadowd report"
    forecasts: Annotated[int, msgspec.Meta(ge=0, le=MAX_FORECAST_PLOTS)] = 8  # plots, top links
    runs: Annotated[int, msgspec.Meta(ge=0, le=MAX_RUNS)] = 100  # the latest N scenario runs


class MetricsRequest(Request[MetricsReply], frozen=True, tag="metrics"):
    pass


AnyRequest: TypeAlias = (
    StatusRequest | TopologyRequest | LogTailRequest | SnapshotRequest | RoutesRequest
    | LoadsRequest | WorstCaseRequest | LabUpRequest | LabDownRequest | LabStatusRequest
    | LabFidelityRequest | ForecastRequest | ScenarioListRequest | ScenarioShowRequest
    | ScenarioRunRequest | ScenarioRunsRequest | PolicyListRequest | PolicyShowRequest
    | PolicyProposeRequest | PolicyDeployRequest | PolicyApproveRequest | PolicyRollbackRequest
    | PolicyHistoryRequest | ReportRequest | MetricsRequest
)
AnyReply: TypeAlias = (
    ErrorReply | StatusReply | TopologyReply | LogTailReply | SnapshotReply | RoutesReply
    | LoadsReply | WorstCaseReply | LabUpReply | LabDownReply | LabStatusReply
    | LabFidelityReply | ForecastReply | ScenarioListReply | ScenarioShowReply
    | ScenarioRunReply | ScenarioRunsReply | PolicyListReply | PolicyShowReply
    | PolicyProposeReply | PolicyDeployReply | PolicyApproveReply | PolicyRollbackReply
    | PolicyHistoryReply | ReportReply | MetricsReply
)

REQUEST_TYPES: Final[tuple[type[Request[Any]], ...]] = get_args(AnyRequest)
REQUEST_TAGS: Final = frozenset(t.tag() for t in REQUEST_TYPES)


# --- encoding --------------------------------------------------------------------------


class _Envelope(msgspec.Struct):
    """Just the tag of a message, to name an unknown request type in an error."""

    type: str


_ENCODER: Final = msgspec.msgpack.Encoder()
_ENVELOPE_DECODER: Final = msgspec.msgpack.Decoder(_Envelope)


# Decoders are built on first use: building one reads the annotations of every type it can
# decode, tens of milliseconds for the whole union, which a command-line client would pay
# at every start for replies it never gets.
@functools.cache
def _request_decoder() -> msgspec.msgpack.Decoder[AnyRequest]:
    return msgspec.msgpack.Decoder(AnyRequest)


@functools.cache
def _reply_decoder(expected: type[Reply] | None) -> msgspec.msgpack.Decoder[AnyReply]:
    """For every reply, or for ``expected`` and ``ErrorReply`` alone."""
    union: Any = AnyReply if expected is None else Union[expected, ErrorReply]  # noqa: UP007
    return msgspec.msgpack.Decoder(union)


def encode(message: Request[Any] | Reply) -> bytes:
    """The msgpack body of ``message`` (no header)."""
    return _ENCODER.encode(message)


def frame(body: bytes) -> bytes:
    """``body`` with its length header in front."""
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    length: int = HEADER.unpack(header)[0]
    return length


def decode_request(body: bytes) -> AnyRequest:
    """Decode a request, or raise ``ValueError`` with a message an operator can act on."""
    try:
        return _request_decoder().decode(body)
    except msgspec.ValidationError as err:  # before DecodeError, its base class
        raise ValueError(_explain_invalid(body, err)) from None
    except msgspec.DecodeError as err:
        raise ValueError(f"request is not valid msgpack: {err}") from None


def decode_reply(body: bytes, expected: type[Reply] | None = None) -> AnyReply:
    """Decode a reply; raises ``msgspec.DecodeError``/``ValidationError`` as they come.
    A client that knows the reply it ``expected`` decodes that (or an error) first."""
    if expected is not None:
        try:
            return _reply_decoder(expected).decode(body)
        except msgspec.ValidationError:
            pass  # another type of reply: the whole union tells which, or that it is none
    return _reply_decoder(None).decode(body)


def _explain_invalid(body: bytes, err: msgspec.ValidationError) -> str:
    try:
        tag = _ENVELOPE_DECODER.decode(body).type
    except msgspec.MsgspecError:
        return f"request is not a control request: {err}"
    if tag not in REQUEST_TAGS:
        known = ", ".join(sorted(REQUEST_TAGS))
        return (
            f"unknown request type {tag!r} (this shadowd speaks control protocol "
            f"{PROTOCOL_VERSION}: {known})"
        )
    return f"invalid {tag!r} request: {err}"
