"""The agent's shell: poll, diff, persist the position, publish in order, answer resyncs.

Tasks (one ``TaskGroup``): the transport (its connection and control subscription),
the sender (drains the outgoing queue in order, each payload acknowledged before the
next), and the poll loop in the body. Every outbox is made, its position saved and its
payloads queued under one lock, so a snapshot and a delta batch never cross.

If the broker is gone so long that more than ``max_pending`` messages wait, they are
dropped for one snapshot: the consumer then sees a gap, then the snapshot that heals it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from shadowd import logs
from shadowd.agent.core import AgentCore, Outbox, message_seq
from shadowd.agent.position import PositionFile
from shadowd.agent.reader import Reader
from shadowd.agent.transport import Transport
from shadowd.core.wire import (
    AnyMessage,
    Format,
    ResyncRequest,
    Snapshot,
    WireError,
    decode_message,
    encode_message,
)


class _Stats(msgspec.Struct, kw_only=True):
    polls: int = 0
    events: int = 0
    messages: int = 0  # acknowledged by the broker
    bytes: int = 0
    snapshots: int = 0  # acknowledged
    resyncs: int = 0
    dropped: int = 0  # messages given up for a snapshot after a long outage
    acked_seq: int = 0


class _Out(msgspec.Struct, frozen=True):
    payload: bytes
    seq: int
    snapshot: bool


def _out(message: AnyMessage, fmt: Format) -> _Out:
    return _Out(encode_message(message, fmt), message_seq(message), isinstance(message, Snapshot))


class Agent:
    def __init__(self, core: AgentCore, reader: Reader, transport: Transport, *,
                 position: PositionFile | None = None, poll_interval_s: float = 10.0,
                 max_pending: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.core = core
        self.reader = reader
        self.transport = transport
        self.stats = _Stats()
        self._position = position
        self._interval = poll_interval_s
        self._max_pending = max_pending
        self._clock = clock
        self._pending: deque[_Out] = deque()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._requests: asyncio.Queue[ResyncRequest] = asyncio.Queue()
        self._progress = asyncio.Condition()
        self._log: Any = logs.get_logger(component="agent", source=core.settings.source)

    async def run(self, *, polls: int | None = None) -> None:
        """Run until cancelled, or until ``polls`` polls (or the reader's end) are sent."""
        async with asyncio.TaskGroup() as tg:
            helpers = [
                tg.create_task(self.transport.run(self._on_control), name="agent-transport"),
                tg.create_task(self._send_loop(), name="agent-send"),
                tg.create_task(self._control_loop(), name="agent-control"),
            ]
            await self._poll_loop(polls)
            await self.drained()
            for task in helpers:
                task.cancel()

    async def until(self, predicate: Callable[[_Stats], bool]) -> None:
        """Return once ``predicate(stats)`` holds; checked after every acknowledgement."""
        async with self._progress:
            await self._progress.wait_for(lambda: predicate(self.stats))

    async def drained(self) -> None:
        """Return once every queued message has been acknowledged."""
        while self._pending or not self._idle.is_set():
            await self._idle.wait()
            await asyncio.sleep(0)

    # --- polling -------------------------------------------------------------------------

    async def _poll_loop(self, polls: int | None) -> None:
        next_at = self._clock()
        while polls is None or self.stats.polls < polls:
            now = self._clock()
            current = await self.reader.poll(now)
            if self.reader.done:
                return
            first = self.stats.polls == 0
            step = self.core.start if first else self.core.observe
            await self._emit(partial(step, current, now), "poll")
            self.stats.polls += 1
            next_at = max(next_at + self._interval, self._clock())
            await asyncio.sleep(next_at - self._clock())

    # --- control -------------------------------------------------------------------------

    def _on_control(self, payload: bytes) -> None:
        try:
            msg = decode_message(payload)
        except WireError as err:
            self._log.warning("bad control message", error=str(err))
            return
        if isinstance(msg, ResyncRequest) and msg.source == self.core.settings.source:
            self._requests.put_nowait(msg)

    async def _control_loop(self) -> None:
        while True:
            request = await self._requests.get()
            self.stats.resyncs += 1
            self._log.info("resync requested", from_seq=request.from_seq, reason=request.reason)
            await self._emit(partial(self._answer, request), "resync")

    def _answer(self, request: ResyncRequest) -> Outbox:
        return self.core.resync(request, self._clock())

    # --- sending -------------------------------------------------------------------------

    async def _emit(self, make: Callable[[], Outbox], why: str) -> None:
        async with self._lock:
            outbox = make()
            if not outbox:
                return
            if self._position is not None:
                await asyncio.to_thread(self._position.save, outbox.position)
            fmt = self.core.settings.fmt
            payloads = [_out(m, fmt) for m in outbox.messages]
            self._pending.extend(payloads)
            self.stats.events += outbox.events
            self._log.info("sent" if why == "poll" else "answered", why=why,
                           events=outbox.events, messages=len(payloads),
                           bytes=sum(len(p.payload) for p in payloads),
                           position=outbox.position,
                           pending=len(self._pending))
            if len(self._pending) > self._max_pending:
                await self._give_up_backlog()
            self._idle.clear()
            self._wake.set()

    async def _give_up_backlog(self) -> None:
        self.stats.dropped += len(self._pending)
        self._log.warning("backlog too long, replacing it with a snapshot",
                          dropped=len(self._pending))
        self._pending.clear()
        outbox = self.core.resync(ResyncRequest(source=self.core.settings.source, from_seq=1,
                                                reason="backlog"), self._clock())
        if self._position is not None:
            await asyncio.to_thread(self._position.save, outbox.position)
        fmt = self.core.settings.fmt
        self._pending.extend(_out(m, fmt) for m in outbox.messages)

    async def _send_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                head = self._pending[0]
                await self.transport.send(head.payload)
                if self._pending and self._pending[0] is head:
                    self._pending.popleft()
                self.stats.messages += 1
                self.stats.bytes += len(head.payload)
                self.stats.snapshots += head.snapshot
                self.stats.acked_seq = max(self.stats.acked_seq, head.seq)
                async with self._progress:
                    self._progress.notify_all()
            self._idle.set()
