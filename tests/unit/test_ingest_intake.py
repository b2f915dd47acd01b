"""One intake: telemetry and shadowd's own records take the same admit path, and the
listener gets every accepted batch in log order, never from inside itself."""

from __future__ import annotations

from shadowd.core.events import DAEMON_SOURCE, AnyEvent, RouterAdded, ScenarioRan
from shadowd.core.state import State
from shadowd.ingest.pipeline import Ingest
from shadowd.predict.records import Stamp
from shadowd.services.recorder import Recorder
from tests.unit.test_ingest_differential import MemoryLog


def _ran(stamp: Stamp) -> ScenarioRan:
    return ScenarioRan(source=stamp.source, seq=stamp.seq, ts=stamp.ts, run_id=f"r{stamp.seq}",
                       scenario="s", kind="link_cut", trigger="manual", tier="model",
                       injected_ts=stamp.ts)


class Listener:
    """Records one record per telemetry batch it is handed, from inside its handler."""

    def __init__(self) -> None:
        self.recorder: Recorder | None = None
        self.seen: list[tuple[int, list[str]]] = []  # (depth, sources) per batch handed
        self.depth = 0

    def __call__(self, events: list[AnyEvent]) -> None:
        self.depth += 1
        self.seen.append((self.depth, [e.source for e in events]))
        if events[0].source != DAEMON_SOURCE and self.recorder is not None:
            self.recorder.record(_ran)
        self.depth -= 1


def _router(seq: int, ts: float) -> RouterAdded:
    return RouterAdded(source="agent", seq=seq, ts=ts, router=f"r{seq}")


def test_a_record_made_while_handling_a_batch_is_handed_over_after_it() -> None:
    state = State()
    listener = Listener()
    ingest = Ingest(state, MemoryLog(), max_in_flight=100, on_accepted=listener)
    listener.recorder = Recorder(state, ingest.append)
    ingest.offer([_router(1, 100.0)])
    ingest.offer([_router(2, 200.0)])
    assert listener.seen == [(1, ["agent"]), (1, [DAEMON_SOURCE]),
                             (1, ["agent"]), (1, [DAEMON_SOURCE])]
    assert state.lsn == 4


def test_records_are_stamped_in_log_time() -> None:
    """The time of the latest telemetry the state holds, not the wall clock."""
    state = State()
    ingest = Ingest(state, MemoryLog(), max_in_flight=100)
    recorder = Recorder(state, ingest.append)
    assert recorder.record(_ran).ts == 0.0  # no telemetry yet
    ingest.offer([_router(1, 1_000.0), _router(2, 1_300.0)])
    first = recorder.record(_ran)
    assert first.ts == 1_300.0
    assert recorder.record(_ran).ts == 1_300.0  # its own records do not move it
    assert recorder.record(_ran, ts=900.0).ts == 900.0  # a cause's own log time
