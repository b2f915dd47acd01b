"""The replay source: feeds a telemetry trace as if it were arriving live.

Batches are paced by the trace's own timestamps: ``speed`` trace seconds per wall second
(0 = as fast as shadowd takes them). On restart the source skips what the log already
holds (``after_seq``), so a replay resumes exactly where the shadow stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

import msgspec

from shadowd.core.events import AnyEvent


class ReplayProgress(msgspec.Struct, kw_only=True):
    emitted: int = 0  # events handed to shadowd, this run and before it (by seq)
    total: int = 0  # events in the whole trace (0 when unknown)
    trace_ts: float = 0.0  # timestamp of the newest event handed over
    done: bool = False


class ReplaySource:
    def __init__(
        self,
        name: str,
        batches: Callable[[], Iterable[list[AnyEvent]]],
        *,
        speed: float,
        total: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self._batches = batches
        self._speed = speed
        self._clock = clock
        self._sleep = sleep
        self.progress = ReplayProgress(total=total)

    async def batches(self, after_seq: int = 0) -> AsyncIterator[list[AnyEvent]]:
        """Yield the trace's batches after ``after_seq``, paced; then stop."""
        start: tuple[float, float] | None = None  # (wall clock, trace time) at first batch
        for batch in _after(self._batches(), after_seq):
            first_ts = batch[0].ts
            if start is None:
                start = (self._clock(), first_ts)
            await self._pace(start, first_ts)
            self.progress.emitted = batch[-1].seq
            self.progress.trace_ts = batch[-1].ts
            yield batch
        self.progress.done = True

    async def _pace(self, start: tuple[float, float], trace_ts: float) -> None:
        if self._speed <= 0:
            await self._sleep(0)  # let the rest of the daemon breathe between batches
            return
        wall0, trace0 = start
        delay = wall0 + (trace_ts - trace0) / self._speed - self._clock()
        await self._sleep(max(delay, 0.0))


def _after(batches: Iterable[list[AnyEvent]], after_seq: int) -> Iterator[list[AnyEvent]]:
    for batch in batches:
        if not batch or batch[-1].seq <= after_seq:
            continue
        yield batch if batch[0].seq > after_seq else [e for e in batch if e.seq > after_seq]
