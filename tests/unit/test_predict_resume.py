"""A spike predicted before a restart gets its scenario runs after it, injected before its
peak: the daemon's way, with the predictor's fakes. The log and a snapshot (its watch
beside it) are written as the daemon writes them, recovery rebuilds state and watch from
them, and a new predictor resumes what the log owes runs, under the spike's own record."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog

from shadowd.config import PredictConfig
from shadowd.core.events import DAEMON_SOURCE, LinkRemoved, ScenarioRan, SpikePredicted
from shadowd.predict.watch import encode_watch
from shadowd.services.predict_restore import SIDECAR, WatchRecovery
from shadowd.services.predictor import watch_settings
from shadowd.services.scenario_runs import iso
from shadowd.store.log import EventLog
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR, recover
from shadowd.store.snapshot import SnapshotStore
from tests.fakes.store import FakeFsync
from tests.predict_world import SHORT, triangle
from tests.unit.test_predict_service import (
    CONFIG,
    RAMP_FROM,
    World,
    _workers,
)

END = RAMP_FROM + 12  # the first spike is predicted a few steps into the ramp
Logged = list[MutableMapping[str, Any]]


@pytest.fixture(autouse=True)
def logged() -> Iterator[Logged]:
    with structlog.testing.capture_logs() as captured:
        yield captured


class Before:
    """The first daemon: run until its first spike is recorded, snapshotting on the way."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = SnapshotStore(root / SNAPSHOT_DIR, fsync=FakeFsync())
        self.world = World(root)

    async def until_spike(self, *, snapshot_at: int | None) -> tuple[int, SpikePredicted]:
        """Steps until a spike is recorded (its step and record); a snapshot after step
        ``snapshot_at`` (None: after the spike's, as the last thing before the crash)."""
        w = self.world
        async with _workers(w):
            for k in range(END):
                w.step(k)
                await w.predictor.settle()
                if k == snapshot_at:
                    self.snapshot()
                spikes = [e for e in w.records() if isinstance(e, SpikePredicted)]
                if spikes:
                    if snapshot_at is None:
                        self.snapshot()
                    return k, spikes[0]
        raise AssertionError("no spike predicted")

    def snapshot(self) -> None:
        """As ``Daemon.snapshot``: the state and the predictor's watch at one lsn."""
        saved = self.world.predictor.saved()
        assert saved is not None
        self.store.save(self.world.state.fork(), sidecars={SIDECAR: encode_watch(saved)})

    def crash(self) -> None:
        """What is in the log is what a crash leaves: every accepted event, no more."""
        with EventLog.open(self.root / LOG_DIR, fsync=FakeFsync()) as log:
            log.write(triangle(demands=True))
            for event in self.world.committer.events:
                log.write([event])
            log.sync()


def restart(root: Path, config: PredictConfig = CONFIG, *, resume: bool = True) -> World:
    """As ``Daemon.run``: recovery with the watch's follower, then a predictor on both."""
    follower = WatchRecovery(SnapshotStore(root / SNAPSHOT_DIR), watch_settings(config), SHORT)
    state, _ = recover(root, follower=follower)
    w = World(root, config=config, state=state, watch=follower.watch)
    if resume:
        w.predictor.resume()
    return w


async def _go_on(w: World, start: int) -> None:
    async with _workers(w):
        await w.predictor.settle()
        for k in range(start, END):
            w.step(k)
        await w.predictor.settle()


@pytest.mark.parametrize("snapshot_at", [RAMP_FROM - 10, None],
                         ids=["recorded-in-the-tail", "saved-in-the-sidecar"])
async def test_a_spike_predicted_before_a_restart_gets_its_runs_before_its_peak(
        tmp_path: Path, logged: Logged, snapshot_at: int | None) -> None:
    before = Before(tmp_path)
    k, spike = await before.until_spike(snapshot_at=snapshot_at)
    assert not any(isinstance(e, ScenarioRan) for e in before.world.records())
    assert spike.peak_ts - CONFIG.lead_s > before.world.predictor.feed.clock  # not due yet
    before.crash()

    after = restart(tmp_path)
    assert [s.seq for s in after.predictor.watch.open.snapshot()] == [spike.seq]
    await _go_on(after, k + 1)

    assert not [e for e in after.records() if isinstance(e, SpikePredicted)]  # no second
    runs = [e for e in after.records() if isinstance(e, ScenarioRan)]
    assert [(r.scenario, r.tier, r.error) for r in runs] == [
        ("wc-link-a--c", "model", ""), ("surge-b", "model", "")]
    for run in runs:
        assert run.spike_seq == spike.seq
        assert run.trigger == f"spike:{spike.link} {spike.direction}"
        assert run.spike_ts == spike.peak_ts
        assert run.injected_ts == spike.peak_ts - CONFIG.lead_s < spike.peak_ts
        assert run.seq > spike.seq  # shadowd's seqs go on from the log's
    [resumed] = [r for r in logged if r["event"] == "spike resumed after restart"]
    assert resumed == {
        "event": "spike resumed after restart", "log_level": "info", "link": spike.link,
        "direction": spike.direction, "peak": iso(spike.peak_ts),
        "inject_at": iso(spike.peak_ts - CONFIG.lead_s), "seq": spike.seq,
        "worst_failure": spike.worst_failure, "scenarios": ["wc-link-a--c", "surge-b"]}
    assert after.predictor.counters.resumed == 1
    assert len(after.predictor.watch.open) == 0  # its runs closed it


async def test_without_resuming_the_spike_is_never_run(tmp_path: Path) -> None:
    """Why resuming is needed: the restored forecaster does not predict that spike again."""
    before = Before(tmp_path)
    k, _ = await before.until_spike(snapshot_at=RAMP_FROM - 10)
    before.crash()
    after = restart(tmp_path, resume=False)
    await _go_on(after, k + 1)
    assert after.records() == []


async def test_a_peak_closer_than_the_lead_is_injected_at_once(
        tmp_path: Path, logged: Logged) -> None:
    before = Before(tmp_path)
    _, spike = await before.until_spike(snapshot_at=None)
    clock = before.world.predictor.feed.clock
    before.crash()
    longer = msgspec.structs.replace(CONFIG, lead_s=spike.peak_ts - clock + 300.0)
    after = restart(tmp_path, longer)
    async with _workers(after):
        await after.predictor.settle()  # no new telemetry: due at the restart's log time
    runs = [e for e in after.records() if isinstance(e, ScenarioRan)]
    assert len(runs) == 2
    assert all(r.injected_ts == clock < spike.peak_ts for r in runs)
    [resumed] = [r for r in logged if r["event"] == "spike resumed after restart"]
    assert resumed["inject_at"] == iso(clock)


async def test_a_spike_whose_peak_has_passed_is_dropped_and_said(
        tmp_path: Path, logged: Logged) -> None:
    before = Before(tmp_path)
    _, spike = await before.until_spike(snapshot_at=None)
    clock = before.world.predictor.feed.clock
    late = msgspec.structs.replace(spike, seq=spike.seq + 1, peak_ts=clock - 60.0)
    before.world.ingest.offer([late])  # recorded by a worker behind the log clock
    before.crash()

    after = restart(tmp_path)
    async with _workers(after):
        await after.predictor.settle()
    [dropped] = [r for r in logged if r["event"].startswith("spikes dropped after restart")]
    assert (dropped["log_level"], dropped["count"], dropped["seqs"]) == (
        "warning", 1, [late.seq])
    assert after.predictor.counters.dropped == 1
    assert after.predictor.counters.resumed == 1  # the other one, still ahead
    assert all(e.source == DAEMON_SOURCE for e in after.records())
    assert {e.spike_seq for e in after.records() if isinstance(e, ScenarioRan)} == set()
    assert after.predictor.scheduler.pending == 1  # its injection: at the next samples


# --- the live predictor keeps the set its snapshots save ------------------------------------


def _open(w: World) -> list[int]:
    saved = w.predictor.saved()
    assert saved is not None
    assert saved.open_spikes == w.predictor.watch.open.snapshot()
    return [s.seq for s in saved.open_spikes]


async def test_a_recorded_spike_is_saved_open_until_its_runs_are_recorded(
        tmp_path: Path) -> None:
    w = World(tmp_path)
    async with _workers(w):
        seen = []
        for k in range(END):
            w.step(k)
            await w.predictor.settle()
            seen.append((len(w.records()), _open(w)))
    [spike] = [e for e in w.records() if isinstance(e, SpikePredicted)]
    assert (1, [spike.seq]) in seen  # recorded, not run: open
    assert seen[-1] == (3, [])  # its two runs: closed


async def test_a_passed_peak_is_dropped_once_no_job_is_left_for_it(tmp_path: Path) -> None:
    w = World(tmp_path)
    for k in range(END):  # no worker: the spike's job waits
        w.step(k)
        if w.predictor.progress()["pending_injections"]:
            break
    clock = w.predictor.feed.clock
    late = SpikePredicted(source=DAEMON_SOURCE, seq=99, ts=clock, link="b--c",
                          direction="ab", peak_ts=clock - 60.0, predicted_bps=0.9e9,
                          threshold_bps=0.8e9, predicted_util=0.9, made_at=clock - 600.0)
    w.predictor.note([late])  # the hook's view of it (its seq clear of the recorder's)
    assert [s.seq for s in w.predictor.watch.open.snapshot()] == [99]  # a job is in hand
    async with _workers(w):
        await w.predictor.settle()
        [spike] = w.records()
        assert [s.seq for s in w.predictor.watch.open.snapshot()] == [spike.seq, 99]
        w.step(k + 1)  # the next samples, nothing in hand: the passed peak goes
        assert _open(w) == [spike.seq]


async def test_a_spike_on_a_link_removed_before_the_restart_is_dropped_and_said(
        tmp_path: Path, logged: Logged) -> None:
    before = Before(tmp_path)
    _, spike = await before.until_spike(snapshot_at=None)
    before.world.ingest.offer([LinkRemoved(source="topo", seq=9, ts=spike.made_at,
                                           link=spike.link)])
    before.crash()
    after = restart(tmp_path)
    async with _workers(after):
        await after.predictor.settle()
    [dropped] = [r for r in logged if r["event"].startswith("spikes dropped after restart")]
    assert dropped["event"] == "spikes dropped after restart: their links are gone"
    assert dropped["seqs"] == [spike.seq]
    assert after.predictor.scheduler.pending == 0
    assert after.records() == []
