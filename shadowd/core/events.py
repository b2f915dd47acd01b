"""The event vocabulary: every change shadowd knows about, as frozen tagged msgspec Structs.

Rules (see STYLE.md, "The schema only grows"):
- never rename, retype or reuse a tag or a field; new fields get defaults;
- every event carries ``source`` (who saw it), ``seq`` (that source's strictly increasing
  sequence number) and ``ts`` (seconds since the epoch, as the source stamped it);
- golden encoded samples live in ``tests/golden/`` and must decode forever.

Names follow what operators already say: routers and links are *added*/*removed*; a link
is a physical, bidirectional adjacency between ``a`` and ``b`` with a metric per direction.
"""

from __future__ import annotations

import functools
from typing import Annotated, Final, Literal, TypeAlias, get_args

import msgspec

from shadowd.core.fields import (
    Address,
    Asn,
    BgpValue,
    Capacity,
    Count,
    DelayMs,
    Duration,
    Label,
    Latitude,
    LinkId,
    Longitude,
    Med,
    Metric,
    NewLinkId,
    NewPeerName,
    NewRouterName,
    PathLength,
    PeerName,
    Percent,
    PolicyId,
    Prefix,
    Rate,
    Ratio,
    RouterName,
    ScenarioName,
    Seq,
    SourceLabel,
    SrlgName,
    Timestamp,
)

SCHEMA_VERSION: Final = 1


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """Common envelope. Not itself an event: only its tagged subclasses are.

    ``gc=False``: events hold only strings, numbers and tuples of them, so they can never
    be part of a reference cycle; untracked, a million of them decode twice as fast.
    """

    source: SourceLabel
    seq: Seq
    ts: Timestamp


class RouterAdded(Event, frozen=True, tag="router_added"):
    router: NewRouterName
    pos: tuple[Longitude, Latitude] | None = None  # for maps
    loopback: Address | None = None


class RouterRemoved(Event, frozen=True, tag="router_removed"):
    router: RouterName


class RouterHealth(Event, frozen=True, tag="router_health"):
    router: RouterName
    up: bool
    cpu_pct: Percent = 0.0
    mem_pct: Percent = 0.0


class LinkAdded(Event, frozen=True, tag="link_added"):
    link: NewLinkId
    a: RouterName
    b: RouterName
    metric: Metric
    capacity_bps: Capacity
    reverse_metric: Metric | None = None  # b -> a, when it differs from a -> b
    delay_ms: DelayMs = 0.0
    srlgs: tuple[SrlgName, ...] = ()


class LinkRemoved(Event, frozen=True, tag="link_removed"):
    link: LinkId


class LinkStatus(Event, frozen=True, tag="link_status"):
    link: LinkId
    up: bool


class LinkMetric(Event, frozen=True, tag="link_metric"):
    link: LinkId
    metric: Metric
    reverse_metric: Metric | None = None


class LinkCapacity(Event, frozen=True, tag="link_capacity"):
    link: LinkId
    capacity_bps: Capacity


class LinkUtilization(Event, frozen=True, tag="link_util"):
    """Counters-derived rates for one link, per direction (a->b and b->a)."""

    link: LinkId
    ab_bps: Rate
    ba_bps: Rate
    drops: Count = 0
    errors: Count = 0


class DemandSet(Event, frozen=True, tag="demand_set"):
    """One traffic-matrix entry: ``rate_bps`` from ``src`` to ``dst``; 0 removes it."""

    src: RouterName
    dst: RouterName
    rate_bps: Rate


# --- BGP: external peers and the traffic that leaves through them --------------------


class PeerAdded(Event, frozen=True, tag="peer_added"):
    """An external BGP neighbour ``peer`` (AS ``asn``) of the egress ``router``, announcing
    ``prefixes`` with an AS path of ``as_path_len`` and ``med``, over a link of
    ``capacity_bps``. Re-adding a peer replaces it."""

    peer: NewPeerName
    router: RouterName
    asn: Asn
    prefixes: tuple[Prefix, ...]
    capacity_bps: Capacity
    as_path_len: PathLength = 1
    med: Med = 0


class PeerRemoved(Event, frozen=True, tag="peer_removed"):
    peer: PeerName


class ExternalDemandSet(Event, frozen=True, tag="ext_demand_set"):
    """Traffic from ``src`` toward the external ``prefix`` (it leaves through whichever
    peer BGP chooses for ``src``); ``rate_bps`` 0 removes it."""

    src: RouterName
    prefix: Prefix
    rate_bps: Rate


# --- what shadowd itself finds: records in its own log -------------------------------
#
# Appended by the daemon under its own source (``DAEMON_SOURCE``) with its own seqs, so the
# log keeps, in order, what was predicted and what the shadow did about it. They change
# nothing in the network view: folding one only advances the daemon's source position.

DAEMON_SOURCE: Final = "shadowd"

Direction = Literal["ab", "ba"]  # a link's a->b or b->a


class SpikePredicted(Event, frozen=True, tag="spike_predicted"):
    """The forecast's upper band for one direction of ``link`` crosses ``threshold_bps``
    within the horizon; ``ts`` is ``made_at``, the log time of the prediction.

    ``worst_failure``/``extreme_util``: the link's extreme-case load, its worst failure's
    load at the predicted traffic level, as a share of capacity ("" / 0: not computed).
    """

    link: LinkId
    direction: Direction
    peak_ts: Timestamp  # when the upper band is highest within the horizon
    predicted_bps: Rate  # the upper band there
    threshold_bps: Rate
    predicted_util: Ratio  # predicted_bps / capacity
    made_at: Timestamp
    onset_ts: Timestamp | None = None  # the first forecast step over the threshold
    mean_bps: Rate = 0.0  # the mean forecast at the peak
    factor: Ratio = 1.0  # predicted_bps / the load observed when it was made (>= 1)
    worst_failure: Label = ""  # "link:ID", "router:NAME", "srlg:NAME", "none"
    extreme_bps: Rate = 0.0  # the worst failure's load on the link x ``factor``
    extreme_util: Ratio = 0.0
    at_lsn: Count = 0  # the log position of the state it was made at


class ScenarioRan(Event, frozen=True, tag="scenario_ran"):
    """One scenario run in the shadow (never in production), and what it found.

    A bounded summary of ``shadowd.scenario.results.ScenarioResult`` (tier ``model``) or
    ``LabResult`` (tier ``lab``: latencies are half the probes' mean round trip, loss the
    probes' worst). ``injected_ts``/``at_lsn``: the log time and position of the state
    the run started from (the run may finish, and be logged, later).
    """

    run_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    scenario: ScenarioName
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    trigger: Label  # "spike:LINK DIR" (a predicted spike) or "manual"
    tier: Literal["model", "lab"]
    injected_ts: Timestamp
    spike_ts: Timestamp | None = None  # the predicted spike's peak
    spike_seq: Count = 0  # the ``SpikePredicted`` (this source) that caused it; 0: none
    factor: Ratio = 1.0  # every demand was scaled by this (the predicted peak's level)
    worst_link: Label = ""  # "LINK SRC->DST" at its highest utilisation in the run
    worst_util: Ratio = 0.0
    newly_overloaded: Count = 0  # link directions over 100% that were not at the baseline
    unreachable: Count = 0  # the most demands with no path at once
    max_loss_pct: Percent = 0.0  # the most traffic lost at once, % of all offered
    latency_before_ms: DelayMs = 0.0  # traffic-weighted mean one-way latency, baseline
    latency_after_ms: DelayMs = 0.0  # ... at the run's slowest step
    routes_changed: Count = 0  # the most (router, destination) routes changed at once
    steps: Count = 0
    restored: bool = True  # the shadow ended as it began
    converged: bool = True  # lab: every step's RIBs agreed with the model in time
    converge_s: Duration = 0.0  # lab: the slowest step's convergence, seconds
    error: Label = ""  # why the run could not complete ("" when it did)
    at_lsn: Count = 0  # the log position of the state the run started from


PolicyAttr = Literal["metric", "local_pref", "med", "prepend"]


class PolicyChange(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One setting on one router: ``metric`` of its end of link ``target`` (its outgoing
    cost), or ``local_pref``/``med``/``prepend`` (extra AS-path copies) on routes learnt
    from peer ``target``. ``old`` is what production ran when the policy was made."""

    router: RouterName
    target: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    attr: PolicyAttr
    old: BgpValue
    new: BgpValue


class PolicyProposed(Event, frozen=True, tag="policy_proposed"):
    """A route policy shadowd generated, with the effect the model predicts for it:
    worst-case utilisation (over ``failure_set``) before and after, the demands whose
    paths it moves and how many lose every path (must be 0 to propose)."""

    policy_id: PolicyId
    kind: Literal["igp_metric", "bgp"]
    reason: Label  # "spike:LINK DIR", "cycle", "manual"
    changes: tuple[PolicyChange, ...]
    target_util: Ratio
    wc_before: Ratio
    wc_after: Ratio
    wc_link_before: Label = ""
    wc_failure_before: Label = ""
    wc_link_after: Label = ""
    wc_failure_after: Label = ""
    failure_set: Label = "single links"
    demands_moved: Count = 0
    disconnected: Count = 0
    demand_scale: Ratio = 1.0  # demands were scaled by this (feedback from earlier policies)
    at_lsn: Count = 0


class PolicyValidated(Event, frozen=True, tag="policy_validated"):
    """The proposal applied to the shadow lab (or, without a lab, the model alone) and
    checked: RIBs agree with the model through the failure set, no forwarding loop, no
    demand left without a route, probes across the moved demands answer."""

    policy_id: PolicyId
    tier: Literal["model", "lab"]
    ok: bool
    wc_after: Ratio = 0.0  # the worst case computed on the lab's own routes
    agreement: Ratio = 1.0  # the lowest RIB agreement over the steps
    loops: Count = 0
    unreachable: Count = 0
    steps: Count = 0
    detail: Label = ""  # why not, when not ok


RolloutPhase = Literal[
    "started", "applying", "applied", "measured", "rolling_back", "rolled_back",
    "completed", "held", "approved", "resumed", "aborted",
]


class RolloutStep(Event, frozen=True, tag="rollout_step"):
    """The rollout journal: written before a step acts (``applying``, ``rolling_back``)
    and after (``applied``, ``measured``, ``rolled_back``, ``completed``), so a restart
    knows exactly which routers may hold the new configuration."""

    rollout_id: PolicyId
    policy_id: PolicyId
    segment: Label
    phase: RolloutPhase
    step: Count = 0  # 1-based step of the rollout; 0: before the first
    routers: tuple[RouterName, ...] = ()  # the routers this entry concerns
    share: Ratio = 0.0  # the share of the segment holding the policy after this step
    verdict: Literal["", "success", "failure", "inconclusive"] = ""
    failures: Count = 0
    latency_ms: DelayMs = 0.0
    throughput_bps: Rate = 0.0
    loss_pct: Percent = 0.0
    max_util: Ratio = 0.0
    driver: Label = ""
    detail: Label = ""
    # On "started" only: the plan (``routers`` then lists the whole segment, in order),
    # so that a restart rebuilds the rollout from the log alone.
    percentage: Percent = 0.0  # the share of the segment each step adds, %
    interval_s: Duration = 0.0  # how long each gate watches production
    success: tuple[Label, ...] = ()  # success conditions, "loss_pct < 1"
    failure: tuple[Label, ...] = ()  # failure conditions
    failure_limit: Count = 0  # roll back when failures exceed it
    manual_approval: bool = False  # hold before the first step until approved
    dry_run: bool = False


class PolicyFeedback(Event, frozen=True, tag="policy_feedback"):
    """After a deployment: what production showed against what the shadow predicted.
    ``demand_scale`` is what the next cycle multiplies demands by."""

    policy_id: PolicyId
    predicted_util: Ratio  # the model's highest link utilisation with the policy
    observed_util: Ratio  # production's, from its own counters
    error: Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)]  # observed / predicted - 1
    links: Count = 0  # link directions compared
    demand_scale: Ratio = 1.0


RECORD_TYPES: Final = (SpikePredicted, ScenarioRan, PolicyProposed, PolicyValidated,
                       RolloutStep, PolicyFeedback)  # change nothing in the network view

AnyEvent: TypeAlias = (
    RouterAdded
    | RouterRemoved
    | RouterHealth
    | LinkAdded
    | LinkRemoved
    | LinkStatus
    | LinkMetric
    | LinkCapacity
    | LinkUtilization
    | DemandSet
    | SpikePredicted
    | ScenarioRan
    | PeerAdded
    | PeerRemoved
    | ExternalDemandSet
    | PolicyProposed
    | PolicyValidated
    | RolloutStep
    | PolicyFeedback
)

EVENT_TYPES: Final[tuple[type[Event], ...]] = get_args(AnyEvent)

ENCODER: Final = msgspec.msgpack.Encoder()


# Decoders are built on first use: building one reads every event type's annotations, a
# cost that a process which never decodes events (shadowctl) should not pay at start.
@functools.cache
def _event_decoder() -> msgspec.msgpack.Decoder[AnyEvent]:
    return msgspec.msgpack.Decoder(AnyEvent)


@functools.cache
def _batch_decoder() -> msgspec.msgpack.Decoder[list[AnyEvent]]:
    return msgspec.msgpack.Decoder(list[AnyEvent])


def encode_batch(events: list[AnyEvent]) -> bytes:
    return ENCODER.encode(events)


def decode_event(data: bytes | memoryview) -> AnyEvent:
    """Decode and validate (types and ``Meta`` limits) one msgpack event."""
    return _event_decoder().decode(data)


def decode_batch(data: bytes | memoryview) -> list[AnyEvent]:
    """Decode and validate (types and ``Meta`` limits) a msgpack list of events."""
    return _batch_decoder().decode(data)


def tag_of(event: Event) -> str:
    """The wire tag of an event (``"link_util"``), as logs and error messages name it."""
    return str(event.__struct_config__.tag)
