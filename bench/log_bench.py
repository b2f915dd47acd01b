"""Event log throughput: group-commit appends and replay, against a naive baseline.

    python -m bench.log_bench [--events N] [--naive-events N] [--producers N] [--dir DIR]

Prints one JSON document. Everything runs on real files with real fsyncs, in a temporary
directory (under ``--dir``; keep it on the disk the daemon would use, not a tmpfs).

- append: ``--producers`` tasks, like sources, each appending delta batches of telemetry
  and awaiting each one's durability, through one ``GroupCommitter`` (default window);
  and one source pipelining as ``ingest`` does (``enqueue``, bounded events in flight);
- naive baseline: per event, ``json.dumps`` of it as a dict, one ``write``, one ``fsync``;
- replay: ``recover()``, read + CRC + decode + fold, from zero and from a snapshot.
- replay with the predictor (``--sections predictor``): a GEANT trace of ``--trace-days``
  (``builtin_batches``, one record per batch, as live telemetry is logged), recovered as
  the daemon does, with ``WatchRecovery`` as the follower, against ``recover()`` alone:
  the whole log (no snapshot, or the Kafka backend), and the tail after a snapshot with
  the predictor's sidecar beside it. Each is timed in a fresh process, for its peak RSS;
  the state and the rebuilt watch must come out the same every way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from shadowd import logs
from shadowd.config import PredictConfig
from shadowd.core.events import AnyEvent, decode_batch, encode_batch, tag_of
from shadowd.core.state import State, digest, fold
from shadowd.ingest.builtin import builtin_batches
from shadowd.predict.forecast import ForecastParams
from shadowd.predict.watch import encode_watch
from shadowd.services.predict_restore import SIDECAR, WatchRecovery
from shadowd.services.predictor import watch_settings
from shadowd.store.commit import DEFAULT_WINDOW_S, GroupCommitter
from shadowd.store.log import EventLog
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR, RecoveryReport, recover
from shadowd.store.snapshot import SnapshotStore
from shadowd.traffic.trace import TraceSpec
from tests.fakes.store import ring, telemetry

ROUTERS = 100
DELTA_BATCH = 500  # events per source batch, as a Kafka poll or an MQTT burst brings them
TARGET_APPEND = 500_000
TARGET_REPLAY = 1_000_000
SECTIONS = ("log", "predictor")


def _workload(events: int) -> list[AnyEvent]:
    topology = ring(ROUTERS)
    return topology + telemetry(events - len(topology), ROUTERS)


async def _append_all(log: EventLog, events: list[AnyEvent], producers: int) -> GroupCommitter:
    committer = GroupCommitter(log)
    batches = [events[i : i + DELTA_BATCH] for i in range(0, len(events), DELTA_BATCH)]
    lanes = [batches[p::producers] for p in range(producers)]  # lsn order is not the point

    async def produce(lane: list[list[AnyEvent]]) -> None:
        for batch in lane:
            await committer.append(batch)

    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(committer.run(), name="log.commit")
        async with asyncio.TaskGroup() as sources:
            for i, lane in enumerate(lanes):
                sources.create_task(produce(lane), name=f"source.{i}")
        runner.cancel()
    return committer


def bench_group_commit(root: Path, events: list[AnyEvent], producers: int) -> dict[str, Any]:
    with EventLog.open(root / LOG_DIR) as log:
        start = time.perf_counter()
        committer = uvloop.run(_append_all(log, events, producers))
        seconds = time.perf_counter() - start
    size = sum(p.stat().st_size for p in (root / LOG_DIR).glob("*.seg"))
    return {
        "events": len(events), "producers": producers, "delta_batch": DELTA_BATCH,
        "seconds": round(seconds, 3), "events_per_s": round(len(events) / seconds),
        "fsyncs": committer.commits, "events_per_fsync": round(len(events) / committer.commits),
        "bytes_per_event": round(size / len(events), 1),
    }


async def _enqueue_all(log: EventLog, events: list[AnyEvent], in_flight: int) -> GroupCommitter:
    """One source feeding the log as ``ingest`` does: queue each delta batch without
    waiting, held back only while more than ``in_flight`` events are not yet durable."""
    committer = GroupCommitter(log)
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(committer.run(), name="log.commit")
        for start in range(0, len(events), DELTA_BATCH):
            committer.enqueue(events[start : start + DELTA_BATCH])
            queued = min(start + DELTA_BATCH, len(events))
            if queued - committer.durable_lsn > in_flight:
                await committer.wait_durable(queued - in_flight)
        await committer.wait_durable(len(events))
        runner.cancel()
    return committer


def bench_pipelined(root: Path, events: list[AnyEvent], in_flight: int) -> dict[str, Any]:
    with EventLog.open(root / LOG_DIR) as log:
        start = time.perf_counter()
        committer = uvloop.run(_enqueue_all(log, events, in_flight))
        seconds = time.perf_counter() - start
    return {"events": len(events), "producers": 1, "max_in_flight": in_flight,
            "seconds": round(seconds, 3), "events_per_s": round(len(events) / seconds),
            "fsyncs": committer.commits}


def bench_producers(parent: Path, events: list[AnyEvent], counts: list[int]) -> dict[str, int]:
    """How the batch a commit gathers, so throughput, grows with concurrent producers."""
    rates = {}
    for producers in counts:
        with tempfile.TemporaryDirectory(dir=parent) as tmp:
            rates[str(producers)] = bench_group_commit(Path(tmp), events, producers)["events_per_s"]
    return rates


def bench_naive(root: Path, events: list[AnyEvent]) -> dict[str, Any]:
    fd = os.open(root / "naive.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        start = time.perf_counter()
        for event in events:
            line = json.dumps({"type": tag_of(event), **msgspec.structs.asdict(event)})
            os.write(fd, line.encode() + b"\n")
            os.fsync(fd)
        seconds = time.perf_counter() - start
    finally:
        os.close(fd)
    return {"events": len(events), "seconds": round(seconds, 3),
            "events_per_s": round(len(events) / seconds)}


def _timed_recover(root: Path) -> tuple[float, State, RecoveryReport]:
    start = time.perf_counter()
    state, report = recover(root)
    return time.perf_counter() - start, state, report


def _best(root: Path, runs: int, expected: str) -> tuple[list[float], RecoveryReport]:
    times = []
    for _ in range(runs):
        seconds, state, report = _timed_recover(root)
        assert digest(state) == expected, "replay diverged from the fold of the events"
        times.append(seconds)
    return sorted(times), report


def bench_replay(root: Path, events: list[AnyEvent], snapshot_at: int, runs: int,
                 ) -> dict[str, Any]:
    expected = digest(fold(events))
    zero, _ = _best(root, runs, expected)
    SnapshotStore(root / SNAPSHOT_DIR).save(fold(events[:snapshot_at]))
    snap, report = _best(root, runs, expected)
    return {
        "runs": runs,
        "from_zero": {"events": len(events), "best_s": round(zero[0], 3),
                      "events_per_s": round(len(events) / zero[0]),
                      "median_events_per_s": round(len(events) / statistics.median(zero))},
        "from_snapshot": {"snapshot_lsn": report.snapshot_lsn, "tail_events": report.replayed,
                          "best_s": round(snap[0], 3),
                          "tail_events_per_s": round(report.replayed / snap[0]),
                          "lsn_per_s": round(len(events) / snap[0])},
    }


def bench_parts(events: list[AnyEvent]) -> dict[str, int]:
    """Where replay time goes: decode and fold alone, batch by batch from memory, gc paused
    as in ``recover``. The two add up; read, CRC and framing are the rest."""
    encoded = [encode_batch(events[i : i + 4_000]) for i in range(0, len(events), 4_000)]
    state, decode_s, fold_s = State(), 0.0, 0.0
    gc.disable()
    try:
        for data in encoded:
            start = time.perf_counter()
            batch = decode_batch(data)
            decoded = time.perf_counter()
            fold(batch, state)
            decode_s, fold_s = decode_s + decoded - start, fold_s + time.perf_counter() - decoded
    finally:
        gc.enable()
    return {"decode_events_per_s": round(len(events) / decode_s),
            "fold_events_per_s": round(len(events) / fold_s)}


# --- replay with the predictor's recovery follower ----------------------------------------


def _trace_log(root: Path, spec: TraceSpec) -> list[int]:
    """Log the trace, one record per batch; the lsn after each batch."""
    ends = []
    with EventLog.open(root / LOG_DIR) as log:
        for batch in builtin_batches(spec):
            ends.append(log.write(batch))
        log.sync()
    return ends


def _follower(root: Path) -> WatchRecovery:
    """The daemon's follower with the default [predict] settings."""
    return WatchRecovery(SnapshotStore(root / SNAPSHOT_DIR), watch_settings(PredictConfig()),
                         ForecastParams())


def _recover_in_child(root: str, follow: bool, runs: int) -> tuple[dict[str, Any], str]:
    """In a fresh process: ``recover()`` ``runs`` times, with the follower or without; its
    figures, and a fingerprint of what it rebuilt (the state's digest, and the watch's)."""
    logs.configure(level="warning")  # a warning (the sidecar not restored) goes to stderr
    times: list[float] = []
    for run in range(runs):
        follower = _follower(Path(root)) if follow else None
        start = time.perf_counter()
        state, report = recover(root, follower=follower)
        times.append(time.perf_counter() - start)
        if run == 0:  # one recovery's peak: later ones overlap the state of the one before
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rebuilt = digest(state)
    if follower is not None and follower.watch is not None:
        rebuilt += hashlib.sha256(encode_watch(follower.watch.snapshot(state.lsn))).hexdigest()
    best = min(times)
    return {"snapshot_lsn": report.snapshot_lsn, "events": report.replayed,
            "best_s": round(best, 3), "events_per_s": round(report.replayed / best),
            "median_s": round(statistics.median(times), 3),
            "peak_rss_mb": round(peak_kb / 1024, 1)}, rebuilt


def _compared(root: Path, runs: int) -> tuple[dict[str, Any], str]:
    """Recovery without a follower (the baseline) and with the predictor's, each in a
    process of its own; and what the latter rebuilt."""
    spawn = multiprocessing.get_context("spawn")
    found = []
    for follow in (False, True):
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            found.append(pool.submit(_recover_in_child, str(root), follow, runs).result())
    (base, state), (pred, rebuilt) = found
    assert rebuilt.startswith(state), "the follower changed the state"
    return {"without_predictor": base, "with_predictor": pred,
            "slowdown": round(pred["best_s"] / base["best_s"], 2),
            "extra_rss_mb": round(pred["peak_rss_mb"] - base["peak_rss_mb"], 1)}, rebuilt


def _save_snapshot(root: Path, lsn: int) -> None:
    """The state and the predictor's watch at ``lsn``, as the daemon snapshots them."""
    follower = _follower(root)
    state, _ = recover(root, until=lsn, follower=follower)
    assert follower.watch is not None
    sidecar = encode_watch(follower.watch.snapshot(state.lsn))
    SnapshotStore(root / SNAPSHOT_DIR).save(state, sidecars={SIDECAR: sidecar})


def bench_predictor_replay(parent: Path, days: int, runs: int) -> dict[str, Any]:
    spec = TraceSpec(days=days, surges_per_week=3.0)
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
        root = Path(tmp)
        ends = _trace_log(root, spec)
        whole, from_zero = _compared(root, runs)
        snapshot_lsn = min(ends, key=lambda lsn: abs(lsn - ends[-1] * 9 // 10))
        _save_snapshot(root, snapshot_lsn)
        tail, from_snapshot = _compared(root, runs)
    assert tail["with_predictor"]["snapshot_lsn"] == snapshot_lsn
    assert from_snapshot == from_zero, "snapshot + tail rebuilt another state or watch"
    return {"trace": {"topology": spec.topology, "days": days, "interval_s": spec.interval_s,
                      "surges_per_week": spec.surges_per_week, "events": ends[-1],
                      "records": len(ends)},
            "runs": runs, "whole_log": whole, "from_snapshot": tail,
            "same_state_and_watch_every_way": True}  # else an assertion above failed


# --- main ----------------------------------------------------------------------------


def _log_sections(parent: Path, args: argparse.Namespace) -> dict[str, Any]:
    events = _workload(args.events)
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
        root = Path(tmp)
        naive = bench_naive(root, events[: args.naive_events])
        sweep = bench_producers(root, events[: len(events) // 5], [1, 4, 16])
        append = bench_group_commit(root, events, args.producers)
        with tempfile.TemporaryDirectory(dir=root) as other:
            pipelined = bench_pipelined(Path(other), events, in_flight=50_000)
        replay = bench_replay(root, events, len(events) * 9 // 10, args.runs)
    return {
        "append_group_commit": {**append, "window_s": DEFAULT_WINDOW_S},
        "append_events_per_s_by_producers": {"events": len(events) // 5, **sweep},
        "append_pipelined_like_ingest": pipelined,
        "append_naive_baseline": naive,
        "replay": replay,
        "replay_parts_in_memory": bench_parts(events),
        "ratios": {
            "append_vs_naive": round(append["events_per_s"] / naive["events_per_s"], 1),
            "replay_vs_naive_append": round(
                replay["from_zero"]["events_per_s"] / naive["events_per_s"], 1),
        },
        "targets": {
            "append_events_per_s": TARGET_APPEND,
            "append_met": append["events_per_s"] >= TARGET_APPEND,
            "replay_events_per_s": TARGET_REPLAY,
            "replay_met": replay["from_zero"]["events_per_s"] >= TARGET_REPLAY,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.log_bench")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=2_000)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3, help="replays to time; best is kept")
    parser.add_argument("--trace-days", type=int, default=7,
                        help="of the GEANT trace replayed with the predictor")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="log: appends and replay; predictor: replay with its follower")
    parser.add_argument("--dir", default=None, help="parent of the temporary directory")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="shadowd-log-bench-", dir=args.dir) as tmp:
        if "log" in args.sections:
            result |= _log_sections(Path(tmp), args)
        if "predictor" in args.sections:
            result["replay_with_predictor"] = bench_predictor_replay(
                Path(tmp), args.trace_days, args.runs)
    machine = {"cpus": os.cpu_count(), "python": sys.version.split()[0], "loop": "uvloop",
               "loadavg_1m_after": round(os.getloadavg()[0], 2)}
    print(json.dumps({"machine": machine, **result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
