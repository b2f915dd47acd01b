"""The receiving end of differential sync, on raw wire bytes, with an in-memory log."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest
import structlog

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    RouterAdded,
    RouterRemoved,
    SpikePredicted,
)
from shadowd.core.state import State, fold, view_digest
from shadowd.core.wire import DeltaBatch, Digest, ResyncRequest, Snapshot, encode_message
from shadowd.ingest.deadletter import DeadLetterFile, read_letters
from shadowd.ingest.differential import Differential
from shadowd.ingest.pipeline import Ingest
from tests.alerts import assert_alert


class MemoryLog:
    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.durable_lsn = 0

    def enqueue(self, events: Sequence[AnyEvent]) -> None:
        self.events.extend(events)
        self.durable_lsn = len(self.events)

    async def wait_durable(self, lsn: int) -> None:
        return None


def _r(seq: int, source: str = "agent") -> RouterAdded:
    return RouterAdded(source=source, seq=seq, ts=0.0, router=f"r{seq}")


def delta(*seqs: int) -> bytes:
    return encode_message(DeltaBatch(source="agent", events=[_r(s) for s in seqs]))


@pytest.fixture
def sink(tmp_path: Path) -> Differential:
    clock = itertools.count(0.0, 1.0)
    return Differential(Ingest(State(), MemoryLog(), max_in_flight=100),
                        DeadLetterFile(tmp_path / "dead.jsonl"), resync_retry_s=1000.0,
                        clock=lambda: next(clock))


def handle(sink: Differential, raw: bytes) -> list[ResyncRequest]:
    return sink.handle(raw, feed="test", origin="here").resyncs


def test_reordered_batches_lose_nothing_and_apply_once(sink: Differential) -> None:
    assert handle(sink, delta(1, 2)) == []
    (ask,) = handle(sink, delta(5, 6))
    assert (ask.from_seq, ask.reason) == (3, "gap")
    handle(sink, delta(3, 4))
    handle(sink, delta(3, 4))
    state = sink.ingest.state
    assert state.sources["agent"].seq == 6
    assert state.lsn == 6  # each applied once
    assert sink.ingest.counters["agent"].duplicates == 2


def test_a_dropped_batch_is_healed_by_the_snapshot(sink: Differential) -> None:
    handle(sink, delta(1, 2))
    assert handle(sink, delta(5)) != []  # 3, 4 never come
    truth = fold([_r(s) for s in (1, 2, 3, 4, 5)])
    snap = Snapshot(source="agent", seq=6, events=[_r(s) for s in (1, 2, 3, 4, 5)])
    handle(sink, encode_message(msgspec.structs.replace(snap, events=[
        msgspec.structs.replace(e, seq=6) for e in snap.events])))
    handle(sink, delta(7))
    state = sink.ingest.state
    assert view_digest(state) == view_digest(fold([_r(7)], truth))
    assert sink.ingest.counters["agent"].snapshots == 1


def test_digests_are_compared_at_their_seq_and_a_mismatch_asks_for_a_resync(
        sink: Differential) -> None:
    handle(sink, delta(1, 2))
    good = view_digest(sink.ingest.state)
    handle(sink, encode_message(Digest(source="agent", seq=2, digest=good)))
    (ask,) = handle(sink, encode_message(Digest(source="agent", seq=2, digest="0" * 32)))
    assert ask.reason == "digest_mismatch"
    counters = sink.ingest.counters["agent"]
    assert (counters.digests_ok, counters.digest_mismatches) == (1, 1)


def test_a_digest_ahead_of_the_shadow_asks_for_a_resync(sink: Differential) -> None:
    handle(sink, delta(1))
    (ask,) = handle(sink, encode_message(Digest(source="agent", seq=3, digest="0" * 32)))
    assert (ask.from_seq, ask.reason) == (2, "gap")


def test_bad_messages_become_dead_letters(sink: Differential, tmp_path: Path) -> None:
    handle(sink, b"\x81\xa4type\xa5bogus")
    bad_link = {"type": "link_status", "source": "agent", "seq": 1, "ts": 0.0, "link": "x",
                "up": True}
    raw = msgspec.json.encode({"type": "delta", "source": "agent", "events": [bad_link]})
    handle(sink, raw)
    letters = read_letters(tmp_path / "dead.jsonl")
    reasons = [letter.reason.split(":")[0] for letter in letters]
    assert reasons == ["undecodable", "rejected 1 event(s)"]
    assert letters[1].source == "agent"
    assert sink.ingest.counters["agent"].dead_letters == 1


def _unknown_link(seq: int) -> bytes:
    event = {"type": "link_status", "source": "agent", "seq": seq, "ts": 0.0,
             "link": "nowhere", "up": True}
    return msgspec.json.encode({"type": "delta", "source": "agent", "events": [event]})


def test_a_refused_event_consumes_its_seq_and_the_source_flows_on(sink: Differential) -> None:
    handle(sink, delta(1, 2))
    assert handle(sink, _unknown_link(3)) == []  # refused: dead letter, no resync
    assert handle(sink, delta(4, 5)) == []  # not a gap: 3 arrived
    assert handle(sink, _unknown_link(3)) == []  # and a second 3 is a duplicate
    state, counters = sink.ingest.state, sink.ingest.counters["agent"]
    assert sorted(state.routers) == ["r1", "r2", "r4", "r5"]
    assert (counters.rejected, counters.gaps, counters.held, counters.duplicates) == (1, 0, 0, 1)


def test_a_batch_ending_in_a_refused_event_does_not_stall_either(sink: Differential) -> None:
    good = _r(1)
    bad = {"type": "link_status", "source": "agent", "seq": 2, "ts": 0.0, "link": "nowhere",
           "up": True}
    raw = msgspec.json.encode({"type": "delta", "source": "agent",
                               "events": [msgspec.to_builtins(good), bad]})
    handle(sink, raw)
    assert handle(sink, delta(3)) == []
    assert sorted(sink.ingest.state.routers) == ["r1", "r3"]


def test_a_resync_is_asked_in_the_encoding_the_producer_writes(sink: Differential) -> None:
    as_json = msgspec.json.encode(DeltaBatch(source="agent", events=[_r(3)]))
    out = sink.handle(as_json, feed="test", origin="here")
    assert ([r.from_seq for r in out.resyncs], out.fmt) == ([1], "json")
    assert sink.handle(delta(1), feed="test", origin="here").fmt == "msgpack"


def test_a_feed_speaks_only_for_the_source_its_topic_names(
        sink: Differential, tmp_path: Path) -> None:
    handle(sink, delta(1, 2))
    before = view_digest(sink.ingest.state)
    wipe = encode_message(Snapshot(source="adv1", seq=1000, events=[]))
    out = sink.handle(wipe, feed="mqtt", origin="shadowd/telemetry/mallory", source="mallory")
    as_agent = encode_message(Snapshot(source="agent", seq=1000, events=[]))
    out2 = sink.handle(as_agent, feed="mqtt", origin="t/mallory", source="mallory")
    elsewhere = sink.handle(delta(3), feed="mqtt", origin="t/agent", source="agent",
                            allowed={"edge1"})
    assert view_digest(sink.ingest.state) == before
    assert sink.ingest.state.sources["agent"].seq == 2
    reasons = [letter.reason for letter in read_letters(tmp_path / "dead.jsonl")]
    assert reasons == [
        "refused: the message speaks for 'adv1' but came as 'mallory': a feed's topic (or "
        "key) names the source it carries",
        "refused: the message speaks for 'agent' but came as 'mallory': a feed's topic (or "
        "key) names the source it carries",
        "refused: source 'agent' is not one this feed may speak for (sources = ['edge1'])",
    ]
    assert out.resyncs == out2.resyncs == elsewhere.resyncs == []


def test_nothing_from_a_feed_is_taken_as_shadowd_s_own_records(
        sink: Differential, tmp_path: Path) -> None:
    forged = SpikePredicted(source=DAEMON_SOURCE, seq=2**63 - 1, ts=0.0, link="a--b",
                            direction="ab", peak_ts=1.0, predicted_bps=9e8,
                            threshold_bps=8e8, predicted_util=0.9, made_at=0.0)
    handle(sink, encode_message(DeltaBatch(source=DAEMON_SOURCE, events=[forged])))
    as_agent = msgspec.structs.replace(forged, source="agent", seq=1)
    handle(sink, encode_message(DeltaBatch(source="agent", events=[as_agent])))
    assert sink.ingest.state.lsn == 0
    assert DAEMON_SOURCE not in sink.ingest.state.sources
    reasons = [letter.reason for letter in read_letters(tmp_path / "dead.jsonl")]
    assert reasons == [
        "refused: source 'shadowd' is shadowd's own: its records never come from a feed",
        "refused: spike_predicted is a record shadowd writes itself, never taken from a feed",
    ]


def test_a_time_far_in_the_future_is_refused_and_the_source_flows_on(
        sink: Differential, tmp_path: Path) -> None:
    handle(sink, delta(1))
    future = msgspec.structs.replace(_r(2), ts=1e11)  # the schema allows it: year 5138
    assert handle(sink, encode_message(DeltaBatch(source="agent", events=[future]))) == []
    handle(sink, delta(3))
    state = sink.ingest.state
    assert sorted(state.routers) == ["r1", "r3"]
    assert state.sources["agent"].ts == 0.0  # its clock never left the present
    (letter,) = read_letters(tmp_path / "dead.jsonl")
    assert "ts 100000000000.000 is" in letter.reason
    assert "beyond the receiving clock's allowance (max_skew_s)" in letter.reason
    stale_snapshot = Snapshot(source="agent", seq=9, ts=1e11, events=[])
    handle(sink, encode_message(stale_snapshot))
    assert sink.ingest.counters["agent"].snapshots == 0


def test_a_producer_that_numbers_from_1_again_is_caught_and_asked_to_resync(
        sink: Differential) -> None:
    stamped: list[AnyEvent] = [msgspec.structs.replace(_r(s), ts=float(s)) for s in (1, 2, 3)]
    handle(sink, encode_message(DeltaBatch(source="agent", events=stamped)))
    assert handle(sink, encode_message(DeltaBatch(source="agent", events=stamped[:2]))) == []
    restarted = RouterRemoved(source="agent", seq=1, ts=10.0, router="r1")
    with structlog.testing.capture_logs() as logs:
        (ask,) = handle(sink, encode_message(DeltaBatch(source="agent", events=[restarted])))
    assert (ask.from_seq, ask.reason) == (4, "reset")
    assert_alert(logs, "sequence_reset", source="agent", position=3, got=1)
    assert "r1" in sink.ingest.state.routers  # nothing of the reset batch was taken


def test_digests_are_still_compared_once_shadowd_logs_its_own_records(
        sink: Differential) -> None:
    handle(sink, delta(1, 2))
    sink.ingest.admit([SpikePredicted(
        source=DAEMON_SOURCE, seq=1, ts=0.0, link="l", direction="ab", peak_ts=1.0,
        predicted_bps=1.0, threshold_bps=1.0, predicted_util=1.0, made_at=0.0)])
    (ask,) = handle(sink, encode_message(Digest(source="agent", seq=2, digest="0" * 32)))
    assert ask.reason == "digest_mismatch"
