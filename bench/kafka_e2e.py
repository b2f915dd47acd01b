"""End-to-end ingest through a real Kafka: deltas/s from topic to durable, applied state.

    python -m bench.kafka_e2e [--deltas N] [--batch N]

Starts a single-node KRaft broker (the test suite's, from the Maven jars: `make kafka`),
publishes N deltas of the GEANT trace as delta batches *before* the daemon starts, then
starts a real shadowd with a Kafka source and times it from "feed connected" until it has
applied everything and its view digest equals the producer's: consume, decode, validate,
sync, durable append (fsync), apply, offset commit. Prints one JSON document. The same
path without a broker, and against the naive one, is ``bench.pipeline_bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaProducer

from shadowd.config import ReplaySourceConfig
from shadowd.core.events import AnyEvent
from shadowd.core.state import fold, view_digest
from shadowd.core.wire import DeltaBatch, encode_message
from shadowd.ingest.builtin import builtin_batches, trace_spec
from tests.brokers import Kafka, kafka_jars, running
from tests.integration.harness import Daemon, poll
from tests.integration.test_ingest_kafka import Topics

TARGET = 100_000


def _events(count: int) -> list[AnyEvent]:
    spec = trace_spec(ReplaySourceConfig(days=7, name="agent"))
    return list(islice((e for b in builtin_batches(spec) for e in b), count))


async def _publish(kafka: Kafka, topic: str, events: list[AnyEvent], batch: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all", linger_ms=5,
                                max_request_size=4 << 20)
    await producer.start()
    try:
        sent = [await producer.send(topic, encode_message(DeltaBatch(
            source="agent", events=events[i : i + batch])), key=b"agent")
            for i in range(0, len(events), batch)]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def _time_until_applied(d: Daemon, count: int, digest: str) -> tuple[int, float]:
    """(deltas applied after the clock started, seconds): the feed may already be busy
    when the daemon answers, so what it had applied by then is not counted."""
    d.start()
    before = d.wait_ready().seq
    start = time.perf_counter()
    poll("all deltas applied",
         lambda: True if (s := d.status()).seq >= count and s.view_digest == digest else None,
         interval=0.01)
    return count - before, time.perf_counter() - start


def run(deltas: int, batch: int, root: Path) -> dict[str, Any]:
    events = _events(deltas)
    digest = view_digest(fold(events))
    (root / "kafka").mkdir()
    with running(Kafka(root / "kafka", kafka_jars())) as broker:
        assert isinstance(broker, Kafka)
        kafka = broker
        topics = Topics()
        asyncio.run(topics.create(kafka))
        asyncio.run(_publish(kafka, topics.telemetry, events, batch))
        (root / "k").mkdir()
        d = Daemon(root / "k", topics.config(root / "k", kafka))
        try:
            timed, seconds = _time_until_applied(d, deltas, digest)
            d.stop()
        finally:
            d.cleanup()
    return {
        "benchmark": "kafka_e2e", "deltas": deltas, "batch": batch,
        "kafka": {"timed_deltas": timed, "seconds": round(seconds, 3),
                  "deltas_per_s": round(timed / seconds)},
        "note": "timed from shadowd's first answer to all applied with the producer's view "
                "digest; the deltas were already in the topic",
        "target": {"deltas_per_s": TARGET, "met": timed / seconds >= TARGET},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--deltas", type=int, default=300_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.deltas, args.batch, Path(tmp))
    print(msgspec.json.format(msgspec.json.encode(result).decode(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
