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
from typing import Any, Final

import msgspec

from shadowd.control.errors import (
    DaemonUnavailable,
    FrameError,
    ProtocolError,
    RemoteError,
)
from shadowd.control.protocol import (
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    AnyReply,
    ErrorReply,
    R,
    Request,
    decode_reply,
    encode,
    frame,
)
from shadowd.control.wire import read_frame

DEFAULT_SOCKET: Final = "/run/shadowd/shadowd.sock"
SOCKET_ENV: Final = "SHADOWD_SOCKET"
DEFAULT_TIMEOUT_S: Final = 30.0


def default_socket() -> str:
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


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
            raise DaemonUnavailable(self.path, _why_unavailable(self.path, err)) from None

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
        reply = await self.exchange(request)
        if isinstance(reply, ErrorReply):
            raise RemoteError(reply.code, reply.message)
        if not isinstance(reply, request.reply_type):
            raise ProtocolError(
                f"shadowd answered {request.tag()!r} with {type(reply).__name__}"
            )
        return reply  # type: ignore[return-value]  # checked just above

    async def exchange(self, request: Request[Any]) -> AnyReply:
        """Send ``request`` and return whatever reply comes back, ``ErrorReply`` included."""
        body = encode(request)
        if len(body) > MAX_REQUEST_BYTES:
            raise ProtocolError(f"request of {len(body)} bytes is over the protocol's limit")
        try:
            async with asyncio.timeout(self._timeout):
                return await self._roundtrip(frame(body))
        except TimeoutError:
            raise DaemonUnavailable(self.path, self._too_slow("answer")) from None
        except OSError as err:
            raise DaemonUnavailable(self.path, f"lost shadowd at {self.path}: {err}") from None

    async def _roundtrip(self, data: bytes) -> AnyReply:
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
        try:
            return decode_reply(body)
        except msgspec.MsgspecError as err:
            raise ProtocolError(f"unreadable reply from shadowd: {err}") from None

    def _too_slow(self, what: str) -> str:
        return f"shadowd at {self.path} did not {what} within {self._timeout:g}s"


def _why_unavailable(path: str, err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return (
            f"no shadowd at {path}: is it running? "
            "start it with `shadowd run` or pass --socket"
        )
    if isinstance(err, ConnectionRefusedError):
        return f"shadowd at {path} refused the connection: is it running? (stale socket file)"
    if isinstance(err, PermissionError):
        return f"permission denied on {path}: run as a user or group shadowd allows"
    return f"cannot reach shadowd at {path}: {err}"


async def call_once(
    request: Request[R],
    path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> R:
    """One request on a fresh connection to the daemon at ``path`` (default: $SHADOWD_SOCKET)."""
    async with ControlClient(path, timeout_s=timeout_s) as client:
        return await client.call(request)


def call_sync(
    request: Request[R],
    path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> R:
    """``call_once`` from synchronous code (not inside a running loop)."""
    return asyncio.run(call_once(request, path, timeout_s=timeout_s))
