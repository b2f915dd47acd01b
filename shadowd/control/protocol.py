"""The control protocol the server and ``shadowctl`` share: requests, framing and codec.

A conversation is a stream of frames over a Unix socket. A frame is a 4-byte big-endian
body length followed by a msgpack body. The client sends a ``Request`` frame, the server
answers with exactly one ``Reply`` frame (the reply named by the request, or an
``ErrorReply``); a connection may carry several requests, one after the other.

Adding a command: one tagged ``Request[YourReply]`` subclass here and its reply in
``shadowd.control.replies`` (any row they carry in ``shadowd.control.rows``), both added
to ``AnyRequest`` / ``AnyReply`` here; one ``on_<tag>`` method on the daemon's handlers;
one ``shadowctl`` subcommand. The schema only grows: never rename, retype or reuse a tag
or a field; new fields get defaults, so an older ``shadowctl`` still decodes newer replies.
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

from shadowd.control.replies import (
    PROTOCOL_VERSION,
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
    Reply,
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
from shadowd.control.rows import MetricSetting
from shadowd.core.fields import Label, PolicyId

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
