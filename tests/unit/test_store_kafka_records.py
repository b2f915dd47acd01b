"""Splitting a commit into Kafka-sized records keeps every event and its lsn."""

from __future__ import annotations

import msgspec

from shadowd.core.events import LinkUtilization
from shadowd.store.frames import Frame, Record, read_frame
from shadowd.store.kafka_log import records


def test_records_fit_and_number_their_events() -> None:
    events = [LinkUtilization(source="s", seq=i + 1, ts=0.0, link=f"link-{i}", ab_bps=1.0,
                              ba_bps=2.0) for i in range(5000)]
    frames = records(101, events, max_bytes=50_000)
    assert len(frames) > 1
    assert all(len(f) <= 50_000 for f in frames)
    decoded = [msgspec.msgpack.decode(_payload(f), type=Record) for f in frames]
    assert [e for r in decoded for e in r.events] == events
    lsn = 101
    for record in decoded:
        assert record.first_lsn == lsn
        lsn += len(record.events)


def _payload(data: bytes) -> memoryview:
    frame = read_frame(memoryview(data), 0)
    assert isinstance(frame, Frame)
    return frame.payload
