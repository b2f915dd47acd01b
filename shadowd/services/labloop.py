"""The lab's own loop, for the mirror: the daemon's ``Lab`` runs on a plain asyncio loop
in a thread of its own (``LabLoop``, and ``OnLoop``, a ``LabLike`` whose calls run there):
pyroute2's netlink sockets are datagram endpoints of family AF_NETLINK, which uvloop (the
daemon's loop) cannot open. The daemon's side awaits each lab call; cancelling that await
cancels the call on the lab's loop and waits until its own clean-up has run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from shadowd.core.state import State
from shadowd.lab.fidelity import FidelityReport, Table
from shadowd.lab.lab import Convergence, LabStatus
from shadowd.lab.plan import LabSettings

T = TypeVar("T")


class LabLike(Protocol):
    """What the mirror uses of ``Lab`` (so unit tests can hand it a fake)."""

    settings: LabSettings

    async def up(self, state: State) -> dict[str, list[str]]: ...

    async def apply(self, state: State) -> list[str]: ...

    async def fidelity(self, model: Mapping[str, Table], lsn: int = 0) -> FidelityReport: ...

    async def converge(self, model: Mapping[str, Table], *, timeout_s: float = 60.0,
                       since: float | None = None, lsn: int = 0) -> Convergence: ...

    def status(self) -> LabStatus: ...

    async def down(self) -> dict[str, list[str]]: ...


class LabLoop:
    """A standard asyncio loop in a daemon thread, started on first use, for the lab."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="lab-loop",
                                            daemon=True)
            self._thread.start()
        return self._loop

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """``coro``'s result, computed on the lab's loop. If the caller is cancelled, the
        call is cancelled there and waited for (its clean-up included), then the
        cancellation goes on."""
        loop = self._started()
        result: concurrent.futures.Future[T] = concurrent.futures.Future()
        tasks: list[asyncio.Task[T]] = []

        def submit() -> None:
            task = loop.create_task(coro)
            task.add_done_callback(lambda t: _settle(t, result))
            tasks.append(task)

        def cancel() -> None:  # runs after ``submit``: the loop keeps their order
            tasks[0].cancel()

        loop.call_soon_threadsafe(submit)
        waiting = asyncio.wrap_future(result)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            loop.call_soon_threadsafe(cancel)
            while not waiting.done():
                try:
                    await asyncio.shield(waiting)
                except asyncio.CancelledError:  # asked again: the clean-up still comes first
                    continue
            raise

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        self._loop = self._thread = None


def _settle(task: asyncio.Task[T], result: concurrent.futures.Future[T]) -> None:
    if task.cancelled():
        result.cancel()
    elif (error := task.exception()) is not None:
        result.set_exception(error)
    else:
        result.set_result(task.result())


class OnLoop:
    """A ``LabLike`` whose calls run on a ``LabLoop``."""

    def __init__(self, lab: LabLike, loop: LabLoop) -> None:
        self._lab, self._loop = lab, loop
        self.settings = lab.settings

    async def up(self, state: State) -> dict[str, list[str]]:
        return await self._loop.run(self._lab.up(state))

    async def apply(self, state: State) -> list[str]:
        return await self._loop.run(self._lab.apply(state))

    async def fidelity(self, model: Mapping[str, Table], lsn: int = 0) -> FidelityReport:
        return await self._loop.run(self._lab.fidelity(model, lsn))

    async def converge(self, model: Mapping[str, Table], *, timeout_s: float = 60.0,
                       since: float | None = None, lsn: int = 0) -> Convergence:
        return await self._loop.run(self._lab.converge(model, timeout_s=timeout_s,
                                                       since=since, lsn=lsn))

    def status(self) -> LabStatus:
        return self._lab.status()

    async def down(self) -> dict[str, list[str]]:
        return await self._loop.run(self._lab.down())
