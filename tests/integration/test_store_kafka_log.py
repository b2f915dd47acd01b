"""The event log in a real Kafka topic: durable on ack, same state for every reader."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from itertools import islice
from pathlib import Path

import pytest

from shadowd.config import ReplaySourceConfig
from shadowd.control.replies import StatusReply
from shadowd.core.errors import LogCorrupt
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, digest, fold
from shadowd.ingest.builtin import builtin_batches, trace_spec
from shadowd.store.kafka_log import KafkaCommitter, read_kafka_log, recover_from_kafka
from tests.brokers import Kafka
from tests.integration.harness import Daemon, poll, write_config
from tests.integration.test_brokers import create_topic, produce

pytestmark = pytest.mark.integration


def _trace(count: int) -> list[AnyEvent]:
    events = (e for b in builtin_batches(trace_spec(ReplaySourceConfig(days=1))) for e in b)
    return list(islice(events, count))


async def _write(kafka: Kafka, topic: str, batches: list[list[AnyEvent]], last_lsn: int) -> int:
    committer = KafkaCommitter(kafka.bootstrap, topic, last_lsn=last_lsn, max_batch_events=3000)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(committer.run(), name="kafka.commit")
        lsn = last_lsn
        for batch in batches:
            committer.enqueue(batch)
            lsn += len(batch)
        await committer.wait_durable(lsn)
        task.cancel()
    return committer.durable_lsn


async def _all(it: AsyncIterator[list[AnyEvent]]) -> list[AnyEvent]:
    return [e async for batch in it for e in batch]


async def test_every_reader_folds_the_same_state_and_a_writer_resumes(kafka: Kafka) -> None:
    topic = await create_topic(kafka)
    events = _trace(20_000)
    assert await _write(kafka, topic, [events[:7000], events[7000:12000]], 0) == 12_000

    resumed = await recover_from_kafka(kafka.bootstrap, topic)
    assert resumed.lsn == 12_000
    assert await _write(kafka, topic, [events[12000:]], resumed.lsn) == 20_000

    readers = await asyncio.gather(*(recover_from_kafka(kafka.bootstrap, topic)
                                     for _ in range(3)))
    assert {digest(s) for s in readers} == {digest(fold(events))}
    assert (await _all(read_kafka_log(kafka.bootstrap, topic))) == events
    window = await _all(read_kafka_log(kafka.bootstrap, topic, from_lsn=6999, until=7001))
    assert window == events[6998:7001]
    assert digest(await recover_from_kafka(kafka.bootstrap, topic, until=9_999)) == digest(
        fold(events[:9_999]))


async def test_a_damaged_record_is_refused_with_its_offset(kafka: Kafka) -> None:
    topic = await create_topic(kafka)
    events = _trace(50)
    await _write(kafka, topic, [events], 0)
    offset = await produce(kafka, topic, b"log", b"\x05\x00\x00\x00garbage")
    with pytest.raises(LogCorrupt, match=f"offset {offset}"):
        await recover_from_kafka(kafka.bootstrap, topic)


async def test_an_empty_topic_is_an_empty_shadow(kafka: Kafka) -> None:
    topic = await create_topic(kafka)
    assert digest(await recover_from_kafka(kafka.bootstrap, topic)) == digest(State())


async def test_log_replay_kafka_prints_the_digest(kafka: Kafka) -> None:
    topic = await create_topic(kafka)
    events = _trace(3000)
    await _write(kafka, topic, [events], 0)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shadowd.cli", "log", "replay-kafka", "--bootstrap",
        kafka.bootstrap, "--topic", topic, "--until", "2000", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert (summary["seq"], summary["digest"]) == (2000, digest(fold(events[:2000])))


async def test_a_daemon_with_its_log_in_kafka_and_a_second_reader_agree(
    kafka: Kafka, daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    topic = await create_topic(kafka)
    config = write_config(tmp_path, days=1)
    config.write_text(config.read_text().replace(
        "[log]\n", f'[log]\nbackend = "kafka"\nkafka_bootstrap = "{kafka.bootstrap}"\n'
                   f'kafka_topic = "{topic}"\n', 1))
    d = daemons(config)
    d.start()
    await asyncio.to_thread(d.wait_ready)
    await asyncio.to_thread(d.wait_seq, 50_000)
    assert await asyncio.to_thread(d.stop) == 0
    d.start()  # resumes from the topic: the replay source continues after its seq
    finished = await asyncio.to_thread(_wait_replay_finished, d)
    assert await asyncio.to_thread(d.stop) == 0

    elsewhere = await recover_from_kafka(kafka.bootstrap, topic)
    assert (elsewhere.lsn, digest(elsewhere)) == (finished.seq, finished.digest)
    assert elsewhere.sources["replay"].seq == finished.seq  # no gap, no duplicate
    assert finished.digest == digest(fold(_trace(finished.seq)))
    assert not list((d.state_dir / "log").glob("*.seg"))  # nothing went to local segments


def _wait_replay_finished(d: Daemon) -> StatusReply:
    def finished() -> StatusReply | None:
        done = any(r.get("kind") == "source_finished" for r in d.log_records())
        return d.status() if done else None

    return poll("the replay to finish", finished)
