"""The wire format: what collectors send shadowd over Kafka or MQTT, and what it sends back.

Four messages, frozen tagged msgspec Structs in one union (``type`` is the tag):

- ``DeltaBatch`` (``delta``): a source's next events, each with its own ``seq``, strictly
  increasing; the batch covers ``first_seq..last_seq``;
- ``Snapshot`` (``snapshot``): a source's whole view at position ``seq``, as the events
  that rebuild it from nothing; the answer to a resync when deltas are gone;
- ``Digest`` (``digest``): the digest (``shadowd.core.state.digest``) of the state a
  source's stream folds into, as of ``seq``, so both sides can prove they agree;
- ``ResyncRequest`` (``resync``): shadowd asks a source to send again from ``from_seq``.

msgpack is the default; JSON is accepted. ``decode_message`` tells them apart by the
first byte: a msgpack message is a map, so its first byte is >= 0x80, while JSON text
starts with an ASCII byte. Every message carries ``version`` (now 1). Everything that
is not a valid message raises ``WireError`` naming what is wrong and where
(``$.events[3].metric``). The schema only grows (see ``docs/wire-format.md``).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Final, Literal, TypeAlias

import msgspec

from shadowd.core.errors import ShadowdError
from shadowd.core.events import AnyEvent
from shadowd.core.fields import SourceName, name_rule_broken

WIRE_VERSION: Final = 1
DEFAULT_MAX_BYTES: Final = 32 * 1024 * 1024
INT64_MAX: Final = 2**63 - 1  # what msgpack, Kafka and Java all carry

Format: TypeAlias = Literal["msgpack", "json"]

Seq = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Position = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]  # 0: nothing applied yet
DigestHex = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")]

# Well-known resync reasons; the field is free text so new reasons never break a reader.
REASON_GAP: Final = "gap"
REASON_DIGEST_MISMATCH: Final = "digest_mismatch"
REASON_STARTUP: Final = "startup"


WireErrorKind: TypeAlias = Literal[
    "empty", "too_large", "truncated", "not_utf8", "too_deep", "malformed", "invalid", "version",
]


class WireError(ShadowdError):
    """Bytes that are not a valid message. ``kind`` is the class of the fault: the bytes are
    ``empty``, ``too_large``, ``truncated``, hold a string that is ``not_utf8``, nest
    ``too_deep`` or are otherwise ``malformed``; or they decode to a value that is
    ``invalid`` (``path`` names the field, ``$.events[3].seq``) or of another ``version``.
    ``offset`` is the byte where the bytes went wrong, when that is known."""

    def __init__(self, reason: str, *, path: str = "", fmt: str = "",
                 kind: WireErrorKind = "invalid", offset: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.fmt = fmt
        self.kind: WireErrorKind = kind
        self.offset = offset

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class Message(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Common envelope. Not itself a message: only its tagged subclasses are."""

    version: Literal[1] = WIRE_VERSION
    source: SourceName


class DeltaBatch(Message, frozen=True, tag="delta"):
    events: Annotated[list[AnyEvent], msgspec.Meta(min_length=1)]

    @property
    def first_seq(self) -> int:
        return self.events[0].seq

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq


class Snapshot(Message, frozen=True, tag="snapshot"):
    """The source's view at ``seq``: fold ``events`` into an empty state to rebuild it.

    Events carry a ``seq`` of at most the snapshot's (producers stamp them all with it).
    """

    seq: Position
    ts: float = 0.0  # the source's timestamp of position ``seq``
    events: list[AnyEvent] = msgspec.field(default_factory=list)


class Digest(Message, frozen=True, tag="digest"):
    seq: Seq
    digest: DigestHex


class ResyncRequest(Message, frozen=True, tag="resync"):
    from_seq: Seq
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    detail: Annotated[str, msgspec.Meta(max_length=1024)] = ""


AnyMessage: TypeAlias = DeltaBatch | Snapshot | Digest | ResyncRequest

MESSAGE_TAGS: Final = ("delta", "snapshot", "digest", "resync")

_Decoder: TypeAlias = msgspec.msgpack.Decoder[AnyMessage] | msgspec.json.Decoder[AnyMessage]
_Encoder: TypeAlias = msgspec.msgpack.Encoder | msgspec.json.Encoder

_DECODERS: Final[dict[str, _Decoder]] = {
    "msgpack": msgspec.msgpack.Decoder(AnyMessage),
    "json": msgspec.json.Decoder(AnyMessage),
}
_ENCODERS: Final[dict[str, _Encoder]] = {
    "msgpack": msgspec.msgpack.Encoder(),
    "json": msgspec.json.Encoder(),
}


class _Envelope(msgspec.Struct):
    """Just enough of any message to say which version it claims to be."""

    version: object = None


_EnvelopeDecoder: TypeAlias = (
    msgspec.msgpack.Decoder[_Envelope] | msgspec.json.Decoder[_Envelope]
)
_ENVELOPE: Final[dict[str, _EnvelopeDecoder]] = {
    "msgpack": msgspec.msgpack.Decoder(_Envelope),
    "json": msgspec.json.Decoder(_Envelope),
}


# --- decoding ---------------------------------------------------------------------------


def sniff(data: bytes | bytearray | memoryview) -> Format:
    """msgpack messages are maps (first byte >= 0x80); JSON text starts with ASCII."""
    return "msgpack" if data[0] >= 0x80 else "json"


def decode_message(
    data: bytes | bytearray | memoryview, *, fmt: Format | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> AnyMessage:
    """Decode and fully check one message; raise ``WireError`` saying what is wrong."""
    if len(data) == 0:
        raise WireError("empty message", kind="empty")
    if len(data) > max_bytes:
        raise WireError(f"message is {len(data)} bytes, over the {max_bytes}-byte limit",
                        kind="too_large")
    fmt = fmt or sniff(data)
    try:
        msg = _DECODERS[fmt].decode(data)
    except msgspec.ValidationError as err:
        raise _version_error(data, fmt) or _validation_error(str(err), fmt) from None
    except msgspec.DecodeError as err:
        raise _malformed(_after_colon(str(err)), data, fmt) from None
    except RecursionError:
        raise WireError(f"malformed {fmt}: nested too deeply", fmt=fmt, kind="too_deep") from None
    except UnicodeDecodeError:
        raise _malformed("invalid utf-8", data, fmt) from None
    check_message(msg, fmt)
    return msg


_AT_BYTE: Final = re.compile(r"\(byte (?P<offset>\d+)\)")


def _malformed(detail: str, data: bytes | bytearray | memoryview, fmt: Format) -> WireError:
    """Class the decoder's complaint; its wording is a detail that may change, so the class
    and offset rest on as little of it as possible (and on the bytes, where they can)."""
    lowered = detail.lower()
    at = _AT_BYTE.search(detail)
    offset = int(at["offset"]) if at else None
    if "utf-8" in lowered or "utf8" in lowered:
        offset = _first_bad_utf8(data) if fmt == "json" else offset
        where = f" (byte {offset})" if offset is not None else ""
        return WireError(f"malformed {fmt}: a string is not valid UTF-8{where}", fmt=fmt,
                         kind="not_utf8", offset=offset)
    if "truncated" in lowered:
        return WireError(f"malformed {fmt}: truncated, the data ends inside a value", fmt=fmt,
                         kind="truncated", offset=len(data))
    return WireError(f"malformed {fmt}: {detail}", fmt=fmt, kind="malformed", offset=offset)


def _first_bad_utf8(data: bytes | bytearray | memoryview) -> int | None:
    """JSON is text throughout: its first byte that is not UTF-8 is the one to blame."""
    try:
        bytes(data).decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start
    return None


_AT: Final = re.compile(r"^(?P<reason>.*) - at `(?P<path>\$[^`]*)`$", re.DOTALL)
_BAD_TAG: Final = re.compile(r"^Invalid value (?P<value>.*)$", re.DOTALL)


def _validation_error(text: str, fmt: str) -> WireError:
    match = _AT.match(text)
    reason, path = (match["reason"], match["path"]) if match else (text, "$")
    tag = _BAD_TAG.match(reason) if path.endswith("type") else None
    if tag is not None and path == "$.type":
        reason = f"unknown message type {tag['value']}; known: {', '.join(MESSAGE_TAGS)}"
    elif tag is not None:
        reason = f"unknown event type {tag['value']}"
    elif reason == "Object missing required field `type`":
        reason = "missing the type tag `type`"
    else:
        reason = name_rule_broken(reason) or reason
    return WireError(reason, path=path, fmt=fmt)


def _version_error(data: bytes | bytearray | memoryview, fmt: Format) -> WireError | None:
    """A message from another version is reported as that, whatever else is wrong with it."""
    try:
        version = _ENVELOPE[fmt].decode(data).version
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    if type(version) is int and version != WIRE_VERSION:
        return WireError(f"unsupported wire version {version}; this shadowd reads version "
                         f"{WIRE_VERSION}", path="$.version", fmt=fmt, kind="version")
    return None


def _after_colon(text: str) -> str:
    """msgspec says "MessagePack data is malformed: trailing characters (byte 9)"."""
    head, sep, tail = text.partition(": ")
    return tail if sep and "malformed" in head else text


# --- the checks msgspec cannot express ----------------------------------------------------


def check_message(msg: AnyMessage, fmt: str = "") -> None:
    """Cross-field rules: events belong to the message's source and are in order. (Each
    number's range, finite and within 64 bits, is the event schema's: msgspec checks it
    while decoding, so msgpack and JSON accept the same messages.)"""
    if isinstance(msg, DeltaBatch):
        _check_events(msg.source, msg.events, fmt, increasing=True, at_most=None)
    elif isinstance(msg, Snapshot):
        if not math.isfinite(msg.ts):
            raise WireError(f"{msg.ts} is not a finite number", path="$.ts", fmt=fmt)
        _check_events(msg.source, msg.events, fmt, increasing=False, at_most=msg.seq)


def _check_events(source: str, events: Sequence[AnyEvent], fmt: str, *,
                  increasing: bool, at_most: int | None) -> None:
    previous = 0
    for i, event in enumerate(events):
        if event.source != source:
            raise WireError(f"{event.source!r} is not the message's source {source!r}",
                            path=f"$.events[{i}].source", fmt=fmt)
        if increasing and event.seq <= previous:
            raise WireError(f"{event.seq} is not above the previous event's seq {previous}",
                            path=f"$.events[{i}].seq", fmt=fmt)
        if at_most is not None and event.seq > at_most:
            raise WireError(f"{event.seq} is beyond the snapshot's seq {at_most}",
                            path=f"$.events[{i}].seq", fmt=fmt)
        previous = event.seq


# --- encoding -----------------------------------------------------------------------------


def encode_message(msg: AnyMessage, fmt: Format = "msgpack", *,
                   max_bytes: int | None = None) -> bytes:
    """Encode ``msg``; refuse (``WireError``) what ``decode_message`` would refuse for
    order, source or size. Field limits (``Meta``) are checked only when decoding."""
    check_message(msg, fmt)
    data = _ENCODERS[fmt].encode(msg)
    if max_bytes is not None and len(data) > max_bytes:
        raise WireError(f"message is {len(data)} bytes, over the {max_bytes}-byte limit",
                        fmt=fmt, kind="too_large")
    return data


# --- batching, for producers --------------------------------------------------------------


def split_deltas(events: Sequence[AnyEvent], *, max_events: int, max_bytes: int,
                 fmt: Format = "msgpack") -> list[DeltaBatch]:
    """Cut one source's ``events`` into consecutive delta batches, greedily, each of at
    most ``max_events`` events and encoding (in ``fmt``) to at most ``max_bytes``."""
    if max_events < 1:
        raise ValueError(f"max_events must be at least 1, not {max_events}")
    if not events:
        return []
    source = events[0].source
    encoder = _ENCODERS[fmt]
    base = len(encoder.encode(DeltaBatch(source=source, events=[])))
    batches: list[DeltaBatch] = []
    current: list[AnyEvent] = []
    size = 0
    for i, event in enumerate(events):
        if event.source != source:
            raise WireError(f"{event.source!r} is not the first event's source {source!r}",
                            path=f"$.events[{i}].source", fmt=fmt)
        n = len(encoder.encode(event))
        if _batch_size(fmt, base, 1, n) > max_bytes:
            raise WireError(f"event alone makes a {_batch_size(fmt, base, 1, n)}-byte "
                            f"batch, over the {max_bytes}-byte limit",
                            path=f"$.events[{i}]", fmt=fmt)
        full = len(current) == max_events
        if current and (full or _batch_size(fmt, base, len(current) + 1, size + n) > max_bytes):
            batches.append(DeltaBatch(source=source, events=current))
            current, size = [], 0
        current.append(event)
        size += n
    batches.append(DeltaBatch(source=source, events=current))
    return batches


def _batch_size(fmt: Format, empty: int, count: int, events_bytes: int) -> int:
    """Exact encoded size of a delta batch, from the size of the same batch empty."""
    if fmt == "json":
        return empty + events_bytes + count - 1  # the commas between events
    return empty - 1 + _msgpack_array_header(count) + events_bytes


def _msgpack_array_header(count: int) -> int:
    return 1 if count < 16 else 3 if count < 1 << 16 else 5
