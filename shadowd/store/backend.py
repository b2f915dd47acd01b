"""Where the event log lives: local segment files (the default) or a Kafka topic.

The daemon asks one thing of either: recover the state, give it a committer (the
ingest pipeline's ``enqueue`` / ``wait_durable`` / ``durable_lsn``, plus ``run``), read
the tail back for ``shadowctl log tail``, and close. Local recovery starts from the
newest snapshot; a Kafka log is folded from the topic's start, so every instance reading
the same topic reaches the same state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, Protocol

from shadowd.config import LogConfig
from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.store.commit import GroupCommitter
from shadowd.store.kafka_log import KafkaCommitter, read_kafka_log, recover_from_kafka
from shadowd.store.log import EventLog
from shadowd.store.recovery import LOG_DIR, SNAPSHOT_DIR, Follower, Problem, recover
from shadowd.store.snapshot import Offsets, SnapshotStore


class Committer(Protocol):
    durable_lsn: int

    def enqueue(self, events: Sequence[AnyEvent]) -> None: ...

    async def wait_durable(self, lsn: int) -> None: ...

    async def run(self) -> None: ...


class Backend(Protocol):
    name: str
    committer: Committer

    async def tail(self, first: int, last: int) -> list[tuple[int, AnyEvent]]: ...

    def close(self) -> None: ...


class LocalBackend:
    name = "local"

    def __init__(self, state_dir: Path, config: LogConfig) -> None:
        self._log = EventLog.open(state_dir / LOG_DIR, segment_bytes=config.segment_mb << 20)
        self.committer: Committer = GroupCommitter(
            self._log, window_s=config.fsync_window_ms / 1000,
            max_batch_events=config.max_batch_events,
        )

    async def tail(self, first: int, last: int) -> list[tuple[int, AnyEvent]]:
        return await asyncio.to_thread(lambda: list(self._log.events(first, last)))

    def close(self) -> None:
        self._log.close()


class KafkaBackend:
    name = "kafka"

    def __init__(self, config: LogConfig, last_lsn: int) -> None:
        self._bootstrap, self._topic = config.kafka_bootstrap, config.kafka_topic
        self.committer: Committer = KafkaCommitter(
            self._bootstrap, self._topic, last_lsn=last_lsn,
            window_s=config.fsync_window_ms / 1000,
            max_batch_events=min(config.max_batch_events, 20_000),
        )

    async def tail(self, first: int, last: int) -> list[tuple[int, AnyEvent]]:
        out: list[tuple[int, AnyEvent]] = []
        async for batch in read_kafka_log(self._bootstrap, self._topic, from_lsn=first,
                                          until=last):
            out += [(first + len(out) + i, e) for i, e in enumerate(batch)]
        return out

    def close(self) -> None:
        pass


class Recovered(NamedTuple):
    state: State
    offsets: Offsets  # broker offsets recorded by the newest snapshot the state includes
    backend: Backend
    problems: list[Problem]


async def open_backend(state_dir: Path, config: LogConfig,
                       follower: Follower | None = None) -> Recovered:
    """Recover the state from the configured log and open it for appending; ``follower``
    is told where recovery starts and every event folded after it."""
    if config.backend == "kafka":
        state = await recover_from_kafka(config.kafka_bootstrap, config.kafka_topic,
                                         follower=follower)
        snapshot, _ = SnapshotStore(state_dir / SNAPSHOT_DIR).latest(until=state.lsn)
        offsets = snapshot.offsets if snapshot is not None else {}
        return Recovered(state, offsets, KafkaBackend(config, state.lsn), [])
    state, report = recover(state_dir, repair=True, follower=follower)
    return Recovered(state, report.offsets, LocalBackend(state_dir, config), report.problems())
