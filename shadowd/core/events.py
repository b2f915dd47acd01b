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

from typing import Annotated, Final, TypeAlias, get_args

import msgspec

SCHEMA_VERSION: Final = 1

# Every number has both bounds: msgspec then rejects NaN, infinities and ints the msgpack
# log cannot hold while decoding, in C, with the field's path in the error.
INT64_MAX: Final = 2**63 - 1
MAX_RATE: Final = 1e18  # bit/s: an exabit per second is beyond any link

RouterName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
LinkId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Metric = Annotated[int, msgspec.Meta(ge=1, le=16_777_214)]  # IS-IS wide metric range
Rate = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_RATE)]  # bits per second
Capacity = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_RATE)]
Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
Count = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Timestamp = Annotated[float, msgspec.Meta(ge=0.0, le=1e11)]  # seconds since 1970, < year 5000
DelayMs = Annotated[float, msgspec.Meta(ge=0.0, le=1e9)]
Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """Common envelope. Not itself an event: only its tagged subclasses are.

    ``gc=False``: events hold only strings, numbers and tuples of them, so they can never
    be part of a reference cycle; untracked, a million of them decode twice as fast.
    """

    source: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    seq: Seq
    ts: Timestamp


class RouterAdded(Event, frozen=True, tag="router_added"):
    router: RouterName
    pos: tuple[Longitude, Latitude] | None = None  # for maps
    loopback: str | None = None


class RouterRemoved(Event, frozen=True, tag="router_removed"):
    router: RouterName


class RouterHealth(Event, frozen=True, tag="router_health"):
    router: RouterName
    up: bool
    cpu_pct: Percent = 0.0
    mem_pct: Percent = 0.0


class LinkAdded(Event, frozen=True, tag="link_added"):
    link: LinkId
    a: RouterName
    b: RouterName
    metric: Metric
    capacity_bps: Capacity
    reverse_metric: Metric | None = None  # b -> a, when it differs from a -> b
    delay_ms: DelayMs = 0.0
    srlgs: tuple[str, ...] = ()


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
)

EVENT_TYPES: Final[tuple[type[Event], ...]] = get_args(AnyEvent)

ENCODER: Final = msgspec.msgpack.Encoder()
EVENT_DECODER: Final = msgspec.msgpack.Decoder(AnyEvent)
BATCH_DECODER: Final = msgspec.msgpack.Decoder(list[AnyEvent])


def encode_batch(events: list[AnyEvent]) -> bytes:
    return ENCODER.encode(events)


def decode_batch(data: bytes | memoryview) -> list[AnyEvent]:
    """Decode and validate (types and ``Meta`` limits) a msgpack list of events."""
    return BATCH_DECODER.decode(data)


def tag_of(event: Event) -> str:
    """The wire tag of an event (``"link_util"``), as logs and error messages name it."""
    return str(event.__struct_config__.tag)
