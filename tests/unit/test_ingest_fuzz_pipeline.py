"""Fuzz the whole receiving path: 100k malformed messages interleaved with a valid feed.

Through ``Differential.handle`` (decode, validate, sync, apply), as a broker feed calls
it: nothing escapes, every refused message becomes a dead letter with a reason, and the
valid feed is applied completely, exactly once, in order.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Final

from shadowd.config import ReplaySourceConfig
from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.core.wire import (
    DeltaBatch,
    Format,
    WireError,
    decode_message,
    encode_message,
)
from shadowd.ingest.builtin import builtin_batches, trace_spec
from shadowd.ingest.deadletter import DeadLetterFile
from shadowd.ingest.differential import Differential
from shadowd.ingest.pipeline import Ingest
from shadowd.traffic.trace import TRACE_EPOCH
from tests.unit.test_ingest_differential import MemoryLog
from tests.unit.test_ingest_wire_fuzz import invalid, message

MALFORMED: Final = 100_000
VALID_EVENTS: Final = 20_000
SOURCE: Final = "agent"


def _valid_feed() -> tuple[list[AnyEvent], list[bytes]]:
    spec = ReplaySourceConfig(days=1, name=SOURCE)
    events = list(islice((e for b in builtin_batches(trace_spec(spec)) for e in b),
                         VALID_EVENTS))
    rng = random.Random(3)
    messages, i = [], 0
    while i < len(events):
        size = rng.randint(1, 60)
        fmt: Format = "json" if rng.random() < 0.2 else "msgpack"
        messages.append(encode_message(DeltaBatch(source=SOURCE, events=events[i : i + size]),
                                       fmt))
        i += size
    return events, messages


def _decodes_elsewhere(data: bytes) -> bool:
    """Whether a 'malformed' input is in fact a valid message (of another source)."""
    try:
        msg = decode_message(data)
    except WireError:
        return False
    assert msg.source != SOURCE, "the fuzz must not speak for the valid feed's source"
    return True


def test_malformed_messages_are_dead_letters_and_the_valid_feed_applies(tmp_path: Path) -> None:
    expected, feed = _valid_feed()
    log = MemoryLog()
    clock = itertools.count(TRACE_EPOCH + 30 * 86_400.0, 0.001)  # after the trace's times
    sink = Differential(Ingest(State(), log, max_in_flight=10**9),
                        DeadLetterFile(tmp_path / "dead.jsonl"), clock=lambda: next(clock))
    rng = random.Random(11)
    others = [encode_message(message(rng)) for _ in range(200)]
    others = [m for m in others if decode_message(m).source != SOURCE]
    counts: Counter[str] = Counter()
    slots = sorted(rng.sample(range(MALFORMED + len(feed)), len(feed)))
    valid = iter(feed)
    for position in range(MALFORMED + len(feed)):
        if slots and slots[0] == position:
            slots.pop(0)
            outcome = sink.handle(next(valid), feed="fuzz", origin="test")
            assert not outcome.dead, outcome.dead
            counts["valid"] += 1
            continue
        kind, data = invalid(rng, others)
        outcome = sink.handle(data, feed="fuzz", origin="test")
        if _decodes_elsewhere(data):
            counts["valid elsewhere"] += 1
            continue
        assert len(outcome.dead) == 1, (kind, data[:100])
        assert outcome.dead[0].reason
        counts["refused"] += 1
    print(f"pipeline fuzz: {dict(counts)}")
    assert counts["refused"] > MALFORMED * 9 // 10
    assert [e for e in log.events if e.source == SOURCE] == expected
    assert sink.ingest.state.sources[SOURCE].seq == expected[-1].seq
    assert sink.ingest.counters[SOURCE].duplicates == 0
