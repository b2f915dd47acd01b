"""Draft -> events: name routers, number links, derive delays, then prove it all folds.

The returned list is complete and valid or not returned at all: every event passes the
schema's limits (``Meta``) and ``validate`` against the state folded so far, starting
from an empty ``State``. Any failure becomes one ``TopologyError`` naming the item.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import msgspec

from shadowd.core.checks import validate
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    ExternalDemandSet,
    LinkAdded,
    PeerAdded,
    RouterAdded,
    decode_batch,
    encode_batch,
)
from shadowd.core.fields import name_rule_broken
from shadowd.core.state import State, apply
from shadowd.topology.errors import TopologyError, naming
from shadowd.topology.model import (
    DemandSpec,
    Draft,
    ImportOptions,
    LinkSpec,
    NodeSpec,
    demand_label,
)
from shadowd.topology.units import fibre_delay_ms, great_circle_km

_MAX_ID = 64  # shadowd.core.events.LinkId max_length


def router_names(nodes: Iterable[NodeSpec]) -> dict[str, str]:
    """Node key -> router name: the node's name when present and unique, else its key.

    If a name so chosen equals another node's key, names would be ambiguous, so every
    router is then named by its key.
    """
    nodes = list(nodes)
    _require_unique_keys(nodes)
    counts = Counter(n.name for n in nodes if n.name)
    names = {n.key: n.name if n.name and counts[n.name] == 1 else n.key for n in nodes}
    if len(set(names.values())) < len(names):
        return {n.key: n.key for n in nodes}
    return names


def _require_unique_keys(nodes: list[NodeSpec]) -> None:
    seen: set[str] = set()
    for node in nodes:
        if node.key in seen:
            raise TopologyError("declared twice", item=f"node {node.key!r} ({node.where})")
        seen.add(node.key)


def link_ids(links: list[LinkSpec], names: dict[str, str]) -> list[str]:
    """Readable, deterministic ids: the file's own, else ``a--b``, ``a--b#2`` for parallels."""
    taken = _explicit_ids(links)
    per_pair: Counter[frozenset[str]] = Counter()
    ids: list[str] = []
    for link in links:
        if link.id is not None:
            ids.append(link.id)
            continue
        a, b = names.get(link.a, link.a), names.get(link.b, link.b)
        pair = frozenset((a, b))
        per_pair[pair] += 1
        while (new := _link_id(a, b, per_pair[pair])) in taken:
            per_pair[pair] += 1
        taken.add(new)
        ids.append(new)
    return ids


def _explicit_ids(links: list[LinkSpec]) -> set[str]:
    seen: dict[str, str] = {}
    for link in links:
        if link.id is not None and link.id in seen:
            raise TopologyError(f"id already used by the link at {seen[link.id]}",
                                item=f"link {link.id!r} ({link.where})")
        if link.id is not None:
            seen[link.id] = link.where
    return set(seen)


def _link_id(a: str, b: str, n: int) -> str:
    suffix = "" if n == 1 else f"#{n}"
    plain = f"{a}--{b}{suffix}"
    if len(plain) <= _MAX_ID:
        return plain
    digest = hashlib.blake2b(plain.encode(), digest_size=3).hexdigest()
    return f"{_short(a)}--{_short(b)}~{digest}{suffix}"


def _short(name: str) -> str:
    return re.sub(r"\s+", "", name)[:24]


class _Log:
    """Events in the making, each with the label an error about it should carry."""

    def __init__(self, opts: ImportOptions) -> None:
        self.opts = opts
        self.events: list[AnyEvent] = []
        self.labels: list[str] = []

    def add(self, label: str, make: Callable[..., AnyEvent], **fields: object) -> None:
        seq = len(self.events) + 1
        self.events.append(make(source=self.opts.source, seq=seq, ts=self.opts.ts, **fields))
        self.labels.append(label)


def build_events(draft: Draft, opts: ImportOptions) -> list[AnyEvent]:
    """The complete, validated event list for ``draft``: routers, links, demands."""
    names = router_names(draft.nodes)
    log = _Log(opts)
    for node in draft.nodes:
        log.add(f"node {node.key!r} ({node.where})", RouterAdded, router=names[node.key],
                pos=node.pos, loopback=node.loopback)
    positions = {n.key: n.pos for n in draft.nodes}
    for link, link_id in zip(draft.links, link_ids(draft.links, names), strict=True):
        label = f"link {link_id!r} ({link.where})"
        with naming(label):
            log.add(label, LinkAdded, **_link_fields(link, link_id, names, positions, opts))
    for demand in unique_demands(draft.demands):
        _add_demand(log, demand, names)
    _add_bgp(log, draft, names)
    check_events(log.events, log.labels)
    return log.events


def _add_bgp(log: _Log, draft: Draft, names: dict[str, str]) -> None:
    """Every ``PeerAdded``, then every ``ExternalDemandSet`` (zero rates skipped)."""
    seen: dict[str, str] = {}
    for p in draft.peers:
        label = f"peer {p.name!r} ({p.where})"
        if p.name in seen:
            raise TopologyError(f"declared twice (first at {seen[p.name]})", item=label)
        seen[p.name] = p.where
        with naming(label):
            router = _endpoint(names, p.router, "egress router")
        capacity = p.capacity_bps if p.capacity_bps is not None \
            else log.opts.default_capacity_bps
        log.add(label, PeerAdded, peer=p.name, router=router, asn=p.asn, prefixes=p.prefixes,
                capacity_bps=capacity, as_path_len=p.as_path_len, med=p.med)
    for d in draft.ext_demands:
        label = f"external demand {d.src}->{d.prefix} ({d.where})"
        with naming(label):
            src = _endpoint(names, d.src, "source")
        if d.rate_bps > 0.0:
            log.add(label, ExternalDemandSet, src=src, prefix=d.prefix, rate_bps=d.rate_bps)


def _endpoint(names: dict[str, str], key: str, end: str) -> str:
    if key not in names:
        raise TopologyError(f"{end} {key!r} is not a declared node (dangling)")
    return names[key]


def _link_fields(link: LinkSpec, link_id: str, names: dict[str, str],
                 positions: dict[str, tuple[float, float] | None],
                 opts: ImportOptions) -> dict[str, object]:
    a, b = _endpoint(names, link.a, "end a"), _endpoint(names, link.b, "end b")
    capacity = link.capacity_bps if link.capacity_bps is not None else opts.default_capacity_bps
    if capacity <= 0.0:
        raise TopologyError(f"capacity {capacity!r} bps must be > 0")
    return {"link": link_id, "a": a, "b": b, "metric": link.metric,
            "reverse_metric": link.reverse_metric, "capacity_bps": capacity,
            "delay_ms": _delay_ms(link, positions), "srlgs": link.srlgs}


def _delay_ms(link: LinkSpec, positions: dict[str, tuple[float, float] | None]) -> float:
    """Explicit delay, else fibre delay over ``dist`` km, else over the great circle, else 0."""
    if link.delay_ms is not None:
        return link.delay_ms
    if link.dist_km is not None:
        return fibre_delay_ms(link.dist_km)
    pa, pb = positions.get(link.a), positions.get(link.b)
    if pa is not None and pb is not None:
        return fibre_delay_ms(great_circle_km(pa, pb))
    return 0.0


def unique_demands(demands: list[DemandSpec]) -> list[DemandSpec]:
    """``demands`` unchanged, or an error naming the second of two for the same pair."""
    seen: dict[tuple[str, str], str] = {}
    for d in demands:
        if (d.src, d.dst) in seen:
            raise TopologyError(f"given twice (first at {seen[(d.src, d.dst)]})",
                                item=demand_label(d.src, d.dst, d.where))
        seen[(d.src, d.dst)] = d.where
    return demands


def _add_demand(log: _Log, demand: DemandSpec, names: dict[str, str]) -> None:
    label = demand_label(demand.src, demand.dst, demand.where)
    with naming(label):
        src = _endpoint(names, demand.src, "source")
        dst = _endpoint(names, demand.dst, "destination")
        if demand.rate_bps < 0.0:
            raise TopologyError(f"rate {demand.rate_bps!r} bps must be >= 0")
    if demand.rate_bps > 0.0:  # a zero demand is no demand: nothing to set
        log.add(label, DemandSet, src=src, dst=dst, rate_bps=demand.rate_bps)


def check_events(events: list[AnyEvent], labels: list[str]) -> None:
    """Raise ``TopologyError`` naming the first event that breaks a limit or does not fold."""
    check_schema(events, labels)
    check_fold(events, labels)


def check_schema(events: Sequence[AnyEvent], labels: list[str]) -> None:
    """The schema's limits (``Meta``: name lengths, metric range...), which constructors skip."""
    try:
        decode_batch(encode_batch(list(events)))
    except msgspec.ValidationError as err:
        raise TopologyError(_schema_reason(err), item=_schema_item(err, labels)) from None


def check_fold(events: list[AnyEvent], labels: list[str]) -> None:
    """``validate`` then ``apply`` each event, from an empty ``State``."""
    state = State()
    for event, label in zip(events, labels, strict=True):
        try:
            validate(state, event)
        except InvalidEvent as err:
            raise TopologyError(err.reason, item=label) from None
        apply(state, event)


_AT = re.compile(r"^(.*) - at `\$\[(\d+)\](.*)`$")


def _schema_reason(err: msgspec.ValidationError) -> str:
    match = _AT.match(str(err))
    if not match:
        return str(err)
    return f"{match.group(3).lstrip('.')}: {name_rule_broken(match.group(1)) or match.group(1)}"


def _schema_item(err: msgspec.ValidationError, labels: list[str]) -> str:
    match = _AT.match(str(err))
    return labels[int(match.group(2))] if match else ""
