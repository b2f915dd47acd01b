"""What every telemetry feed has in common, and the replay feed.

A *feed* is an adapter on one transport (a replay trace, a Kafka consumer group, an MQTT
session) that owns its connection: it reconnects with jittered exponential backoff, keeps
its ``FeedStats``, and hands what it receives to the ingest side. The daemon runs any feed
the same way: ``await feed.run()`` in a named task, ``feed.offsets()`` into snapshots,
``feed.ready`` before it tells systemd it is ready.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Protocol

import msgspec

from shadowd import logs
from shadowd.ingest.pipeline import Ingest
from shadowd.ingest.replay import ReplaySource

log = logs.get_logger()


class FeedStats(msgspec.Struct, kw_only=True):
    kind: str
    connected: bool = False
    messages: int = 0  # received, whatever became of them
    lost: int = 0  # times the connection was lost
    paused: int = 0  # times consumption paused until the log caught up
    dead_letters: int = 0
    resync_requests: int = 0  # published to the source's control channel


class Feed(Protocol):
    name: str
    stats: FeedStats
    ready: asyncio.Event  # set once subscribed (or, for a replay, started)

    async def run(self) -> None: ...

    def offsets(self) -> dict[str, int]:
        """Where to resume, per partition: the next offset after what the state holds."""
        ...


class Backoff:
    """Jittered exponential backoff: 'full jitter' between 0 and the growing ceiling."""

    def __init__(self, initial_s: float, max_s: float, *,
                 rng: Callable[[], float] = random.random) -> None:
        self._initial, self._max, self._rng = initial_s, max_s, rng
        self._ceiling = initial_s

    def next(self) -> float:
        delay = self._initial / 2 + self._rng() * (self._ceiling - self._initial / 2)
        self._ceiling = min(self._ceiling * 2, self._max)
        return delay

    def reset(self) -> None:
        self._ceiling = self._initial


class Connection:
    """A feed's connected/lost bookkeeping, as ``source_lost``/``source_restored`` alerts."""

    def __init__(self, name: str, stats: FeedStats) -> None:
        self._name = name
        self._stats = stats
        self._was_lost = False

    def up(self) -> None:
        if self._stats.connected:
            return
        self._stats.connected = True
        if self._was_lost:
            logs.alert(log, "source_restored", "info", "source restored", feed=self._name,
                       feed_kind=self._stats.kind)

    def down(self, error: BaseException) -> None:
        if not self._stats.connected and self._was_lost:
            return
        self._stats.connected = False
        self._stats.lost += 1
        self._was_lost = True
        logs.alert(log, "source_lost", "warning", "source lost", feed=self._name,
                   error=f"{type(error).__name__}: {error}")


class ReplayFeed:
    """Feeds a trace (``ReplaySource``) straight into the ingest pipeline."""

    def __init__(self, source: ReplaySource, ingest: Ingest,
                 on_progress: Callable[[], None],
                 on_finished: Callable[[str], None] | None = None) -> None:
        self.name = source.name
        self._on_finished = on_finished
        self.source = source
        self.stats = FeedStats(kind="replay", connected=True)
        self.ready = asyncio.Event()
        self._ingest = ingest
        self._on_progress = on_progress

    def offsets(self) -> dict[str, int]:
        return {}

    async def run(self) -> None:
        self.ready.set()
        pos = self._ingest.state.sources.get(self.name)
        async for batch in self.source.batches(after_seq=pos.seq if pos is not None else 0):
            self.stats.messages += 1
            self._ingest.offer(batch)
            await self._ingest.backpressure()
            self._on_progress()
        logs.alert(log, "source_finished", "info", "source finished", source=self.name,
                   events=self.source.progress.emitted)
        if self._on_finished is not None:
            self._on_finished(self.name)
