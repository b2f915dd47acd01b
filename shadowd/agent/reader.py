"""Readers of production: each ``poll(now)`` returns the network as the agent sees it now.

``TraceReader`` is the simulated production: a telemetry trace's batches advanced one
per poll; the topology comes with the first poll. Where the batches come from (a trace
generated from a bundled topology, or a trace file) is ``shadowd.cli.agent.trace_reader``'s
business: generating and reading traces is ingest's, which the agent does not import.
"""

from __future__ import annotations

from collections.abc import Iterator
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

