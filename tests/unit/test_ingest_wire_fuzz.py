"""Fuzzing ``decode_message``: whatever the bytes, only ``WireError`` escapes, and every
valid message decodes to exactly what was encoded.

The bulk run is a seeded ``random.Random`` loop (fast and reproducible: 100,000 inputs in
a few seconds); hypothesis adds its own byte strings and structures on top.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
)
from shadowd.core.wire import (
    INT64_MAX,
    AnyMessage,
    DeltaBatch,
    Digest,
    Format,
    ResyncRequest,
    Snapshot,
    WireError,
    decode_message,
    encode_message,
)

FUZZ_INPUTS: Final = 100_000
SEED: Final = 20_240_601
FORMATS: Final[tuple[Format, ...]] = ("msgpack", "json")
ALPHABET: Final = "abcxyz-_.:/0123 éß€😀"

# --- valid messages, at random ------------------------------------------------------------


def text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, longest)))


def real(rng: random.Random, high: float = 1e12) -> float:
    return rng.choice([0.0, 5e-324, high, rng.uniform(0.0, high), float(rng.randint(0, 99))])


def metric(rng: random.Random) -> int:
    return rng.choice([1, 16_777_214, rng.randint(1, 16_777_214)])


Maker = Callable[[random.Random, dict[str, Any]], AnyEvent]
MAKERS: Final[list[Maker]] = [
    lambda r, k: RouterAdded(**k, router=text(r), pos=r.choice([None, (real(r, 180), 1.5)]),
                             loopback=r.choice([None, "10.0.0.1"])),
    lambda r, k: RouterRemoved(**k, router=text(r)),
    lambda r, k: RouterHealth(**k, router=text(r), up=r.random() < 0.5, cpu_pct=real(r, 100),
                              mem_pct=real(r, 100)),
    lambda r, k: LinkAdded(**k, link=text(r), a=text(r), b=text(r), metric=metric(r),
                           capacity_bps=real(r) or 1.0,
                           reverse_metric=r.choice([None, metric(r)]), delay_ms=real(r, 500),
                           srlgs=tuple(text(r) for _ in range(r.randint(0, 3)))),
    lambda r, k: LinkRemoved(**k, link=text(r)),
    lambda r, k: LinkStatus(**k, link=text(r), up=r.random() < 0.5),
    lambda r, k: LinkMetric(**k, link=text(r), metric=metric(r),
                            reverse_metric=r.choice([None, metric(r)])),
    lambda r, k: LinkCapacity(**k, link=text(r), capacity_bps=real(r) or 1.0),
    lambda r, k: LinkUtilization(**k, link=text(r), ab_bps=real(r), ba_bps=real(r),
                                 drops=r.choice([0, INT64_MAX, r.randint(0, 10**6)]),
                                 errors=r.randint(0, 10)),
    lambda r, k: DemandSet(**k, src=text(r), dst=text(r), rate_bps=real(r)),
]


def events(rng: random.Random, source: str, count: int, *, first: int,
           same_seq: bool = False) -> list[AnyEvent]:
    seq, made = first, []
    for _ in range(count):
        stamp = {"source": source, "seq": seq, "ts": rng.uniform(0.0, 2e9)}
        made.append(rng.choice(MAKERS)(rng, stamp))
        seq += 0 if same_seq else rng.choice([1, 1, 1, 2, 1000])
    return made


def message(rng: random.Random) -> AnyMessage:
    source = text(rng, 128 if rng.random() < 0.05 else 16)
    seq = rng.choice([1, INT64_MAX - 10_000, rng.randint(1, 10**9)])
    kind = rng.randrange(4)
    if kind == 0:
        return DeltaBatch(source=source, events=events(rng, source, rng.randint(1, 8), first=seq))
    if kind == 1:
        return Snapshot(source=source, seq=seq, ts=rng.uniform(0, 2e9),
                        events=events(rng, source, rng.randint(0, 6), first=seq, same_seq=True))
    if kind == 2:
        return Digest(source=source, seq=seq, digest=rng.randbytes(16).hex())
    return ResyncRequest(source=source, from_seq=seq, reason=text(rng, 64),
                         detail=rng.choice(["", text(rng, 100)]))


# --- invalid inputs, at random --------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """Byte flips, bit flips, truncation, insertion, deletion, duplication, garbage."""
    b = bytearray(data)
    i = rng.randrange(len(b))
    match rng.randrange(7):
        case 0:
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        case 1:
            b[i] ^= 1 << rng.randrange(8)
        case 2:
            del b[i:]
        case 3:
            b[i:i] = rng.randbytes(rng.randint(1, 8))
        case 4:
            del b[i:i + rng.randint(1, 16)]
        case 5:
            b[i:i] = b[i:i + rng.randint(1, 32)]
        case _:
            b += rng.randbytes(rng.randint(1, 4))
    return bytes(b)


NASTY: Final[list[Any]] = [
    None, True, 0, -1, 1.5, "", "x" * 200, [], {}, 2**63, 2**64 - 1, -(2**63), 1e308,
    "delta", "link_added", [1, 2], {"type": "router_added"}, b"\x00", math.nan, math.inf,
]


def random_structure(rng: random.Random, depth: int = 0) -> Any:
    """Arbitrary msgpack/JSON data: maps, arrays, strings, numbers, bytes, nesting."""
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind < 5:
        return rng.choice([*NASTY, text(rng), rng.randint(-(2**63), 2**64 - 1), rng.random()])
    if kind == 5:
        return [random_structure(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "version", "source", "events", "seq", "digest", "from_seq", text(rng)]
    return {rng.choice(keys): random_structure(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [path, *(p for k, v in node.items() for p in leaves(v, (*path, k)))]
    if isinstance(node, list | tuple):
        return [path, *(p for i, v in enumerate(node) for p in leaves(v, (*path, i)))]
    return [path]


def break_one_value(rng: random.Random, msg: AnyMessage) -> Any:
    """The message as data, with one value replaced, one key dropped or one key added."""
    data: Any = msgspec.to_builtins(msg)
    path = rng.choice(leaves(data)[1:])
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, tuple):
        return data  # a tuple inside (pos, srlgs): left alone, still a valid structure
    action = rng.randrange(4)
    if action == 0 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == 1 and isinstance(parent, dict):
        parent[text(rng)] = random_structure(rng)
    else:
        parent[path[-1]] = rng.choice([*NASTY, random_structure(rng)])
    return data


def encode_in(fmt: str, data: Any) -> bytes:
    """``data`` in ``fmt``, or in JSON where msgpack cannot hold it (ints past 64 bits)."""
    if fmt == "msgpack":
        try:
            return msgspec.msgpack.encode(data)
        except OverflowError:
            pass
    return msgspec.json.encode(data)


def encode_any(rng: random.Random, data: Any) -> bytes:
    return encode_in(rng.choice(["msgpack", "json"]), data)


def invalid(rng: random.Random, valid: list[bytes]) -> tuple[str, bytes]:
    kind = rng.randrange(5)
    if kind == 0:
        return "random structure", encode_any(rng, random_structure(rng))
    if kind == 1:
        return "bad value", encode_any(rng, break_one_value(rng, message(rng)))
    if kind == 2:
        return "random bytes", rng.randbytes(rng.randint(0, 64))
    if kind == 3:
        return "spliced", rng.choice(valid)[: rng.randint(0, 40)] + rng.choice(valid)
    return "mutated bytes", mutate_bytes(rng, rng.choice(valid))


# --- the checks ----------------------------------------------------------------------------


def outcome(data: bytes) -> AnyMessage | WireError:
    """Decode; any exception but ``WireError`` escapes and fails the test with the input."""
    try:
        return decode_message(data)
    except WireError as err:
        refusal = err
    except Exception as err:  # pragma: no cover (the failure this test is looking for)
        raise AssertionError(f"{type(err).__name__} escaped for {data[:300]!r}") from err
    assert refusal.reason, f"a WireError without a reason for {data[:200]!r}"
    return refusal


def check_valid(msg: AnyMessage, fmt: Format) -> None:
    data = encode_message(msg, fmt)
    assert outcome(data) == msg, f"{fmt} round trip changed {msg!r}"


def check_invalid(data: bytes) -> bool:
    """True if refused. Anything accepted must be a whole valid message that round-trips."""
    result = outcome(data)
    if isinstance(result, WireError):
        return True
    for fmt in FORMATS:
        check_valid(result, fmt)
    return False


def test_fuzz_only_wire_errors_escape_and_valid_messages_round_trip() -> None:
    rng = random.Random(SEED)
    valid = [encode_message(message(rng), fmt) for fmt in ("msgpack", "json") for _ in range(50)]
    counts: Counter[str] = Counter()
    for i in range(FUZZ_INPUTS):
        if i % 4 == 0:  # interleave valid messages with the broken ones
            check_valid(message(rng), rng.choice(FORMATS))
            counts["valid"] += 1
            continue
        kind, data = invalid(rng, valid)
        counts[kind] += 1
        counts["refused" if check_invalid(data) else "accepted anyway"] += 1
    print(f"wire fuzz: {FUZZ_INPUTS} inputs, {dict(counts)}")
    assert sum(counts[k] for k in ("valid", "refused", "accepted anyway")) == FUZZ_INPUTS
    assert counts["refused"] > FUZZ_INPUTS // 2


@settings(max_examples=500)
@given(st.binary(max_size=256))
def test_hypothesis_random_bytes_only_raise_wire_errors(data: bytes) -> None:
    check_invalid(data)


JSON_LIKE: Final = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["type", "version", "source", "events", "seq"])
                      | st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500)
@given(JSON_LIKE, st.sampled_from(["msgpack", "json"]))
def test_hypothesis_random_structures_only_raise_wire_errors(data: Any, fmt: str) -> None:
    check_invalid(encode_in(fmt, data))


@settings(max_examples=300)
@given(st.randoms(use_true_random=False))
def test_hypothesis_broken_messages_only_raise_wire_errors(rng: random.Random) -> None:
    msg = message(rng)
    check_valid(msg, "msgpack")
    check_invalid(encode_any(rng, break_one_value(rng, msg)))
    check_invalid(mutate_bytes(rng, encode_message(msg, "msgpack")))
