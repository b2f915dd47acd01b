"""The model tier of the shadow: the routing engine kept in step with the state.

Every event the log accepts is noted here; the engine absorbs them when somebody reads
routes or loads, so a read always sees the state as of the latest applied event. When
more events are waiting than an incremental catch-up is worth (a replay at full speed),
the engine is rebuilt from the state instead, which is exact by construction.

Worst-case sweeps are cached per (failure set, lsn): repeated reads between events are
free. A sweep runs in a worker thread so the daemon keeps serving (seconds on a
1,000-router network); catch-up stays on the event loop because it reads the live state,
and a lock keeps the engine still while a sweep reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TypeVar

from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.engine.incremental import Engine
from shadowd.engine.metrics import MetricOptions
from shadowd.engine.sweep import SweepKind, SweepResult

T = TypeVar("T")

REBUILD_AFTER: Final = 5_000  # pending events beyond which a rebuild beats absorbing


class ModelShadow:
    def __init__(
        self, state: State, options: MetricOptions | None = None, *,
        rebuild_after: int = REBUILD_AFTER,
    ) -> None:
        self._state = state  # the daemon's live state: read only, at catch-up
        self._options = options if options is not None else MetricOptions()
        self._rebuild_after = rebuild_after
        self._engine = Engine(state, self._options)
        self._pending: list[AnyEvent] = []
        self._stale = False  # too much pending: rebuild rather than absorb
        self._sweeps: dict[SweepKind, tuple[int, SweepResult]] = {}
        self._lock = asyncio.Lock()
        self.rebuilds = 0
        self.absorbed = 0

    def note(self, events: list[AnyEvent]) -> None:
        """Events just applied to the state, in log order."""
        if self._stale:
            return
        self._pending.extend(events)
        if len(self._pending) > self._rebuild_after:
            self._pending.clear()
            self._stale = True

    async def read(self, query: Callable[[Engine], T]) -> T:
        """Run ``query`` on the engine, caught up with the state, never during a sweep."""
        async with self._lock:
            return query(self._caught_up())

    def _caught_up(self) -> Engine:
        if self._stale:
            self._engine = Engine(self._state, self._options)
            self._stale = False
            self.rebuilds += 1
        for event in self._pending:
            self._engine.absorb(event)
        self.absorbed += len(self._pending)
        self._pending.clear()
        return self._engine

    async def worst_case(self, kind: SweepKind) -> tuple[int, SweepResult]:
        """Each directed link's worst case over the failure set ``kind``, and the lsn of
        the state it was computed for."""
        async with self._lock:
            engine = self._caught_up()
            lsn = engine.state.lsn
            cached = self._sweeps.get(kind)
            if cached is None or cached[0] != lsn:
                result = await asyncio.to_thread(engine.sweep, kind)
                cached = self._sweeps[kind] = (lsn, result)
            return cached
