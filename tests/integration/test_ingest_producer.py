"""A small test producer for the ingest tests (no tests here): the embedded GEANT trace,
restamped as one source, published as wire messages through a transport, and able to
misbehave on purpose (drop, duplicate, reorder) and to answer resyncs with snapshots.

It numbers events itself and folds everything it *means* to send into its own ``State``,
so its ``view_digest`` is what the shadow must reach, whatever the transport did.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Final, Protocol

import msgspec

from shadowd.config import ReplaySourceConfig
from shadowd.control.errors import DaemonUnavailable
from shadowd.core.diff import snapshot_events as view_events
from shadowd.core.events import (
    AnyEvent,
)
from shadowd.core.state import State, apply, view_digest
from shadowd.core.wire import (
    AnyMessage,
    DeltaBatch,
    Digest,
    ResyncRequest,
    Snapshot,
    encode_message,
    split_deltas,
)
from shadowd.ingest.builtin import builtin_batches, trace_spec
from shadowd.store.log import EventLog
from tests.integration.harness import CONFIG, Daemon, poll

SOURCE: Final = "agent"


def trace_events(count: int) -> Iterator[AnyEvent]:
    """The first ``count`` events of the embedded one-day GEANT trace."""
    events = (e for batch in builtin_batches(trace_spec(ReplaySourceConfig(days=1)))
              for e in batch)
    return islice(events, count)


def snapshot_events(state: State, seq: int, ts: float) -> list[AnyEvent]:
    """The producer's whole view, stamped as one snapshot at ``seq``."""
    return [msgspec.structs.replace(e, source=SOURCE, seq=seq, ts=ts)
            for e in view_events(state)]


class Transport(Protocol):
    async def send(self, payloads: list[bytes]) -> None:
        """Publish ``payloads`` in order; retry until the broker has them all."""

    def requests(self) -> AsyncIterator[ResyncRequest]: ...


class Misbehaviour(msgspec.Struct, frozen=True):
    drop_every: int = 0  # never publish every n-th delta batch
    duplicate_every: int = 0  # publish every n-th delta batch twice
    swap_every: int = 0  # publish every n-th delta batch after the one following it


class TestProducer:
    """Publishes a trace as ``SOURCE`` and answers resync requests with snapshots."""

    __test__ = False  # not a pytest class

    def __init__(self, transport: Transport, *, batch_events: int = 200,
                 misbehave: Misbehaviour | None = None) -> None:
        self.transport = transport
        self.state = State()
        self.position = 0
        self.snapshot_seqs: list[int] = []
        self.resyncs = 0
        self._batch_events = batch_events
        self._misbehave = misbehave or Misbehaviour()
        self._lock = asyncio.Lock()
        self._count = 0

    def _stamp(self, events: list[AnyEvent]) -> list[AnyEvent]:
        out = []
        for e in events:
            self.position += 1
            out.append(msgspec.structs.replace(e, source=SOURCE, seq=self.position))
        return out

    async def publish(self, events: list[AnyEvent], *, chunk_batches: int = 50) -> None:
        """Publish ``events`` as delta batches (misbehaving as told), in chunks."""
        for start in range(0, len(events), self._batch_events * chunk_batches):
            chunk = events[start:start + self._batch_events * chunk_batches]
            async with self._lock:
                stamped = self._stamp(chunk)
                for e in stamped:
                    apply(self.state, e)
                batches = split_deltas(stamped, max_events=self._batch_events,
                                       max_bytes=512 * 1024)
                await self.transport.send(self._wire(batches))

    def _wire(self, batches: list[DeltaBatch]) -> list[bytes]:
        m = self._misbehave
        out: list[bytes] = []
        held: bytes | None = None
        for batch in batches:
            self._count += 1
            data = encode_message(batch)
            if m.drop_every and self._count % m.drop_every == 0:
                continue
            copies = [data, data] if m.duplicate_every and self._count % m.duplicate_every == 0 \
                else [data]
            if m.swap_every and self._count % m.swap_every == 0 and held is None:
                held = data
                continue
            out += copies
            if held is not None:
                out.append(held)
                held = None
        if held is not None:
            out.append(held)
        return out

    async def finish(self) -> None:
        """Say where the stream ends: a digest, so a shadow that lost the tail asks."""
        async with self._lock:
            await self._send(Digest(source=SOURCE, seq=self.position,
                                    digest=view_digest(self.state)))

    async def answer_resyncs(self) -> None:
        async for request in self.transport.requests():
            if request.source != SOURCE:
                continue
            async with self._lock:
                self.resyncs += 1
                self.position += 1
                events = snapshot_events(self.state, self.position, 0.0)
                self.snapshot_seqs.append(self.position)
                await self._send(Snapshot(source=SOURCE, seq=self.position, events=events))
                await self._send(Digest(source=SOURCE, seq=self.position,
                                        digest=view_digest(self.state)))

    async def _send(self, message: AnyMessage) -> None:
        await self.transport.send([encode_message(message)])


# --- the daemon side -------------------------------------------------------------------


def daemon_config(directory: Path, source: str, *, snapshot_every: int = 200_000) -> Path:
    text = CONFIG.format(window=2.0, snapshot_every=snapshot_every,
                         socket=directory / "shadowd.sock", sources=textwrap.dedent(source))
    path = directory / "shadowd.toml"
    path.write_text(text)
    return path


async def wait_in_sync(daemon: Daemon, producer: TestProducer) -> None:
    """Poll (off the loop) until the shadow stands where the producer is, with its view."""
    def probe() -> bool | None:
        try:
            s = daemon.status()
        except DaemonUnavailable:  # restarting
            return None
        src = s.sources.get(SOURCE)
        at = src is not None and src.seq == producer.position
        return True if at and s.view_digest == view_digest(producer.state) else None

    await asyncio.to_thread(poll, "the shadow to reach the producer's view", probe)


async def wait_feed_connected(daemon: Daemon, feed: str) -> None:
    def probe() -> bool | None:
        f = daemon.status().feeds.get(feed)
        return True if f is not None and f.connected else None

    await asyncio.to_thread(poll, f"feed {feed} to connect", probe)


def logged_seqs(state_dir: Path) -> list[int]:
    """The seqs of ``SOURCE``'s events in the daemon's log, in log order."""
    with EventLog.open(state_dir / "log", readonly=True) as log:
        return [e.seq for batch in log.read(1, None) for e in batch if e.source == SOURCE]


def assert_applied_once(seqs: list[int], snapshot_seqs: list[int]) -> None:
    """Log order never goes back, and only a snapshot's diff shares a seq."""
    assert seqs == sorted(seqs), "an event was logged out of order"
    repeated = {s for s, n in _counts(seqs).items() if n > 1}
    assert repeated <= set(snapshot_seqs), f"applied twice: {sorted(repeated)[:10]}"


def _counts(seqs: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in seqs:
        out[s] = out.get(s, 0) + 1
    return out


async def run_with_answers(producer: TestProducer,
                           body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` while the producer answers resync requests."""
    async with asyncio.TaskGroup() as tg:
        answering = tg.create_task(producer.answer_resyncs(), name="answer-resyncs")
        try:
            await body()
        finally:
            answering.cancel()
