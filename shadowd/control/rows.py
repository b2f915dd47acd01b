"""The records inside control messages: the rows of a reply's tables and lists (a source's
counters, a link's load, a scenario file's problem) and an operator's metric setting in a
request. Untagged: the message around each one says what it is."""

from __future__ import annotations

from typing import Annotated

import msgspec

from shadowd.core.events import AnyEvent


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


class LoggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event as the log holds it: its log sequence number and the event."""

    lsn: int
    event: AnyEvent


class NextHopInfo(msgspec.Struct, frozen=True, kw_only=True):
    link: str
    neighbor: str
    metric: float  # the destination's distance through this next hop


class LinkLoad(msgspec.Struct, frozen=True, kw_only=True):
    """Load on one direction of a link: ``src`` -> ``dst``."""

    link: str
    src: str
    dst: str
    load_bps: float
    capacity_bps: float
    utilization: float


class WorstCase(msgspec.Struct, frozen=True, kw_only=True):
    """A directed link's worst case over a failure set: WC load / WC util / WC failure."""

    link: str
    src: str
    dst: str
    wc_load_bps: float
    wc_util: float
    wc_failure: str  # "none", "link:ID", "router:NAME", "srlg:NAME", "links:A+B"


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


class LabRouteDiff(msgspec.Struct, frozen=True, kw_only=True):
    """A route on which the lab and the model disagree: next hops as link ids."""

    router: str
    destination: str
    model: list[str] = msgspec.field(default_factory=list)  # [] = unreachable
    lab: list[str] = msgspec.field(default_factory=list)


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


class MetricSetting(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's own change: ``router``'s outgoing IGP cost on ``link``."""

    router: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    link: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    metric: Annotated[int, msgspec.Meta(ge=1, le=16_777_214)]
