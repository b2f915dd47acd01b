from __future__ import annotations

import json
import tempfile
from itertools import accumulate
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowd.core.errors import LogCorrupt
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, digest, fold
from shadowd.store.log import EventLog
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR, LogLost, recover
from shadowd.store.snapshot import SnapshotStore, snapshot_name
from tests.fakes.store import FakeFsync, ring, telemetry

EVENTS = ring(5) + telemetry(300, 5)


class _Heard:
    """A follower that writes down where recovery starts and each run, with the lsn the
    state is at when it hears it."""

    def __init__(self) -> None:
        self.state = State()
        self.started_at = -1
        self.runs: list[tuple[list[AnyEvent], int]] = []

    def start(self, state: State) -> None:
        self.state, self.started_at = state, state.lsn

    def note(self, events: list[AnyEvent]) -> None:
        self.runs.append((events, self.state.lsn))


def _build(root: Path, events: list[AnyEvent], *, batch: int = 7,
           snapshot_at: tuple[int, ...] = (), keep: int = 10) -> None:
    """Log ``events`` in batches, snapshotting the state after each lsn in ``snapshot_at``."""
    store = SnapshotStore(root / SNAPSHOT_DIR, keep=keep, fsync=FakeFsync())
    with EventLog.open(root / LOG_DIR, segment_bytes=3_000, fsync=FakeFsync()) as log:
        for start in range(0, len(events), batch):
            log.write(events[start : start + batch])
        log.sync()
    for lsn in snapshot_at:
        store.save(fold(events[:lsn]))


def test_an_empty_or_missing_state_dir_is_the_empty_state(tmp_path: Path) -> None:
    state, report = recover(tmp_path / "nothing")
    assert state == State()
    assert report.problems() == []


def test_recovery_folds_the_whole_log(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS)
    state, report = recover(tmp_path)
    assert digest(state) == digest(fold(EVENTS))
    assert (report.snapshot_lsn, report.replayed, report.log_end) == (0, len(EVENTS), len(EVENTS))


def test_recovery_starts_from_the_newest_snapshot_at_or_before_until(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS, snapshot_at=(50, 120, 200))
    state, report = recover(tmp_path, until=150)
    assert digest(state) == digest(fold(EVENTS[:150]))
    assert (report.snapshot_lsn, report.replayed) == (120, 30)
    state, report = recover(tmp_path)
    assert (report.snapshot_lsn, state.lsn) == (200, len(EVENTS))


@settings(max_examples=40, deadline=None)
@given(
    snapshot_at=st.lists(st.integers(1, len(EVENTS)), max_size=4, unique=True),
    until=st.integers(0, len(EVENTS) + 5),
    batch=st.integers(1, 40),
)
def test_snapshot_plus_tail_is_the_same_state_as_replay_from_zero(
    snapshot_at: list[int], until: int, batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _build(Path(tmp), EVENTS, batch=batch, snapshot_at=tuple(snapshot_at))
        state, report = recover(tmp, until=until)
    expected = fold(EVENTS[:until])
    assert state.lsn == expected.lsn
    assert digest(state) == digest(expected)
    assert report.snapshot_lsn == max((s for s in snapshot_at if s <= until), default=0)


def test_a_corrupt_snapshot_is_skipped_and_reported(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS, snapshot_at=(100, 200))
    newest = tmp_path / SNAPSHOT_DIR / snapshot_name(200)
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x20
    newest.write_bytes(data)
    state, report = recover(tmp_path)
    assert report.snapshot_lsn == 100
    assert digest(state) == digest(fold(EVENTS))
    (problem,) = report.problems()
    assert problem.kind == "snapshot_skipped"
    assert str(newest) in problem.message


def test_a_torn_tail_is_reported_and_cut_only_when_repairing(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS)
    last_segment = sorted((tmp_path / LOG_DIR).glob("*.seg"))[-1]
    torn = last_segment.read_bytes()[:-3]
    last_segment.write_bytes(torn)

    state, report = recover(tmp_path)
    (problem,) = report.problems()
    assert problem.kind == "log_truncated"
    assert problem.fields["applied"] is False
    assert last_segment.read_bytes() == torn

    repaired, report = recover(tmp_path, repair=True)
    assert report.problems()[0].fields["applied"] is True
    assert digest(repaired) == digest(state)
    assert recover(tmp_path)[1].problems() == []


def test_snapshots_past_the_end_of_the_log_refuse_the_daemon_and_change_nothing(
        tmp_path: Path) -> None:
    _build(tmp_path, EVENTS[:100], snapshot_at=(50,))
    SnapshotStore(tmp_path / SNAPSHOT_DIR).save(fold(EVENTS[:250]))  # the log lost 101..250
    before = sorted(p.name for p in (tmp_path / SNAPSHOT_DIR).iterdir())
    with pytest.raises(LogLost) as caught:
        recover(tmp_path, repair=True)
    assert (caught.value.log_end, caught.value.proven) == (100, 250)
    assert "events 101..250 were durable and are gone from the log" in str(caught.value)
    assert "shadowd log repair --state-dir" in str(caught.value)
    assert sorted(p.name for p in (tmp_path / SNAPSHOT_DIR).iterdir()) == before


def test_a_torn_tail_under_a_later_snapshot_is_no_torn_write(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS[:100], snapshot_at=(50,))
    last_segment = sorted((tmp_path / LOG_DIR).glob("*.seg"))[-1]
    torn = last_segment.read_bytes()[:-3]
    last_segment.write_bytes(torn)
    SnapshotStore(tmp_path / SNAPSHOT_DIR).save(fold(EVENTS[:100]))  # proved durable
    with pytest.raises(LogLost):
        recover(tmp_path, repair=True)
    assert last_segment.read_bytes() == torn  # not cut


def test_accepting_the_loss_sets_later_snapshots_aside(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS[:100], snapshot_at=(50,))
    SnapshotStore(tmp_path / SNAPSHOT_DIR).save(fold(EVENTS[:250]))  # the log lost 101..250
    state, report = recover(tmp_path, repair=True, accept_loss=True)
    assert state.lsn == 100
    assert report.snapshot_lsn == 50
    assert [p.kind for p in report.problems()] == ["snapshot_skipped"]
    assert [f.lsn for f in SnapshotStore(tmp_path / SNAPSHOT_DIR).files()] == [50]


def test_corruption_in_the_middle_of_the_log_stops_recovery(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS)
    first = sorted((tmp_path / LOG_DIR).glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[40] ^= 0x01
    first.write_bytes(data)
    with pytest.raises(LogCorrupt) as caught:
        recover(tmp_path)
    assert caught.value.segment == str(first)


def test_damage_under_a_later_snapshot_is_reported_at_start_not_silent(
        tmp_path: Path) -> None:
    """The start reads only what follows the newest snapshot; a segment before it that
    changed since it was sealed is scanned, and its damage is a critical problem."""
    _build(tmp_path, EVENTS, snapshot_at=(len(EVENTS) - 10,))
    segments = sorted((tmp_path / LOG_DIR).glob("*.seg"))
    assert len(segments) > 2
    state, report = recover(tmp_path, repair=True)  # sealed as it rolled: nothing to say
    assert report.problems() == []
    second = segments[1]
    data = bytearray(second.read_bytes())
    data[40] ^= 0x01
    second.write_bytes(data)
    again, report = recover(tmp_path, repair=True)
    assert digest(again) == digest(state) == digest(fold(EVENTS))  # the snapshot stands in
    (problem,) = report.problems()
    assert (problem.kind, problem.severity) == ("log_damaged", "critical")
    assert problem.fields["segment"] == second.name
    assert problem.fields["offset"] == 0  # the frame at 0 holds byte 40
    assert problem.fields["first_lsn"] == int(second.stem)
    assert problem.fields["last_lsn"] == int(segments[2].stem) - 1
    assert "cannot be replayed" in problem.message
    _, report = recover(tmp_path, repair=True)  # still damaged: said at every start
    assert [p.kind for p in report.problems()] == ["log_damaged"]


def test_a_segment_without_a_seal_is_scanned_once_and_sealed(tmp_path: Path) -> None:
    _build(tmp_path, EVENTS, snapshot_at=(len(EVENTS) - 10,))
    seals = tmp_path / LOG_DIR / "sealed.json"
    sealed = json.loads(seals.read_text())
    seals.unlink()  # a state dir from before seals
    _, report = recover(tmp_path, repair=True)
    assert report.problems() == []
    assert json.loads(seals.read_text()) == sealed
    first = sorted((tmp_path / LOG_DIR).glob("*.seg"))[0]
    first.write_bytes(first.read_bytes()[:-5])  # cut short: the next segment starts later
    (problem,) = recover(tmp_path, repair=True)[1].problems()
    assert problem.fields["segment"] == first.name


def test_snapshots_keep_the_newest_k_and_hold_their_position(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2, fsync=FakeFsync())
    for lsn in (10, 20, 30):
        store.save(fold(EVENTS[:lsn]), offsets={"kafka": {"telemetry-0": lsn * 3}})
    assert [f.lsn for f in store.files()] == [20, 30]
    snapshot, problems = store.latest()
    assert snapshot is not None
    assert problems == []
    assert (snapshot.lsn, snapshot.offsets) == (30, {"kafka": {"telemetry-0": 90}})
    assert digest(snapshot.state) == digest(fold(EVENTS[:30]))
    assert not list(tmp_path.glob("*.tmp"))


def test_sidecars_are_saved_beside_their_snapshot_and_pruned_with_it(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2, fsync=FakeFsync())
    for lsn in (10, 20, 30):
        store.save(fold(EVENTS[:lsn]), sidecars={"predict": b"p%d" % lsn, "other": b"o"})
    assert [f.lsn for f in store.files()] == [20, 30]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{lsn:020d}.{kind}" for lsn in (20, 30) for kind in ("other", "predict", "snap")]
    assert store.sidecar(30, "predict") == b"p30"
    assert store.sidecar_path(30, "predict") == tmp_path / f"{30:020d}.predict"
    store.save(fold(EVENTS[:40]))  # none beside this one; the old ones go all the same
    assert [f.lsn for f in store.sidecars()] == [30, 30]
    with pytest.raises(FileNotFoundError):
        store.sidecar(40, "predict")


def test_a_damaged_sidecar_is_refused(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, fsync=FakeFsync())
    store.save(fold(EVENTS[:10]), sidecars={"predict": b"forecasts"})
    path = store.sidecar_path(10, "predict")
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    with pytest.raises(LogCorrupt, match="CRC mismatch"):
        store.sidecar(10, "predict")


def test_sidecars_past_the_end_of_the_log_are_set_aside_with_their_snapshots(
        tmp_path: Path) -> None:
    _build(tmp_path, EVENTS[:100], snapshot_at=(50,))
    store = SnapshotStore(tmp_path / SNAPSHOT_DIR)
    store.save(fold(EVENTS[:50]), sidecars={"predict": b"kept"})
    store.save(fold(EVENTS[:250]), sidecars={"predict": b"lost"})  # the log lost 101..250
    recover(tmp_path, repair=True, accept_loss=True)
    assert [f.lsn for f in store.sidecars()] == [50]
    assert store.sidecar(50, "predict") == b"kept"
    assert (tmp_path / SNAPSHOT_DIR / f"{250:020d}.predict.orphan").read_bytes()


def test_a_follower_hears_each_run_of_one_source_just_after_it_is_folded(
        tmp_path: Path) -> None:
    a, b = telemetry(20, 5, source="a"), telemetry(20, 5, source="b")
    records = [ring(5), a[:6] + b[:3] + a[6:9], b[3:], a[9:]]  # a group commit mixes them
    with EventLog.open(tmp_path / LOG_DIR, fsync=FakeFsync()) as log:
        for record in records:
            log.write(record)
        log.sync()
    heard = _Heard()
    state, _ = recover(tmp_path, follower=heard)
    runs = [ring(5), a[:6], b[:3], a[6:9], b[3:], a[9:]]
    assert heard.started_at == 0
    assert [events for events, _ in heard.runs] == runs
    assert [lsn for _, lsn in heard.runs] == list(accumulate(map(len, runs)))
    assert digest(state) == digest(fold([e for record in records for e in record]))
