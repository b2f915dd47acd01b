"""The shadow's state and the fold that builds it: ``state = fold(apply, events)``.

``apply`` is deterministic and does no I/O; it is the only code that changes a ``State``.
It updates the state it is given and returns it: the state is the fold's accumulator,
owned by whoever runs the fold. That is what lets a replay apply a million events a
second; ``fork()`` gives an independent copy for "fork at t, fail X, compare".

``shadowd.core.checks.validate`` runs *before* an event is appended to the log, so the
log only ever holds events that apply cleanly; ``apply`` may therefore assume
referential integrity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

import msgspec

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    DemandSet,
    Event,
    ExternalDemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    LinkUtilization,
    PeerAdded,
    PeerRemoved,
    PolicyFeedback,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
    ScenarioRan,
    SpikePredicted,
)


class Router(msgspec.Struct, kw_only=True, gc=False):
    name: str
    up: bool = True
    cpu_pct: float = 0.0
    mem_pct: float = 0.0
    pos: tuple[float, float] | None = None
    loopback: str | None = None


class Link(msgspec.Struct, kw_only=True, gc=False):
    id: str
    a: str
    b: str
    metric: int
    reverse_metric: int
    capacity_bps: float
    delay_ms: float = 0.0
    srlgs: tuple[str, ...] = ()
    up: bool = True
    ab_bps: float = 0.0
    ba_bps: float = 0.0
    drops: int = 0
    errors: int = 0


class Peer(msgspec.Struct, kw_only=True, gc=False):
    """An external BGP neighbour of the egress ``router``."""

    name: str
    router: str
    asn: int
    prefixes: tuple[str, ...]
    capacity_bps: float
    as_path_len: int = 1
    med: int = 0


PolicyStatus = Literal["proposed", "validated", "rejected", "deploying", "held", "deployed",
                       "rolled_back", "aborted"]
_STATUS_OF_PHASE: Final[dict[str, PolicyStatus]] = {
    "held": "held", "completed": "deployed", "rolled_back": "rolled_back", "aborted": "aborted"}
_CLOSING_PHASES: Final = frozenset({"completed", "rolled_back", "aborted"})
MAX_STEPS_KEPT: Final = 500  # journal entries kept per policy (a rollout writes a few per step)


class PolicyEntry(msgspec.Struct, kw_only=True, gc=False):
    """One policy shadowd proposed and what became of it, from its records in the log."""

    proposal: PolicyProposed
    status: PolicyStatus = "proposed"
    validation: PolicyValidated | None = None
    steps: list[RolloutStep] = msgspec.field(default_factory=list)  # its rollouts' journal
    feedback: PolicyFeedback | None = None


class SourcePosition(msgspec.Struct, kw_only=True, gc=False):
    """How far one source has been applied: its last ``seq`` and when it was stamped."""

    seq: int = 0
    ts: float = 0.0


class State(msgspec.Struct, kw_only=True):
    """Everything the log says, as of log sequence number ``lsn`` (events applied)."""

    lsn: int = 0
    routers: dict[str, Router] = msgspec.field(default_factory=dict)
    links: dict[str, Link] = msgspec.field(default_factory=dict)
    demands: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)
    sources: dict[str, SourcePosition] = msgspec.field(default_factory=dict)
    peers: dict[str, Peer] = msgspec.field(default_factory=dict)
    ext_demands: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)  # src->prefix
    # shadowd's own policy records: what it proposed, validated, rolled out, learnt
    policies: dict[str, PolicyEntry] = msgspec.field(default_factory=dict)
    open_rollouts: dict[str, list[RolloutStep]] = msgspec.field(default_factory=dict)
    demand_scale: float = 1.0  # the latest feedback's calibration of demands

    def fork(self) -> State:
        return _state_decoder().decode(STATE_ENCODER.encode(self))

    def demand_count(self) -> int:
        return sum(len(row) for row in self.demands.values())


STATE_ENCODER: Final = msgspec.msgpack.Encoder(order="deterministic")


@functools.cache
def _state_decoder() -> msgspec.msgpack.Decoder[State]:
    """Built on first use, like the event decoders (``shadowd.core.events``)."""
    return msgspec.msgpack.Decoder(State)


class _Legacy(msgspec.Struct, kw_only=True):
    """``State`` as it was before BGP and policies: a state without them digests as it
    always did, so producers and daemons of different versions still agree on it."""

    lsn: int
    routers: dict[str, Router]
    links: dict[str, Link]
    demands: dict[str, dict[str, float]]
    sources: dict[str, SourcePosition]


def digest(state: State) -> str:
    """A stable fingerprint: same state, same digest, on any machine and Python."""
    encodable: State | _Legacy = state
    if not (state.peers or state.ext_demands or state.policies or state.open_rollouts
            or state.demand_scale != 1.0):
        encodable = _Legacy(lsn=state.lsn, routers=state.routers, links=state.links,
                                demands=state.demands, sources=state.sources)
    # Imported here: hashlib loads OpenSSL, 4 ms of every shadowctl start, which only
    # reads digests.
    from hashlib import blake2b  # noqa: PLC0415

    return blake2b(STATE_ENCODER.encode(encodable), digest_size=16).hexdigest()


def view_sources(state: State) -> set[str]:
    """The sources that shaped the network view: every one but shadowd's own records
    (``DAEMON_SOURCE``), which change nothing in it."""
    return set(state.sources) - {DAEMON_SOURCE}


def view_digest(state: State) -> str:
    """The digest of the network view alone (routers, links with counters, demands).

    Leaves out ``lsn`` and ``sources``, which say how the state was reached, so that a
    producer folding what it sent into a ``State`` of its own gets the same value.
    """
    return digest(State(routers=state.routers, links=state.links, demands=state.demands,
                        peers=state.peers, ext_demands=state.ext_demands))


# --- the fold ------------------------------------------------------------------------


def _router_added(s: State, e: RouterAdded) -> None:
    old = s.routers.get(e.router)
    up = old.up if old is not None else True
    s.routers[e.router] = Router(name=e.router, up=up, pos=e.pos, loopback=e.loopback)


def _router_removed(s: State, e: RouterRemoved) -> None:
    del s.routers[e.router]
    for link_id in [k for k, lk in s.links.items() if e.router in (lk.a, lk.b)]:
        del s.links[link_id]
    s.demands.pop(e.router, None)
    for src in list(s.demands):
        _drop_demand(s, src, e.router)
    s.ext_demands.pop(e.router, None)
    for peer in [k for k, p in s.peers.items() if p.router == e.router]:
        del s.peers[peer]


def _router_health(s: State, e: RouterHealth) -> None:
    r = s.routers[e.router]
    r.up, r.cpu_pct, r.mem_pct = e.up, e.cpu_pct, e.mem_pct


def _link_added(s: State, e: LinkAdded) -> None:
    reverse = e.reverse_metric if e.reverse_metric is not None else e.metric
    old = s.links.get(e.link)
    link = Link(
        id=e.link, a=e.a, b=e.b, metric=e.metric, reverse_metric=reverse,
        capacity_bps=e.capacity_bps, delay_ms=e.delay_ms, srlgs=e.srlgs,
    )
    if old is not None:
        link.up = old.up
    s.links[e.link] = link


def _link_removed(s: State, e: LinkRemoved) -> None:
    del s.links[e.link]


def _link_status(s: State, e: LinkStatus) -> None:
    s.links[e.link].up = e.up


def _link_metric(s: State, e: LinkMetric) -> None:
    link = s.links[e.link]
    link.metric = e.metric
    link.reverse_metric = e.reverse_metric if e.reverse_metric is not None else e.metric


def _link_capacity(s: State, e: LinkCapacity) -> None:
    s.links[e.link].capacity_bps = e.capacity_bps


def _link_util(s: State, e: LinkUtilization) -> None:
    link = s.links[e.link]
    link.ab_bps, link.ba_bps, link.drops, link.errors = e.ab_bps, e.ba_bps, e.drops, e.errors


def _demand_set(s: State, e: DemandSet) -> None:
    if e.rate_bps > 0.0:
        s.demands.setdefault(e.src, {})[e.dst] = e.rate_bps
    else:
        _drop_demand(s, e.src, e.dst)


def _drop_demand(s: State, src: str, dst: str) -> None:
    """Remove one demand; an emptied row goes too, so equal matrices digest equally."""
    row = s.demands.get(src)
    if row is not None and row.pop(dst, None) is not None and not row:
        del s.demands[src]


def _peer_added(s: State, e: PeerAdded) -> None:
    s.peers[e.peer] = Peer(name=e.peer, router=e.router, asn=e.asn, prefixes=e.prefixes,
                           capacity_bps=e.capacity_bps, as_path_len=e.as_path_len, med=e.med)


def _ext_demand_set(s: State, e: ExternalDemandSet) -> None:
    if e.rate_bps > 0.0:
        s.ext_demands.setdefault(e.src, {})[e.prefix] = e.rate_bps
        return
    row = s.ext_demands.get(e.src)
    if row is not None and row.pop(e.prefix, None) is not None and not row:
        del s.ext_demands[e.src]


def _policy_proposed(s: State, e: PolicyProposed) -> None:
    s.policies[e.policy_id] = PolicyEntry(proposal=e)


def _policy_validated(s: State, e: PolicyValidated) -> None:
    entry = s.policies[e.policy_id]
    entry.validation = e
    entry.status = "validated" if e.ok else "rejected"


def _rollout_step(s: State, e: RolloutStep) -> None:
    entry = s.policies[e.policy_id]
    entry.steps.append(e)
    del entry.steps[:-MAX_STEPS_KEPT]
    entry.status = _STATUS_OF_PHASE.get(e.phase, "deploying")
    if e.phase in _CLOSING_PHASES:
        s.open_rollouts.pop(e.rollout_id, None)
    else:
        s.open_rollouts.setdefault(e.rollout_id, []).append(e)


def _policy_feedback(s: State, e: PolicyFeedback) -> None:
    s.policies[e.policy_id].feedback = e
    s.demand_scale = e.demand_scale


def _record(s: State, e: SpikePredicted | ScenarioRan) -> None:
    """These records change nothing in the state; only the source position advances."""


# Each event type's change to a state: ``fold`` runs them, and so does ingest's
# ``shadowd.core.checks.apply_valid`` once an event has passed its check.
APPLY_BY_TYPE: Final[dict[type[Event], Callable[[State, Any], None]]] = {
    RouterAdded: _router_added,
    RouterRemoved: _router_removed,
    RouterHealth: _router_health,
    LinkAdded: _link_added,
    LinkRemoved: _link_removed,
    LinkStatus: _link_status,
    LinkMetric: _link_metric,
    LinkCapacity: _link_capacity,
    LinkUtilization: _link_util,
    DemandSet: _demand_set,
    PeerAdded: _peer_added,
    PeerRemoved: lambda s, e: s.peers.__delitem__(e.peer),
    ExternalDemandSet: _ext_demand_set,
    PolicyProposed: _policy_proposed,
    PolicyValidated: _policy_validated,
    RolloutStep: _rollout_step,
    PolicyFeedback: _policy_feedback,
    SpikePredicted: _record,
    ScenarioRan: _record,
}


def apply(state: State, event: AnyEvent) -> State:
    """Fold one logged event into ``state`` (in place) and return it."""
    return fold((event,), state)


def fold(events: Iterable[AnyEvent], state: State | None = None) -> State:
    """Apply ``events`` in order, starting from ``state`` (or the empty state)."""
    acc = State() if state is None else state
    handlers, sources = APPLY_BY_TYPE, acc.sources
    n = 0
    for event in events:
        handlers[type(event)](acc, event)
        pos = sources.get(event.source)
        if pos is None:
            sources[event.source] = SourcePosition(seq=event.seq, ts=event.ts)
        else:
            pos.seq, pos.ts = event.seq, event.ts
        n += 1
    acc.lsn += n
    return acc


def log_time(state: State) -> float:
    """The log's clock: the latest time stamped on the telemetry ``state`` holds (0: none
    yet). shadowd's own records do not move it."""
    return max((p.ts for name, p in state.sources.items() if name != DAEMON_SOURCE),
               default=0.0)
