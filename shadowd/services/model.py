"""The model tier of the shadow: the routing engine kept in step with the state, and the
one way every part of the daemon reads routes, loads and worst cases.

Every event the log accepts is noted here; the engine absorbs them when somebody reads,
up to the log position asked for: the latest (``read``, ``worst_case``,
``worst_cases``), or a job's own (``views`` at the position of the fork a predictor job
took, which may lag the log in a replay at full speed). When more events are waiting
than an incremental catch-up is worth, the engine is rebuilt from the state instead,
which is exact by construction.

Sweeps are cached per failure set and the lsn of the last event that moved routes or
loads (``Engine.changed_lsn``): every reader between two such events shares them, and
counters or shadowd's own records, which route nothing, keep them.
A sweep runs in a worker thread so the daemon keeps serving (seconds on a 1,000-router
network); catch-up stays on the event loop because it reads the live state, and a lock
keeps the engine still while a sweep reads it. Results that hold the engine's network
(``WorstCases``) are good until the caller next awaits.

A job whose position the engine has already passed (somebody read the latest in the
meantime) is answered from a private engine on its fork, as exact, just not shared:
``private`` counts those.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from shadowd.core.events import AnyEvent, Direction
from shadowd.core.state import State
from shadowd.engine.incremental import Engine
from shadowd.engine.schemes import MetricOptions
from shadowd.engine.sweep import SweepKind, SweepResult
from shadowd.predict.extreme import (
    SWEPT,
    LinkView,
    WorstCases,
    link_views,
    views_from_scratch,
    worst_cases,
)

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
        self._pending: deque[AnyEvent] = deque()  # the log after the engine's lsn
        self._stale = False  # too much pending: rebuild rather than absorb
        self._sweeps: dict[SweepKind, tuple[int, SweepResult]] = {}  # at changed_lsn
        self._lock = asyncio.Lock()
        self.rebuilds = 0
        self.absorbed = 0
        self.private = 0  # reads at a position the engine had passed

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
            return query(self._latest())

    async def worst_case(self, kind: SweepKind) -> tuple[int, SweepResult]:
        """Each directed link's worst case over the failure set ``kind``, and the lsn of
        the state it was computed for."""
        async with self._lock:
            engine = self._latest()
            return engine.state.lsn, await self._sweep(engine, kind)

    async def worst_cases(self) -> WorstCases:
        """The worst over single links, routers and SRLGs of the model as it is now."""
        async with self._lock:
            engine = self._latest()
            return await self._worst(engine)

    async def views(self, state: State,
                    keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
        """Each (link, direction) of ``keys`` as the model sees it at ``state``'s position
        (a fork the caller took): load, worst case, SRLGs, heaviest destination."""
        async with self._lock:
            engine = self._at(state.lsn)
            if engine is not None:
                return link_views(engine, await self._worst(engine), keys)
        self.private += 1
        return await asyncio.to_thread(views_from_scratch, state, keys)

    async def _worst(self, engine: Engine) -> WorstCases:
        return worst_cases(engine.routing.load, await self._swept(engine, SWEPT))

    async def _sweep(self, engine: Engine, kind: SweepKind) -> SweepResult:
        return (await self._swept(engine, (kind,)))[0]

    async def _swept(self, engine: Engine, kinds: Sequence[SweepKind]) -> list[SweepResult]:
        """The sweeps of ``kinds``, those not cached at the engine's routing swept in one
        trip to a worker thread."""
        changed = engine.changed_lsn
        missing = [k for k in kinds if self._sweeps.get(k, (-1,))[0] != changed]
        if missing:
            done = await asyncio.to_thread(lambda: [engine.sweep(k) for k in missing])
            self._sweeps.update((k, (changed, r)) for k, r in zip(missing, done, strict=True))
        return [self._sweeps[k][1] for k in kinds]

    def _latest(self) -> Engine:
        engine = self._at(self._state.lsn)
        if engine is None:  # the log and the engine disagree: start again from the state
            self._stale = True
            engine = self._at(self._state.lsn)
            assert engine is not None, "a rebuilt engine is at the state's lsn"
        return engine

    def _at(self, lsn: int) -> Engine | None:
        """The engine at log position ``lsn``, or None if it cannot be brought there."""
        if self._stale:
            if lsn != self._state.lsn:
                return None
            self._engine = Engine(self._state, self._options)
            self._pending.clear()
            self._stale = False
            self.rebuilds += 1
        behind = lsn - self._engine.state.lsn
        if not 0 <= behind <= len(self._pending):
            return None
        self._engine.absorb_all(self._pending.popleft() for _ in range(behind))
        self.absorbed += behind
        return self._engine

