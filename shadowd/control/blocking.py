"""``call_sync``: one request on a blocking Unix socket, for command-line tools.

The same protocol, errors and deadline as the asyncio ``ControlClient``, without an event
loop: ``shadowctl status`` in an operator's loop should cost a connect, a write and a
read, not asyncio's import and a loop's set-up and tear-down.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Final

from shadowd.control.endpoint import (
    DEFAULT_TIMEOUT_S,
    default_socket,
    expect,
    read_reply,
    request_frame,
    too_slow,
    why_unavailable,
)
from shadowd.control.errors import (
    DaemonUnavailable,
    FrameError,
    FrameTooLarge,
    ProtocolError,
    TruncatedFrame,
)
from shadowd.control.protocol import HEADER, MAX_REPLY_BYTES, R, Request, frame_length

BACKLOG_RETRY_S: Final = 0.01


def call_sync(
    request: Request[R],
    path: str | os.PathLike[str] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> R:
    """Send ``request`` to the daemon at ``path`` (default: $SHADOWD_SOCKET) and return
    its reply: ``RemoteError`` on an error reply, ``DaemonUnavailable`` when it cannot be
    reached or does not answer within ``timeout_s``, ``ProtocolError`` on an unreadable
    answer."""
    where = os.fspath(path) if path is not None else default_socket()
    data = request_frame(request)
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        _connect(sock, where, deadline, timeout_s)
        try:
            _arm(sock, deadline)
            sock.sendall(data)
            body = _read_frame(sock, deadline)
        except TimeoutError:
            raise DaemonUnavailable(where, too_slow(where, "answer", timeout_s)) from None
        except FrameError as err:
            raise ProtocolError(f"unreadable reply from shadowd: {err}") from None
        except OSError as err:
            raise DaemonUnavailable(where, f"lost shadowd at {where}: {err}") from None
    if body is None:
        raise DaemonUnavailable(where, f"shadowd at {where} hung up without answering")
    return expect(request, read_reply(body, request))


def _connect(sock: socket.socket, where: str, deadline: float, timeout_s: float) -> None:
    """Connect; a full listen queue (EAGAIN: the daemon is catching up on connections)
    is waited out until the deadline, as a blocking connect would."""
    while True:
        try:
            _arm(sock, deadline)
            sock.connect(where)
            return
        except BlockingIOError:
            time.sleep(BACKLOG_RETRY_S)
        except TimeoutError:  # before OSError, of which it is a subclass
            raise DaemonUnavailable(where, too_slow(where, "accept", timeout_s)) from None
        except OSError as err:
            raise DaemonUnavailable(where, why_unavailable(where, err)) from None


def _arm(sock: socket.socket, deadline: float) -> None:
    """Whatever is left of the call's deadline, for the socket's next operation."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)


def _read_frame(sock: socket.socket, deadline: float) -> bytes | None:
    """One whole frame body, or ``None`` if the daemon closed before sending any."""
    header = _read_exactly(sock, HEADER.size, deadline)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise TruncatedFrame("frame header", HEADER.size, len(header))
    length = frame_length(header)
    if length > MAX_REPLY_BYTES:
        raise FrameTooLarge(length, MAX_REPLY_BYTES)
    body = _read_exactly(sock, length, deadline)
    if len(body) < length:
        raise TruncatedFrame("frame body", length, len(body))
    return body


def _read_exactly(sock: socket.socket, size: int, deadline: float) -> bytes:
    """``size`` bytes, or fewer if the peer closes first."""
    chunks, got = [], 0
    while got < size:
        _arm(sock, deadline)
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
