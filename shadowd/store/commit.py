"""Group commit: many concurrent appends, one record written and one fsync for all of them.

It makes events durable and says when they are; it never touches the state. The ingest
pipeline applies each batch to the state first and then queues it (``enqueue``), so the
log's order is the order the state saw, and the state runs ahead of the log by what is in
flight. ``append`` queues and waits in one call (benchmarks, tests).

``run()`` is a long-lived task (name it, put it in the daemon's TaskGroup). It waits for
the first events queued, lingers up to ``window_s`` (or until ``max_batch_events`` are
queued) for more, then writes them as one record and fsyncs once, off the event loop.
Only then does it move ``durable_lsn`` to the record's last lsn, resolve every
``append()`` the fsync covered (each with its own last lsn) in lsn order, and wake every
``wait_durable(lsn)`` it covered.

Cancelling ``run()`` lets an in-flight write finish, commits whatever is queued, then
re-raises. Cancelling an ``append()`` does not withdraw its events: they are committed.

A full disk (ENOSPC, EDQUOT on write) is waited out, not fatal: the log undoes the partial
write, the batch goes back to the head of the queue, one ``disk_full`` alert is raised,
and the write is tried again every ``retry_s`` until it succeeds. Nothing new is durable
meanwhile, so nothing new is acknowledged (feeds hold their offsets and acks, and pause
once ingest is congested), while everything already durable stays so and reads go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from shadowd import logs
from shadowd.core.events import AnyEvent
from shadowd.store.log import EventLog

log = logs.get_logger()
NO_SPACE: Final = frozenset({errno.ENOSPC, errno.EDQUOT})

DEFAULT_WINDOW_S: Final = 0.002
DEFAULT_MAX_BATCH_EVENTS: Final = 20_000


@dataclass(slots=True)
class _Append:
    events: Sequence[AnyEvent]
    waiter: asyncio.Future[int] | None  # None: queued by ``enqueue``, nobody waits on it
    queued_at: float


class GroupCommitter:
    def __init__(self, log: EventLog, *, window_s: float = DEFAULT_WINDOW_S,
                 max_batch_events: int = DEFAULT_MAX_BATCH_EVENTS, retry_s: float = 1.0) -> None:
        self._log = log
        self._retry_s = retry_s
        self.stalled: OSError | None = None  # the disk is full: writes wait
        self._window = window_s
        self._max_batch = max_batch_events
        self._queue: deque[_Append] = deque()
        self._queued_events = 0
        self._arrived = asyncio.Event()
        self._batch_full = asyncio.Event()
        self._stopped = False
        self._lsn_waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # a heap
        self.durable_lsn = log.last_lsn
        self.commits = 0  # records written, each with one fsync

    async def append(self, events: Sequence[AnyEvent]) -> int:
        """Queue ``events``; return the lsn of the last one once it is durable."""
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._push(_Append(events, waiter, 0.0))
        return await waiter

    def enqueue(self, events: Sequence[AnyEvent]) -> None:
        """Queue ``events`` and return at once, so a producer can keep going while they
        are written; it learns when they are durable from ``wait_durable``."""
        self._push(_Append(events, None, 0.0))

    def _push(self, append: _Append) -> None:
        if self._stopped:
            raise RuntimeError("group committer has stopped")
        append.queued_at = asyncio.get_running_loop().time()
        self._queue.append(append)
        self._queued_events += len(append.events)
        self._arrived.set()
        if self._queued_events >= self._max_batch:
            self._batch_full.set()

    async def wait_durable(self, lsn: int) -> None:
        """Return once every event up to ``lsn`` is durable."""
        if lsn <= self.durable_lsn:
            return
        if self._stopped:
            raise RuntimeError("group committer has stopped")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._lsn_waiters, (lsn, id(waiter), waiter))
        await waiter

    async def run(self) -> None:
        try:
            while True:
                await self._batch_ready()
                await self._commit(self._take())
                if self.stalled is not None:
                    await asyncio.sleep(self._retry_s)
        except asyncio.CancelledError:
            while self._queue:  # one last try each: a disk still full fails them
                await self._commit(self._take(), last_try=True)
            raise
        finally:
            self._stopped = True
            stopped = RuntimeError("group committer stopped")
            self._fail(list(self._queue), stopped)
            for _, _, waiter in self._lsn_waiters:
                if not waiter.done():
                    waiter.set_exception(stopped)

    async def _batch_ready(self) -> None:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        if self._queued_events >= self._max_batch:
            return
        self._batch_full.clear()
        deadline = self._queue[0].queued_at + self._window
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._batch_full.wait()

    def _take(self) -> list[_Append]:
        batch = [self._queue.popleft()]
        size = len(batch[0].events)
        while self._queue and size + len(self._queue[0].events) <= self._max_batch:
            batch.append(self._queue.popleft())
            size += len(batch[-1].events)
        self._queued_events -= size
        return batch

    async def _commit(self, batch: list[_Append], *, last_try: bool = False) -> None:
        events = [event for append in batch for event in append.events]
        loop = asyncio.get_running_loop()
        writing = loop.run_in_executor(None, self._write_durably, events)
        try:
            try:
                last_lsn = await asyncio.shield(writing)
            except asyncio.CancelledError:
                self._deliver(batch, events, await writing)
                raise
            except OSError as err:
                if err.errno not in NO_SPACE or last_try:
                    raise
                self._stall(batch, err)
                return
            self._resume()
            self._deliver(batch, events, last_lsn)
        except BaseException as err:
            self._fail(batch, err)
            raise

    def _stall(self, batch: list[_Append], err: OSError) -> None:
        """Put ``batch`` back at the head of the queue, to be tried again after a while."""
        self._queue.extendleft(reversed(batch))
        self._queued_events += sum(len(append.events) for append in batch)
        if self.stalled is None:
            logs.alert(log, "disk_full", "critical", "the event log cannot be written",
                       path=str(self._log.directory), error=str(err))
        self.stalled = err

    def _resume(self) -> None:
        if self.stalled is not None:
            self.stalled = None
            log.info("the event log is written again", path=str(self._log.directory),
                     lsn=self._log.last_lsn)

    def _write_durably(self, events: list[AnyEvent]) -> int:
        last_lsn = self._log.write(events)
        self._log.sync()
        self.commits += 1
        return last_lsn

    def _deliver(self, batch: list[_Append], events: list[AnyEvent], last_lsn: int) -> None:
        self.durable_lsn = last_lsn
        lsn = last_lsn - len(events)
        for append in batch:
            lsn += len(append.events)
            if append.waiter is not None and not append.waiter.done():
                append.waiter.set_result(lsn)
        while self._lsn_waiters and self._lsn_waiters[0][0] <= last_lsn:
            waiter = heapq.heappop(self._lsn_waiters)[2]
            if not waiter.done():
                waiter.set_result(None)

    @staticmethod
    def _fail(batch: list[_Append], err: BaseException) -> None:
        for append in batch:
            if append.waiter is not None and not append.waiter.done():
                append.waiter.set_exception(err)
