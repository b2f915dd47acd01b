"""The wire format: every message round-trips in both encodings, golden samples decode
forever, and every kind of bad input is refused with a reason that names what is wrong."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowd.core.events import LinkUtilization, RouterAdded
from shadowd.core.state import digest, fold
from shadowd.core.wire import (
    AnyMessage,
    DeltaBatch,
    Digest,
    Format,
    ResyncRequest,
    Snapshot,
    WireError,
    decode_message,
    encode_message,
    sniff,
    split_deltas,
)
from tests.unit.samples import SAMPLES

GOLDEN: Final = Path(__file__).parent.parent / "golden"
FORMATS: Final[tuple[Format, ...]] = ("msgpack", "json")

MESSAGES: Final[list[AnyMessage]] = [
    DeltaBatch(source="golden", events=SAMPLES),
    Snapshot(source="golden", seq=13, ts=10.0, events=[
        RouterAdded(source="golden", seq=13, ts=10.0, router="fra", pos=(8.68, 50.11)),
        RouterAdded(source="golden", seq=13, ts=10.0, router="ams"),
    ]),
    Snapshot(source="quiet", seq=0),
    Digest(source="golden", seq=13, digest=digest(fold(SAMPLES))),
    ResyncRequest(source="golden", from_seq=7, reason="gap", detail="expected 7, got 9"),
]


# --- round trips and golden samples ------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: AnyMessage, fmt: Format) -> None:
    data = encode_message(msg, fmt)
    assert sniff(data) == fmt
    assert decode_message(data) == msg
    assert decode_message(data, fmt=fmt) == msg


def test_a_delta_batch_spans_its_events_seqs() -> None:
    batch = MESSAGES[0]
    assert isinstance(batch, DeltaBatch)
    assert (batch.first_seq, batch.last_seq) == (1, 13)


def golden_messages(fmt: Format) -> list[bytes]:
    if fmt == "json":
        return (GOLDEN / "wire-v1.jsonl").read_bytes().splitlines()
    return msgspec.msgpack.decode((GOLDEN / "wire-v1.msgpack").read_bytes(), type=list[bytes])


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_samples_still_decode(fmt: Format) -> None:
    """Once written, a golden file never changes: collectors in the field keep sending it."""
    assert [decode_message(data) for data in golden_messages(fmt)] == MESSAGES


def write_golden() -> None:  # pragma: no cover (run by hand, once per wire version)
    """Write the golden files; refuses to overwrite, since old samples must stay."""
    msgpack_path, json_path = GOLDEN / "wire-v1.msgpack", GOLDEN / "wire-v1.jsonl"
    if msgpack_path.exists() or json_path.exists():
        raise SystemExit("golden files exist; they never change")
    msgpack_path.write_bytes(msgspec.msgpack.encode([encode_message(m) for m in MESSAGES]))
    json_path.write_bytes(b"\n".join(encode_message(m, "json") for m in MESSAGES) + b"\n")


# --- bad input: each refused with a reason naming what is wrong ---------------------------


def raw(index: int = 0) -> dict[str, Any]:
    """A valid message as plain data, to break in one place."""
    data: dict[str, Any] = msgspec.to_builtins(MESSAGES[index])
    return copy.deepcopy(data)


def patched(index: int, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = raw(index)
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


DELETE: Final = object()

# (name, message as data, expected path, a fragment of the reason); each in both encodings.
BAD_VALUES: Final = [
    ("unknown version", patched(0, ("version",), 2), "$.version", "unsupported wire version 2"),
    ("unknown version, other faults", {**patched(0, ("version",), 9), "type": "delta_v9"},
     "$.version", "unsupported wire version 9"),
    ("version of the wrong type", patched(0, ("version",), "1"), "$.version",
     "Expected `int`, got `str`"),
    ("unknown message type", patched(0, ("type",), "telemetry"), "$.type",
     "unknown message type 'telemetry'"),
    ("no type tag", patched(0, ("type",), DELETE), "$", "missing the type tag"),
    ("unknown event type", patched(0, ("events", 3, "type"), "link_teleported"),
     "$.events[3].type", "unknown event type 'link_teleported'"),
    ("wrong type in an event", patched(0, ("events", 3, "metric"), "10"),
     "$.events[3].metric", "Expected `int`, got `str`"),
    ("metric out of range", patched(0, ("events", 3, "metric"), 0), "$.events[3].metric",
     ">= 1"),
    ("percent out of range", patched(0, ("events", 5, "cpu_pct"), 100.5),
     "$.events[5].cpu_pct", "<= 100.0"),
    ("seq zero", patched(0, ("events", 0, "seq"), 0), "$.events[0].seq", ">= 1"),
    ("seq above 64 bits", patched(0, ("events", 12, "seq"), 2**64 - 1), "$.events[12].seq",
     "<= 9223372036854775807"),
    ("count above 64 bits", patched(0, ("events", 9, "drops"), 2**63), "$.events[9].drops",
     "<= 9223372036854775807"),
    ("missing field", patched(0, ("events", 2, "router"), DELETE), "$.events[2]",
     "missing required field `router`"),
    ("empty batch", patched(0, ("events",), []), "$.events", "length >= 1"),
    ("seq not increasing", patched(0, ("events", 4, "seq"), 4), "$.events[4].seq",
     "not above the previous event's seq 4"),
    ("event from another source", patched(0, ("events", 6, "source"), "elsewhere"),
     "$.events[6].source", "not the message's source 'golden'"),
    ("empty source", patched(0, ("source",), ""), "$.source", "length >= 1"),
    ("snapshot event beyond its seq", patched(1, ("events", 1, "seq"), 14),
     "$.events[1].seq", "beyond the snapshot's seq 13"),
    ("negative snapshot seq", patched(2, ("seq",), -1), "$.seq", ">= 0"),
    ("digest not hex", patched(3, ("digest",), "XYZ"), "$.digest", "matching regex"),
    ("digest seq zero", patched(3, ("seq",), 0), "$.seq", ">= 1"),
    ("resync from zero", patched(4, ("from_seq",), 0), "$.from_seq", ">= 1"),
    ("resync reason empty", patched(4, ("reason",), ""), "$.reason", "length >= 1"),
    ("not a map", [1, 2, 3], "$", "Expected `object`, got `array`"),
]


def encodings(data: Any) -> list[tuple[Format, bytes]]:
    return [("msgpack", msgspec.msgpack.encode(data)), ("json", msgspec.json.encode(data))]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("data", "path", "reason"),
                         [case[1:] for case in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_values_are_refused_naming_the_field(
    data: Any, path: str, reason: str, fmt: Format
) -> None:
    encoded = dict(encodings(data))[fmt]
    with pytest.raises(WireError) as caught:
        decode_message(encoded)
    assert (caught.value.path, caught.value.fmt) == (path, fmt)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(("where", "value"), [
    (("events", 5, "ts"), math.nan), (("events", 0, "pos"), [8.68, math.inf]),
    (("events", 0, "ts"), -math.inf), (("events", 8, "capacity_bps"), math.inf),
])
def test_nan_and_infinity_are_refused_in_msgpack_as_json_cannot_carry_them(
    where: tuple[str | int, ...], value: object
) -> None:
    with pytest.raises(WireError, match="Expected `float`") as caught:  # bounded: no NaN, no inf
        decode_message(msgspec.msgpack.encode(patched(0, where, value)))
    assert caught.value.path.startswith("$.events[{}].{}".format(*where[1:]))


def test_nan_snapshot_time_is_refused() -> None:
    with pytest.raises(WireError, match="not a finite") as caught:
        decode_message(msgspec.msgpack.encode(patched(1, ("ts",), math.nan)))
    assert caught.value.path == "$.ts"


VALID: Final = encode_message(MESSAGES[0])
VALID_JSON: Final = encode_message(MESSAGES[0], "json")
NOT_UTF8: Final = VALID_JSON.replace(b"golden", b"g\xfflden")
# (id, bytes, the class of fault, the byte to blame where the bytes alone tell it)
BAD_BYTES: Final = [
    ("empty", b"", "empty", None),
    ("trailing garbage, msgpack", VALID + b"\x00", "malformed", None),
    ("trailing garbage, json", VALID_JSON + b" {}", "malformed", None),
    ("truncated, msgpack", VALID[:-7], "truncated", len(VALID) - 7),
    ("truncated, json", VALID_JSON[:-7], "truncated", len(VALID_JSON) - 7),
    ("not json", b"{type: delta}", "malformed", None),
    ("invalid msgpack opcode", b"\xc1", "malformed", None),
    ("string not utf-8, msgpack", VALID.replace(b"golden", b"g\xfflden"), "not_utf8", None),
    ("string not utf-8, json", NOT_UTF8, "not_utf8", NOT_UTF8.index(b"\xff")),
    ("nested too deeply", b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too_deep", None),
]


@pytest.mark.parametrize(("data", "kind", "offset"), [c[1:] for c in BAD_BYTES],
                         ids=[c[0] for c in BAD_BYTES])
def test_malformed_bytes_are_refused_with_their_class(
    data: bytes, kind: str, offset: int | None
) -> None:
    with pytest.raises(WireError) as caught:
        decode_message(data)
    assert caught.value.kind == kind
    assert caught.value.path == ""
    if offset is not None:
        assert caught.value.offset == offset
        assert f"byte {offset}" in caught.value.reason or kind == "truncated"
    if kind != "empty":
        assert caught.value.reason.startswith(f"malformed {sniff(data)}: ")


def test_oversize_input_is_refused_before_decoding() -> None:
    with pytest.raises(WireError, match=rf"{len(VALID)} bytes, over the 100-byte limit"):
        decode_message(VALID, max_bytes=100)
    assert decode_message(VALID, max_bytes=len(VALID)) == MESSAGES[0]


def test_unknown_fields_are_ignored_so_newer_producers_stay_readable() -> None:
    data = {**raw(4), "priority": "high"}
    data_event = patched(0, ("events", 0, "vendor"), {"any": ["thing"]})
    assert decode_message(msgspec.msgpack.encode(data)) == MESSAGES[4]
    assert decode_message(msgspec.json.encode(data_event)) == MESSAGES[0]


def test_a_missing_version_reads_as_version_1() -> None:
    assert decode_message(msgspec.json.encode(patched(4, ("version",), DELETE))) == MESSAGES[4]


# --- encoding refuses what decoding would refuse -----------------------------------------


def test_encode_refuses_events_out_of_order_or_from_another_source() -> None:
    swapped = DeltaBatch(source="golden", events=[SAMPLES[1], SAMPLES[0]])
    with pytest.raises(WireError, match="not above") as caught:
        encode_message(swapped)
    assert caught.value.path == "$.events[1].seq"
    with pytest.raises(WireError, match="not the message's source"):
        encode_message(DeltaBatch(source="other", events=SAMPLES[:1]))


def test_encode_refuses_oversize_messages() -> None:
    with pytest.raises(WireError, match="over the 64-byte limit"):
        encode_message(MESSAGES[0], max_bytes=64)


# --- splitting events into batches ---------------------------------------------------------


def util_events(rates: list[float], source: str = "geant") -> list[LinkUtilization]:
    return [LinkUtilization(source=source, seq=i + 1, ts=float(i), link=f"l{i % 7}",
                            ab_bps=rate, ba_bps=rate / 2, drops=i) for i, rate in enumerate(rates)]


@pytest.mark.parametrize("fmt", FORMATS)
@given(rates=st.lists(st.floats(0, 1e12, allow_nan=False), max_size=60),
       max_events=st.integers(1, 20), max_bytes=st.integers(400, 3000))
def test_split_deltas_respects_both_limits_and_fills_each_batch(
    fmt: Format, rates: list[float], max_events: int, max_bytes: int
) -> None:
    events = util_events(rates)
    batches = split_deltas(events, max_events=max_events, max_bytes=max_bytes, fmt=fmt)
    assert [e for b in batches for e in b.events] == events
    for batch, following in zip(batches, [*batches[1:], None], strict=False):
        assert len(batch.events) <= max_events
        assert len(encode_message(batch, fmt)) <= max_bytes
        if following is not None:  # greedy: the next event would not have fitted
            bigger = DeltaBatch(source="geant", events=[*batch.events, following.events[0]])
            assert (len(bigger.events) > max_events
                    or len(encode_message(bigger, fmt)) > max_bytes)


@pytest.mark.parametrize("fmt", FORMATS)
def test_split_deltas_knows_the_exact_size_across_msgpack_array_headers(fmt: Format) -> None:
    events = util_events([1e9] * 70_000)
    batches = split_deltas(events, max_events=70_000, max_bytes=10**9, fmt=fmt)
    assert len(batches) == 1
    size = len(encode_message(batches[0], fmt))
    assert split_deltas(events, max_events=70_000, max_bytes=size, fmt=fmt) == batches
    assert len(split_deltas(events, max_events=70_000, max_bytes=size - 1, fmt=fmt)) == 2


def test_split_deltas_refuses_an_event_too_big_for_any_batch() -> None:
    with pytest.raises(WireError, match="over the 100-byte limit") as caught:
        split_deltas(util_events([1.0, 2.0]), max_events=10, max_bytes=100)
    assert caught.value.path == "$.events[0]"


def test_split_deltas_refuses_mixed_sources_and_nonsense_limits() -> None:
    mixed = [*util_events([1.0]), *util_events([2.0], source="other")]
    with pytest.raises(WireError, match="not the first event's source"):
        split_deltas(mixed, max_events=10, max_bytes=10_000)
    with pytest.raises(ValueError, match="max_events"):
        split_deltas(mixed, max_events=0, max_bytes=10_000)
    assert split_deltas([], max_events=1, max_bytes=1) == []
