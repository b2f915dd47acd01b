"""The predictor's watch across a restart: saved at a snapshot's lsn, restored, fed the
log tail, it forecasts and predicts exactly as a watch that never stopped; a missing,
damaged or unfitting saved state is a warning and a fresh start, never a crash."""

from __future__ import annotations

import math
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import structlog

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    LinkAdded,
    LinkCapacity,
    LinkStatus,
    LinkUtilization,
    SpikePredicted,
)
from shadowd.core.state import State, fold
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.forecast import ForecastParams, PredictedSpike
from shadowd.predict.watch import (
    SpikeWatch,
    WatchSettings,
    WatchState,
    decode_watch,
    encode_watch,
    mismatch,
)
from shadowd.services.predict_restore import SIDECAR, WatchRecovery
from shadowd.store.log import EventLog
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR, recover
from shadowd.store.snapshot import SnapshotStore
from tests.fakes.store import FakeFsync
from tests.predict_world import SHORT, STEP, T0, triangle

SETTINGS = WatchSettings(check_every_s=300.0, horizon_s=1800.0, threshold_util=0.8)
STEPS = 130
SURGES = (range(44, 52), range(92, 100))  # a--b a->b ramps toward 110% of capacity
CUT = 84  # the 84th batch (step 80): after the first surge, 12 steps before the second;
# a forecaster started there is still in its warm-up (two seasons: 24 steps) at the second
LATE = 126  # of 136 batches: a tail too short for a fresh forecaster to warm up


def _batches() -> list[list[AnyEvent]]:
    """A batch of samples every step, and now and then a batch of another source: a link
    flapping and a capacity change (topology), a spike record of shadowd's own."""
    rng = np.random.default_rng(11)
    out: list[list[AnyEvent]] = []
    seq, topo = 0, 7
    for k in range(STEPS):
        ts = T0 + k * STEP
        daily = 0.3e9 + 0.1e9 * math.sin(2 * math.pi * k / 12)
        ab = daily * (1 + 0.02 * float(rng.normal()))
        for surge in SURGES:
            if k in surge:
                ab += (k - surge.start + 1) * 0.1e9
        batch: list[AnyEvent] = []
        for link, load in (("a--b", ab), ("b--c", 0.1e9 + 0.05e9 * float(rng.random())),
                           ("a--c", 0.05e9)):
            seq += 1
            batch.append(LinkUtilization(source="collector", seq=seq, ts=ts, link=link,
                                         ab_bps=load, ba_bps=0.05e9))
        out.append(batch)
        if k in (30, 77, 90):
            topo += 1
            out.append([LinkStatus(source="topo", seq=topo, ts=ts + 10, link="b--c",
                                   up=k != 77)])
        if k == 60:
            topo += 1
            out.append([LinkCapacity(source="topo", seq=topo, ts=ts + 10, link="a--c",
                                     capacity_bps=2e9)])
        if k in (47, 85):
            out.append([SpikePredicted(source=DAEMON_SOURCE, seq=k, ts=ts, link="a--b",
                                       direction="ab", peak_ts=ts + 900, predicted_bps=1e9,
                                       threshold_bps=0.8e9, predicted_util=1.0, made_at=ts)])
    return out


Spikes = list[list[PredictedSpike] | None]


def _watch(state: State, params: ForecastParams = SHORT) -> SpikeWatch:
    return SpikeWatch(LinkForecasts(state, params), SETTINGS)


def _run(watch: SpikeWatch, state: State, batches: list[list[AnyEvent]]) -> Spikes:
    """Fold each batch, then show it to the watch: the daemon's ingest and its hook."""
    said: Spikes = []
    for batch in batches:
        fold(batch, state)
        said.append(watch.note(batch))
    return said


def _snapshot_round_trip(state: State) -> State:
    return state.fork()  # a snapshot decoded: the same state, a new object


def _same_forecasts(a: SpikeWatch, b: SpikeWatch) -> None:
    fa, fb = a.feed.forecast(SETTINGS.horizon_s), b.feed.forecast(SETTINGS.horizon_s)
    assert fa is not None
    assert fb is not None
    np.testing.assert_array_equal(fa.times, fb.times)
    np.testing.assert_array_equal(fa.mean, fb.mean)
    np.testing.assert_array_equal(fa.upper, fb.upper)


def _same(a: SpikeWatch, b: SpikeWatch) -> None:
    """The same forecasts, tables, clock, alert gating and next check: all of it."""
    _same_forecasts(a, b)
    assert a.feed.recent is not None
    assert b.feed.recent is not None
    np.testing.assert_array_equal(a.feed.recent.values(), b.feed.recent.values())
    assert a.feed.history is not None
    assert b.feed.history is not None
    assert a.feed.history.series(0) == b.feed.history.series(0)
    assert encode_watch(a.snapshot(0)) == encode_watch(b.snapshot(0))


@pytest.fixture(scope="module")
def live() -> tuple[SpikeWatch, Spikes]:
    """A watch that never stopped, fed every batch."""
    state = fold(triangle())
    watch = _watch(state)
    return watch, _run(watch, state, _batches())


@pytest.mark.parametrize("cut", [3, 20, CUT, 110])
def test_a_restored_watch_continues_as_one_that_never_stopped(
        live: tuple[SpikeWatch, Spikes], cut: int) -> None:
    uninterrupted, said = live
    batches = _batches()
    state = fold(triangle())
    first = _watch(state)
    _run(first, state, batches[:cut])
    saved = decode_watch(encode_watch(first.snapshot(state.lsn)))

    state = _snapshot_round_trip(state)
    assert mismatch(saved, state, SHORT) is None
    restored = SpikeWatch.restore(state, saved, SETTINGS)
    assert _run(restored, state, batches[cut:]) == said[cut:]
    _same(restored, uninterrupted)


def test_after_a_restore_the_next_surge_is_predicted_where_a_fresh_watch_is_blind(
        live: tuple[SpikeWatch, Spikes]) -> None:
    _, said = live
    second = [s for found in said[CUT:] if found for s in found]
    assert [(s.link, s.direction) for s in second] == [("a--b", "ab")]
    assert any(found for found in said[:CUT])  # and the first surge before the cut

    batches = _batches()
    after_surge = next(i for i, b in enumerate(batches)
                       if b[0].ts == T0 + SURGES[1].stop * STEP)
    state = fold(triangle())
    _run(_watch(state), state, batches[:CUT])
    fresh = _watch(state)  # what a restart did before: nothing of the first CUT batches
    assert not any(_run(fresh, state, batches[CUT:after_surge]))
    assert fresh.feed.forecaster is not None
    assert not fresh.feed.forecaster.ready.any()  # still in its warm-up
    assert not any(_run(fresh, state, batches[after_surge:]))


def test_a_feed_before_its_first_sample_round_trips() -> None:
    state = fold(triangle())
    saved = decode_watch(encode_watch(_watch(state).snapshot(state.lsn)))
    assert saved.feed.forecaster is None
    assert mismatch(saved, state, SHORT) is None
    restored = SpikeWatch.restore(state, saved, SETTINGS)
    assert restored.feed.forecaster is None
    assert restored.next_check == -math.inf


def _saved_at(cut: int) -> tuple[WatchState, State]:
    state = fold(triangle())
    watch = _watch(state)
    _run(watch, state, _batches()[:cut])
    return watch.snapshot(state.lsn), state


def test_mismatches_say_why() -> None:
    saved, state = _saved_at(30)
    assert mismatch(saved, state, SHORT) is None
    other = msgspec.structs.replace(SHORT, season_s=7200, coverage=0.9)
    reason = mismatch(saved, state, other)
    assert reason == ("its forecast parameters differ from the configured ones: "
                      "season_s, coverage")
    assert mismatch(msgspec.structs.replace(saved, lsn=saved.lsn - 1), state, SHORT) == (
        f"it was taken at seq {saved.lsn - 1}, the snapshot is at seq {state.lsn}")
    assert mismatch(msgspec.structs.replace(saved, schema=3), state, SHORT) == (
        "it has schema 3; this shadowd reads schemas 1 to 2")
    fold([LinkAdded(source="topo", seq=99, ts=T0, link="c--a2", a="c", b="a",
                    metric=10, capacity_bps=1e9)], state)
    moved = msgspec.structs.replace(saved, lsn=state.lsn)
    assert mismatch(moved, state, SHORT) == (
        "1 of the snapshot's links are not in its forecaster: c--a2")


# --- the daemon's way: a sidecar beside the snapshot, restored by recovery ----------------


def _state_dir(root: Path, batches: list[list[AnyEvent]], cut: int, *,
               merged: bool = False) -> tuple[SnapshotStore, WatchState]:
    """Log the topology and ``batches``, and snapshot after ``batches[:cut]`` with the
    watch saved beside it. ``merged``: records of several batches, as a group commit
    writes them (several sources in one record)."""
    store = SnapshotStore(root / SNAPSHOT_DIR, fsync=FakeFsync())
    state = fold(triangle())
    watch = _watch(state)
    _run(watch, state, batches[:cut])
    saved = watch.snapshot(state.lsn)
    store.save(state, sidecars={SIDECAR: encode_watch(saved)})
    records = [triangle(), *batches]
    if merged:
        records = [triangle()] + [[e for b in batches[i : i + 3] for e in b]
                                   for i in range(0, len(batches), 3)]
    with EventLog.open(root / LOG_DIR, fsync=FakeFsync()) as log:
        for record in records:
            log.write(record)
        log.sync()
    return store, saved


def _recovered(root: Path, store: SnapshotStore,
               params: ForecastParams = SHORT) -> tuple[SpikeWatch, State]:
    follower = WatchRecovery(store, SETTINGS, params)
    state, _ = recover(root, follower=follower)
    assert follower.watch is not None
    return follower.watch, state


Logged = list[MutableMapping[str, Any]]


@pytest.fixture(autouse=True)
def logged() -> Iterator[Logged]:
    with structlog.testing.capture_logs() as captured:
        yield captured


def _warnings(logged: Logged) -> Logged:
    return [r for r in logged if r.get("log_level") == "warning"]


def test_recovery_restores_the_watch_and_feeds_it_the_tail(
        tmp_path: Path, live: tuple[SpikeWatch, Spikes],
        logged: Logged) -> None:
    uninterrupted, _ = live
    batches = _batches()
    cut = 100  # the tail holds most of the second surge
    store, saved = _state_dir(tmp_path, batches, cut)
    assert store.sidecar_path(saved.lsn, SIDECAR).name == f"{saved.lsn:020d}.predict"
    watch, state = _recovered(tmp_path, store)
    assert state.lsn == fold(triangle()).lsn + sum(map(len, batches))
    _same(watch, uninterrupted)
    assert watch.next_check == uninterrupted.next_check
    assert watch.feed.forecaster is not None
    assert watch.feed.forecaster.ready.all()
    assert _warnings(logged) == []
    restored = [r for r in logged if r["event"] == "predictor state restored"]
    assert restored[0]["seq"] == saved.lsn
    assert restored[0]["ready_series"] == 6


def test_the_tail_is_fed_one_source_at_a_time_however_records_group_it(
        tmp_path: Path, live: tuple[SpikeWatch, Spikes]) -> None:
    batches = _batches()
    store, saved = _state_dir(tmp_path, batches, CUT, merged=True)
    seen: list[set[str]] = []

    class Spy(WatchRecovery):
        def note(self, events: list[AnyEvent]) -> None:
            seen.append({e.source for e in events})
            super().note(events)

    follower = Spy(store, SETTINGS, SHORT)
    _, report = recover(tmp_path, follower=follower)
    assert report.snapshot_lsn == saved.lsn  # mid-record: the tail starts inside one
    assert all(len(sources) == 1 for sources in seen)
    assert {s for sources in seen for s in sources} == {"topo", "collector", DAEMON_SOURCE}
    assert follower.watch is not None
    # Runs of one source may join batches the live hook saw apart, so spikes are checked
    # for at other moments; what is learnt from the samples is the same.
    _same_forecasts(follower.watch, live[0])


def test_a_missing_sidecar_is_a_warning_and_a_fresh_watch(
        tmp_path: Path, logged: Logged) -> None:
    store, saved = _state_dir(tmp_path, _batches(), LATE)
    path = store.sidecar_path(saved.lsn, SIDECAR)
    path.unlink()
    watch, _ = _recovered(tmp_path, store)
    [warning] = _warnings(logged)
    assert warning["path"] == str(path)
    assert warning["reason"] == "the snapshot has no saved predictor state beside it"
    assert watch.feed.forecaster is not None
    assert not watch.feed.forecaster.ready.any()  # only the tail: still learning


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda data: data[:8] + bytes([data[8] ^ 0x40]) + data[9:], "CRC mismatch"),
    (lambda data: data[: len(data) // 2], "torn frame"),
    (lambda data: b"", "0 frames, expected 1"),
])
def test_a_damaged_sidecar_is_a_warning_naming_it_and_a_fresh_watch(
        tmp_path: Path, logged: Logged, damage: Any,
        reason: str) -> None:
    store, saved = _state_dir(tmp_path, _batches(), LATE)
    path = store.sidecar_path(saved.lsn, SIDECAR)
    path.write_bytes(damage(path.read_bytes()))
    watch, _ = _recovered(tmp_path, store)
    [warning] = _warnings(logged)
    assert warning["path"] == str(path)
    assert warning["reason"].startswith("it cannot be read: ")
    assert reason in warning["reason"]
    assert watch.feed.forecaster is not None
    assert not watch.feed.forecaster.ready.any()


def test_an_intact_sidecar_that_is_no_watch_is_a_warning(
        tmp_path: Path, logged: Logged) -> None:
    store, saved = _state_dir(tmp_path, _batches(), LATE)
    state = recover(tmp_path, until=saved.lsn)[0]
    store.save(state, sidecars={SIDECAR: b"\x93not a watch"})
    _recovered(tmp_path, store)
    [warning] = _warnings(logged)
    assert warning["reason"].startswith("it cannot be read: ")

    logged.clear()
    assert saved.feed.forecaster is not None
    broken = msgspec.structs.replace(saved.feed.forecaster, arrays={})  # lost its arrays
    bad = msgspec.structs.replace(saved, feed=msgspec.structs.replace(saved.feed,
                                                                      forecaster=broken))
    store.save(state, sidecars={SIDECAR: encode_watch(bad)})
    watch, _ = _recovered(tmp_path, store)
    [warning] = _warnings(logged)
    assert warning["reason"] == "it cannot be restored: KeyError: 'capacity'"
    assert watch.feed.forecaster is not None
    assert not watch.feed.forecaster.ready.any()


def test_other_forecast_parameters_are_a_warning_and_a_fresh_watch(
        tmp_path: Path, logged: Logged) -> None:
    store, _ = _state_dir(tmp_path, _batches(), LATE)
    other = msgspec.structs.replace(SHORT, rearm_s=60.0)
    watch, _ = _recovered(tmp_path, store, other)
    [warning] = _warnings(logged)
    assert warning["reason"] == ("its forecast parameters differ from the configured "
                                 "ones: rearm_s")
    assert watch.feed.params == other


def test_without_a_snapshot_the_whole_log_feeds_a_fresh_watch_quietly(
        tmp_path: Path, live: tuple[SpikeWatch, Spikes],
        logged: Logged) -> None:
    store, _ = _state_dir(tmp_path, _batches(), CUT)
    for file in store.files():
        file.path.unlink()
    watch, _ = _recovered(tmp_path, store)
    assert _warnings(logged) == []
    _same(watch, live[0])
