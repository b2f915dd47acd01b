"""The control client: ``async with ControlClient(path) as c: reply = await c.call(req)``.

``call`` returns the reply the request names (``StatusRequest`` gives a ``StatusReply``)
and raises ``RemoteError`` when the daemon answers with an ``ErrorReply``;
``DaemonUnavailable`` when there is no daemon to talk to; ``ProtocolError`` when it
answers something this client cannot read. ``call_sync`` is the one-shot form for CLIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from types import TracebackType
from typing import Any

from shadowd.control.blocking import call_sync
from shadowd.control.endpoint import (
    DEFAULT_SOCKET,
    DEFAULT_TIMEOUT_S,
    SOCKET_ENV,
    default_socket,
    expect,
    read_reply,
    request_frame,
    too_slow,
    why_unavailable,
)
from shadowd.control.errors import DaemonUnavailable, FrameError, ProtocolError
from shadowd.control.frame_reader import read_frame
from shadowd.control.protocol import MAX_REPLY_BYTES, AnyReply, R, Request

__all__ = [
    "DEFAULT_SOCKET", "DEFAULT_TIMEOUT_S", "SOCKET_ENV", "ControlClient", "call_once",
    "call_sync", "default_socket",
]


class ControlClient:
    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ):
        self.path = str(Path(path) if path is not None else default_socket())
        self._timeout = timeout_s
        self._max_reply = max_reply_bytes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                self._reader, self._writer = await asyncio.open_unix_connection(
                    self.path, limit=1 << 20
                )
        except TimeoutError:  # before OSError, of which it is a subclass
            raise DaemonUnavailable(self.path, self._too_slow("accept")) from None
        except OSError as err:
            raise DaemonUnavailable(self.path, why_unavailable(self.path, err)) from None

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def __aenter__(self) -> ControlClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def call(self, request: Request[R]) -> R:
        """Send ``request`` and return its reply; ``RemoteError`` on an error reply."""
        return expect(request, await self.exchange(request))

    async def exchange(self, request: Request[Any]) -> AnyReply:
        """Send ``request`` and return whatever reply comes back, ``ErrorReply`` included."""
        data = request_frame(request)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._roundtrip(data, request)
        except TimeoutError:
            raise DaemonUnavailable(self.path, self._too_slow("answer")) from None
        except OSError as err:
            raise DaemonUnavailable(self.path, f"lost shadowd at {self.path}: {err}") from None

    async def _roundtrip(self, data: bytes, request: Request[Any]) -> AnyReply:
        if self._reader is None or self._writer is None:
            raise RuntimeError("ControlClient used before connect()")
        self._writer.write(data)
        await self._writer.drain()
        try:
            body = await read_frame(self._reader, self._max_reply)
        except FrameError as err:
            raise ProtocolError(f"unreadable reply from shadowd: {err}") from None
        if body is None:
            raise DaemonUnavailable(self.path, f"shadowd at {self.path} hung up without answering")
        return read_reply(body, request)

    def _too_slow(self, what: str) -> str:
        return too_slow(self.path, what, self._timeout)


async def call_once(
    request: Request[R],
    path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> R:
    """One request on a fresh connection to the daemon at ``path`` (default: $SHADOWD_SOCKET)."""
    async with ControlClient(path, timeout_s=timeout_s) as client:
        return await client.call(request)
