"""gnmic's Kafka "event" format as an input: OpenConfig interface counters to link rates.

gnmic (``format: event``) writes each notification as a JSON array of events, each
``{"name", "timestamp" (ns), "tags": {"source": target, "interface_name": ...},
"values": {"/interfaces/interface/state/counters/in-octets": N, ...}}``; counter values
may come as numbers or as decimal strings (uint64 in JSON_IETF). The adapter keeps the
last two samples per (target, interface) and turns octet deltas into bits per second
over the devices' own timestamps; ``overlay`` writes them onto the links a mapping names
(the interface on a link's ``a`` end sends a->b on out-octets, receives b->a on in-octets).

``GnmicOverlay`` wraps another reader (FRR, a trace): its topology, gnmic's rates.
Everything but ``GnmicOverlay``'s Kafka consumer is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import msgspec

from shadowd import logs
from shadowd.agent.reader import Reader
from shadowd.core.errors import ShadowdError
from shadowd.core.state import State

COUNTERS: Final = "/interfaces/interface/state/counters/"
IN_OCTETS: Final = COUNTERS + "in-octets"
OUT_OCTETS: Final = COUNTERS + "out-octets"
DROPS: Final = (COUNTERS + "in-discards", COUNTERS + "out-discards")
ERRORS: Final = (COUNTERS + "in-errors", COUNTERS + "out-errors")


class GnmicError(ShadowdError):
    """A payload that is not gnmic event JSON."""


class GnmicEvent(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    timestamp: int = 0  # nanoseconds
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    deletes: list[str] = msgspec.field(default_factory=list)


class InterfaceMap(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    link: str
    target: str  # gnmic's ``source`` tag, with or without its ":port"
    interface: str
    side: Literal["a", "b"] = "a"


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    ts: float  # seconds, the device's
    in_octets: int
    out_octets: int
    drops: int = 0
    errors: int = 0


class Rates(msgspec.Struct, frozen=True, kw_only=True):
    in_bps: float
    out_bps: float
    drops: int
    errors: int


_EVENTS: Final = msgspec.json.Decoder(list[GnmicEvent] | GnmicEvent)

Key = tuple[str, str]  # (target without port, interface)


def parse_events(payload: bytes) -> list[GnmicEvent]:
    try:
        decoded = _EVENTS.decode(payload)
    except msgspec.DecodeError as err:  # ValidationError included
        raise GnmicError(f"not gnmic event JSON: {err}") from None
    return decoded if isinstance(decoded, list) else [decoded]


def target_name(source: str) -> str:
    return source.rsplit(":", 1)[0] if source.rsplit(":", 1)[-1].isdigit() else source


def _count(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class CounterBook:
    """The last two counter samples per interface, from a stream of gnmic events."""

    def __init__(self) -> None:
        self._partial: dict[Key, tuple[int, dict[str, int]]] = {}  # values at one timestamp
        self._samples: dict[Key, tuple[Sample | None, Sample]] = {}

    def feed(self, events: Iterable[GnmicEvent]) -> None:
        for event in events:
            iface = event.tags.get("interface_name")
            if iface is None:
                continue
            key = (target_name(event.tags.get("source", "")), iface)
            at, values = self._partial.get(key, (event.timestamp, {}))
            if at != event.timestamp:
                values = {}
            self._partial[key] = (event.timestamp, values)
            for path, value in event.values.items():
                number = _count(value)
                if number is not None and path.startswith(COUNTERS):
                    values[path] = number
            if IN_OCTETS in values and OUT_OCTETS in values:
                self._record(key, event.timestamp / 1e9, values)

    def _record(self, key: Key, ts: float, values: dict[str, int]) -> None:
        sample = Sample(ts=ts, in_octets=values[IN_OCTETS], out_octets=values[OUT_OCTETS],
                        drops=sum(values.get(p, 0) for p in DROPS),
                        errors=sum(values.get(p, 0) for p in ERRORS))
        previous = self._samples.get(key)
        if previous is None:
            self._samples[key] = (None, sample)
        elif ts == previous[1].ts:
            self._samples[key] = (previous[0], sample)  # more values of the same sample
        elif ts > previous[1].ts:
            self._samples[key] = (previous[1], sample)  # older samples are ignored

    def rates(self) -> dict[Key, Rates]:
        out = {}
        for key, (before, now) in self._samples.items():
            if before is None or now.in_octets < before.in_octets \
                    or now.out_octets < before.out_octets:
                continue  # one sample only, or counters reset
            dt = now.ts - before.ts
            out[key] = Rates(in_bps=(now.in_octets - before.in_octets) * 8 / dt,
                             out_bps=(now.out_octets - before.out_octets) * 8 / dt,
                             drops=max(0, now.drops - before.drops),
                             errors=max(0, now.errors - before.errors))
        return out


def overlay(state: State, rates: Mapping[Key, Rates], mapping: Iterable[InterfaceMap]) -> State:
    """Write gnmic's rates onto the mapped links of ``state`` (in place)."""
    for m in mapping:
        link = state.links.get(m.link)
        r = rates.get((target_name(m.target), m.interface))
        if link is None or r is None:
            continue
        sent, received = (r.out_bps, r.in_bps)
        link.ab_bps, link.ba_bps = (sent, received) if m.side == "a" else (received, sent)
        link.drops, link.errors = r.drops, r.errors
    return state


class GnmicOverlay:
    """A reader: ``base``'s view with link rates from gnmic events read off Kafka."""

    def __init__(self, base: Reader, mapping: list[InterfaceMap], *, bootstrap: str,
                 topic: str) -> None:
        self.base = base
        self.mapping = mapping
        self.book = CounterBook()
        self._bootstrap = bootstrap
        self._topic = topic
        self._consumer: Any = None
        self._log = logs.get_logger(component="agent.gnmic", topic=topic)

    @property
    def done(self) -> bool:
        return self.base.done

    async def poll(self, now: float) -> State:
        state = await self.base.poll(now)
        await self._drain()
        return overlay(state, self.book.rates(), self.mapping)

    async def _drain(self) -> None:
        if self._consumer is None:
            from aiokafka import AIOKafkaConsumer  # noqa: PLC0415

            self._consumer = AIOKafkaConsumer(self._topic, bootstrap_servers=self._bootstrap,
                                              auto_offset_reset="latest")
            await self._consumer.start()
        batches = await self._consumer.getmany(timeout_ms=0)
        for records in batches.values():
            for record in records:
                try:
                    self.book.feed(parse_events(record.value))
                except GnmicError as err:
                    self._log.warning("bad gnmic message", error=str(err))

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        await self.base.close()
