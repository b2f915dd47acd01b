"""Each ingest and feed alert from its smallest real trigger (docs/alerts.md): the ingest
pipeline and the differential sink on wire bytes with an in-memory log, a broker feed's
connection bookkeeping, a replay feed run to its end."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
import structlog

from shadowd.core.events import LinkAdded
from shadowd.core.state import State
from shadowd.core.wire import DeltaBatch, Digest, encode_message
from shadowd.ingest.deadletter import DeadLetterFile
from shadowd.ingest.differential import Differential
from shadowd.ingest.pipeline import Ingest
from shadowd.ingest.replay import ReplaySource
from shadowd.ingest.source import Connection, FeedStats, ReplayFeed
from tests.alerts import assert_alert
from tests.unit.test_ingest_differential import MemoryLog, _r, delta

Logged = list[MutableMapping[str, Any]]


@pytest.fixture
def logged() -> Iterator[Logged]:
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.fixture
def sink(tmp_path: Path) -> Differential:
    clock = itertools.count(0.0, 1.0)
    return Differential(Ingest(State(), MemoryLog(), max_in_flight=100),
                        DeadLetterFile(tmp_path / "dead.jsonl"), resync_retry_s=1000.0,
                        clock=lambda: next(clock))


def _handle(sink: Differential, raw: bytes) -> None:
    sink.handle(raw, feed="mqtt", origin="shadowd/telemetry/agent")


def test_delta_rejected_a_link_to_an_unknown_router(logged: Logged) -> None:
    ingest = Ingest(State(), MemoryLog(), max_in_flight=100)
    ingest.offer([_r(1), LinkAdded(source="agent", seq=2, ts=0.0, link="l", a="r1", b="nope",
                                   metric=10, capacity_bps=1e9)])
    assert_alert(logged, "delta_rejected", source="agent", seq=2, event_type="link_added")


def test_sequence_gap_on_a_replay(logged: Logged) -> None:
    ingest = Ingest(State(), MemoryLog(), max_in_flight=100)
    ingest.offer([_r(1), _r(4)])
    assert_alert(logged, "sequence_gap", source="agent", expected=2, got=4)
    assert ingest.counters["agent"].gaps == 1


def test_sequence_gap_and_resync_requested_on_a_broker_feed(sink: Differential,
                                                            logged: Logged) -> None:
    _handle(sink, delta(1, 2))
    _handle(sink, delta(5, 6))
    gap = assert_alert(logged, "sequence_gap", source="agent", expected=3, got=5)
    assert gap["held"] == 1
    assert sink.ingest.counters["agent"].gaps == 1  # counted as a replay's gap is
    assert_alert(logged, "resync_requested", source="agent", from_seq=3, reason="gap")


def test_resync_requested_for_a_source_never_seen(sink: Differential, logged: Logged) -> None:
    _handle(sink, delta(5))
    assert_alert(logged, "resync_requested", source="agent", from_seq=1, reason="startup")


def test_digest_mismatch_then_a_resync(sink: Differential, logged: Logged) -> None:
    _handle(sink, delta(1, 2))
    _handle(sink, encode_message(Digest(source="agent", seq=2, digest="0" * 32)))
    assert_alert(logged, "digest_mismatch", source="agent", seq=2, theirs="0" * 32)
    assert_alert(logged, "resync_requested", reason="digest_mismatch", from_seq=3)


def test_dead_letter_for_an_undecodable_message(sink: Differential, logged: Logged) -> None:
    _handle(sink, b"\xc1 not a message")
    letter = assert_alert(logged, "dead_letter", feed="mqtt",
                          origin="shadowd/telemetry/agent")
    assert letter["reason"].startswith("undecodable")


def test_dead_letter_and_delta_rejected_for_an_event_that_cannot_apply(
        sink: Differential, logged: Logged) -> None:
    _handle(sink, delta(1))
    bad = LinkAdded(source="agent", seq=2, ts=0.0, link="l", a="r1", b="nope", metric=10,
                    capacity_bps=1e9)
    _handle(sink, encode_message(DeltaBatch(source="agent", events=[bad])))
    assert_alert(logged, "delta_rejected", source="agent", seq=2)
    assert_alert(logged, "dead_letter", source="agent")


def test_source_lost_and_source_restored(logged: Logged) -> None:
    conn = Connection("mqtt", FeedStats(kind="mqtt"))
    conn.down(ConnectionRefusedError("refused"))
    conn.up()
    assert_alert(logged, "source_lost", feed="mqtt", error="ConnectionRefusedError: refused")
    assert_alert(logged, "source_restored", feed="mqtt", feed_kind="mqtt")


async def test_source_finished_at_the_end_of_a_replay(logged: Logged) -> None:
    source = ReplaySource("replay", lambda: [[_r(1), _r(2)], [_r(3)]], speed=0.0)
    ingest = Ingest(State(), MemoryLog(), max_in_flight=100)
    await asyncio.wait_for(ReplayFeed(source, ingest, lambda: None).run(), 10.0)
    assert_alert(logged, "source_finished", source="replay", events=3)
