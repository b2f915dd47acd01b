"""What every control client shares: where the daemon is, how long to wait for it, why
it cannot be reached, and what makes an answer the one a request asked for."""

from __future__ import annotations

import os
from typing import Any, Final

import msgspec

from shadowd.control.errors import ProtocolError, RemoteError
from shadowd.control.protocol import (
    MAX_REQUEST_BYTES,
    AnyReply,
    R,
    Request,
    decode_reply,
    encode,
    frame,
)
from shadowd.control.replies import ErrorReply

DEFAULT_SOCKET: Final = "/run/shadowd/shadowd.sock"
SOCKET_ENV: Final = "SHADOWD_SOCKET"
DEFAULT_TIMEOUT_S: Final = 30.0


def default_socket() -> str:
    return os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET


def why_unavailable(path: str, err: OSError) -> str:
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


def too_slow(path: str, what: str, timeout_s: float) -> str:
    return f"shadowd at {path} did not {what} within {timeout_s:g}s"


def read_reply(body: bytes, request: Request[Any]) -> AnyReply:
    """The reply in ``body``, decoded as the one ``request`` asked for where it is."""
    try:
        return decode_reply(body, request.reply_type)
    except msgspec.MsgspecError as err:
        raise ProtocolError(f"unreadable reply from shadowd: {err}") from None


def expect(request: Request[R], reply: AnyReply) -> R:
    """``reply`` as the reply ``request`` names; ``RemoteError`` for an error reply."""
    if isinstance(reply, ErrorReply):
        raise RemoteError(reply.code, reply.message)
    if not isinstance(reply, request.reply_type):
        raise ProtocolError(f"shadowd answered {request.tag()!r} with {type(reply).__name__}")
    return reply  # type: ignore[return-value]  # checked just above


def request_frame(request: Request[Any]) -> bytes:
    """``request`` encoded and framed; ``ProtocolError`` if it is over the protocol's limit."""
    body = encode(request)
    if len(body) > MAX_REQUEST_BYTES:
        raise ProtocolError(f"request of {len(body)} bytes is over the protocol's limit")
    return frame(body)
