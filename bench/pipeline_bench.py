"""Ingest pipeline throughput and latency, against the naive path, in one run.

    python -m bench.pipeline_bench [--events N] [--naive-events N] [--dir DIR]

Prints one JSON document. The embedded source's path, on one core, with real fsyncs:
wire bytes (msgpack ``DeltaBatch`` of 1,000 deltas) -> ``decode_message`` -> validate +
sync + apply (``Ingest.offer``) -> group commit to the local log, until all is durable.

- naive baseline: one JSON message per delta, decoded, admitted, then written and
  fsynced before the next (one ack per message);
- latency: deltas offered at a steady 20k/s in 100 batches of 200 per second; for each
  batch, the time from its due time to applied (in the state) and to durable (fsynced).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from shadowd.config import ReplaySourceConfig
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, digest, fold
from shadowd.core.wire import DeltaBatch, Format, decode_message, encode_message
from shadowd.ingest.builtin import builtin_batches, trace_spec
from shadowd.ingest.pipeline import Ingest
from shadowd.store.commit import GroupCommitter
from shadowd.store.log import EventLog

TARGET_DELTAS_PER_S = 300_000
BATCH = 1_000
RATE = 20_000  # deltas per second for the latency run
TICK_BATCH = 200


def _trace(count: int) -> list[AnyEvent]:
    spec = trace_spec(ReplaySourceConfig(days=7, name="bench"))
    return list(islice((e for b in builtin_batches(spec) for e in b), count))


def _messages(events: list[AnyEvent], size: int, fmt: Format) -> list[bytes]:
    return [encode_message(DeltaBatch(source="bench", events=events[i : i + size]), fmt)
            for i in range(0, len(events), size)]


async def _pipelined(directory: Path, messages: list[bytes]) -> tuple[float, State]:
    with EventLog.open(directory) as log:
        committer = GroupCommitter(log)
        ingest = Ingest(State(), committer, max_in_flight=100_000)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(committer.run(), name="log.commit")
            start = time.perf_counter()
            for data in messages:
                message = decode_message(data)
                assert isinstance(message, DeltaBatch)
                ingest.offer(message.events)
                await ingest.backpressure()
            await ingest.durable(ingest.state.lsn)
            elapsed = time.perf_counter() - start
            task.cancel()
    return elapsed, ingest.state


def _naive(directory: Path, messages: list[bytes]) -> tuple[float, State]:
    state = State()
    with EventLog.open(directory) as log:
        start = time.perf_counter()
        for data in messages:
            message = decode_message(data)
            assert isinstance(message, DeltaBatch)
            fold(message.events, state)
            log.write(message.events)
            log.sync()
        return time.perf_counter() - start, state


async def _latency(directory: Path, events: list[AnyEvent]) -> dict[str, Any]:
    batches = [events[i : i + TICK_BATCH] for i in range(0, len(events), TICK_BATCH)]
    applied: list[float] = []
    durable: list[float] = []
    with EventLog.open(directory) as log:
        committer = GroupCommitter(log)
        ingest = Ingest(State(), committer, max_in_flight=100_000)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(committer.run(), name="log.commit")
            t0 = time.perf_counter()  # uvloop's loop.time() only has millisecond resolution
            waits = []
            for k, batch in enumerate(batches):
                due = t0 + k * TICK_BATCH / RATE
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                lsn = ingest.offer(batch)
                applied.append(time.perf_counter() - due)
                waits.append(tg.create_task(_until_durable(ingest, lsn, due, durable),
                                            name=f"latency.{k}"))
            await asyncio.gather(*waits)
            task.cancel()
    return {"deltas": len(events), "rate_per_s": RATE,
            "apply_ms": _percentiles(applied), "durable_ms": _percentiles(durable)}


async def _until_durable(ingest: Ingest, lsn: int, due: float, out: list[float]) -> None:
    await ingest.durable(lsn)
    out.append(time.perf_counter() - due)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"p50": round(statistics.median(ms), 3), "p99": round(ms[int(len(ms) * 0.99)], 3),
            "max": round(ms[-1], 3)}


def run(events: int, naive_events: int, root: Path) -> dict[str, Any]:
    trace = _trace(events)
    fast = _messages(trace, BATCH, "msgpack")
    naive_msgs = _messages(trace[:naive_events], 1, "json")
    wire_bytes = sum(len(m) for m in fast)
    fast_s, fast_state = uvloop.run(_pipelined(root / "fast", fast))
    naive_s, naive_state = _naive(root / "naive", naive_msgs)
    assert digest(fast_state) == digest(fold(trace))
    assert digest(naive_state) == digest(fold(trace[:naive_events]))
    latency = uvloop.run(_latency(root / "latency", trace[:RATE * 3]))
    rate = events / fast_s
    return {
        "benchmark": "pipeline", "source": "embedded (GEANT trace)",
        "pipelined": {"deltas": events, "batch": BATCH, "wire_bytes_per_delta":
                      round(wire_bytes / events, 1), "seconds": round(fast_s, 3),
                      "deltas_per_s": round(rate)},
        "naive": {"deltas": naive_events, "format": "json, one message and one fsync per delta",
                  "seconds": round(naive_s, 3), "deltas_per_s": round(naive_events / naive_s)},
        "speedup": round(rate / (naive_events / naive_s), 1),
        "latency_at_20k_per_s": latency,
        "target": {"deltas_per_s": TARGET_DELTAS_PER_S, "met": rate >= TARGET_DELTAS_PER_S},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-events", type=int, default=5_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = run(args.events, args.naive_events, Path(tmp))
    print(msgspec.json.format(msgspec.json.encode(result).decode(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
