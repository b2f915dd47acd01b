"""Readers of production: each ``poll(now)`` returns the network as the agent sees it now.

``TraceReader`` is the simulated production: a telemetry trace (``builtin:geant`` or a
trace file) advanced one interval per poll; the topology comes with the first poll.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from shadowd.core.events import AnyEvent
from shadowd.core.state import State, fold


class Reader(Protocol):
    @property
    def done(self) -> bool:
        """True once production has nothing more to say (the end of a trace)."""

    async def poll(self, now: float) -> State: ...

    async def close(self) -> None: ...


class TraceReader:
    """Production as a trace: each poll folds the trace's next batch into the view."""

    def __init__(self, batches: Iterator[list[AnyEvent]]) -> None:
        self._batches = batches
        self.state = State()
        self.polls = 0
        self.done = False

    async def poll(self, now: float) -> State:
        del now  # the trace carries its own time
        batch = next(self._batches, None)
        if batch is None:
            self.done = True
        else:
            fold(batch, self.state)
            self.polls += 1
        return self.state

    async def close(self) -> None:
        self.done = True


def trace_reader(trace: str = "builtin:geant", *, days: int = 7, seed: int = 1) -> TraceReader:
    """``builtin:<topohub key>`` (``builtin:geant``) or the path of a trace file."""
    from shadowd.ingest.builtin import ALIASES, BUILTIN, builtin_batches  # noqa: PLC0415
    from shadowd.ingest.tracefile import read_trace  # noqa: PLC0415
    from shadowd.traffic.trace import TraceSpec  # noqa: PLC0415

    if trace.startswith(BUILTIN):
        key = trace.removeprefix(BUILTIN)
        spec = TraceSpec(topology=ALIASES.get(key, key), days=days, seed=seed, source="trace")
        return TraceReader(iter(builtin_batches(spec)))
    return TraceReader(iter(read_trace(Path(trace))))
