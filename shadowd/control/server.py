"""The control server: a Unix socket that answers ``shadowctl``.

Who may talk to it is checked twice: by the file mode and group of the socket, and by
the peer's credentials from the kernel (SO_PEERCRED, SO_PEERGROUPS). A peer is allowed
when its uid is the daemon's own, root's (root can read the daemon's memory anyway; it
gains nothing new), or in ``allowed_uids``; or when its primary or a supplementary gid is
in ``allowed_gids`` or is the socket's ``group``. Anyone else gets ``forbidden``.

Each connection is read one frame at a time, under limits:
- a header announcing more than ``max_request_bytes`` gets ``too_large`` at once, without
  reading the body;
- undecodable bodies get ``bad_request`` naming what was wrong;
- a frame that has started must finish within ``request_timeout_s`` (``timeout``);
  a connection idle for ``idle_timeout_s`` between requests is closed;
- after any of these errors the connection is closed; after a reply from the service
  (error or not) it stays open for the next request.

And under limits across connections, so no number of peers can take the daemon's file
descriptors or memory:
- at most ``max_connections`` are open; a new one beyond that closes the connection idle
  the longest (between requests), or, when every one is mid-request, is refused with
  ``busy``;
- replies written but not yet read by their peers hold at most ``max_unread_bytes`` in
  all; a reply that would go over is replaced by ``busy``.

Run it inside the daemon's root TaskGroup::

    server = ControlServer(path, handlers, allowed_gids={gid})
    tg.create_task(server.serve(), name="control")
    await server.wait_bound()  # then tell systemd READY=1

or, in tests and tools, ``async with running(server): ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Final

import structlog

from shadowd.control.errors import FrameError, FrameTimeout, reply_code
from shadowd.control.frame_reader import read_body, read_header
from shadowd.control.protocol import (
    BAD_REQUEST,
    BUSY,
    FORBIDDEN,
    INTERNAL,
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    TOO_LARGE,
    AnyRequest,
    decode_request,
    encode,
    frame,
)
from shadowd.control.replies import ErrorReply, Reply
from shadowd.control.service import ControlService, Peer, expected_reply
from shadowd.control.socketfile import (
    bind_socket,
    file_identity,
    group_id,
    peer_of,
    remove_if_ours,
)
from shadowd.logs import Throttle

log = structlog.get_logger()

ROOT_UID: Final = 0
LINGER_S: Final = 1.0  # how long a refused peer gets to read its error reply


class ControlServer:
    def __init__(
        self,
        path: str | os.PathLike[str],
        service: ControlService,
        *,
        mode: int = 0o660,
        group: str | int | None = None,  # "" or None: leave the socket's group alone
        allowed_uids: Iterable[int] = (),
        allowed_gids: Iterable[int] = (),
        max_request_bytes: int = MAX_REQUEST_BYTES,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        request_timeout_s: float = 10.0,
        idle_timeout_s: float = 300.0,
        backlog: int = 1024,
        max_connections: int = 256,
        max_unread_bytes: int = 256 * 1024 * 1024,
    ):
        self.path = Path(path)
        self._service = service
        self._mode = mode
        self._gid = None if group in (None, "") else group_id(group)
        self._uids = frozenset({os.getuid(), ROOT_UID, *allowed_uids})
        self._gids = frozenset({*allowed_gids, *(() if self._gid is None else (self._gid,))})
        self._max_request = max_request_bytes
        self._max_reply = max_reply_bytes
        self._request_timeout = request_timeout_s
        self._idle_timeout = idle_timeout_s
        self._backlog = backlog
        self._max_connections = max_connections
        self._max_unread = max_unread_bytes
        self._unread = 0  # bytes of replies written and not yet drained, over all peers
        self._noise = Throttle()  # bad frames and requests: 10 lines a minute, then a count
        self._crowd = Throttle()  # the same for connections refused, evicted or forbidden
        # Open connections, oldest first: each one's writer, and whether it waits idle.
        self._open: dict[asyncio.StreamWriter, bool] = {}
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of our socket file
        self._tasks: asyncio.TaskGroup | None = None
        self._bound = asyncio.Event()
        self._settled = asyncio.Event()
        self._bind_error: BaseException | None = None

    # --- lifecycle ----------------------------------------------------------------------

    async def serve(self) -> None:
        """Bind, then answer until cancelled; then remove the socket file. Call it once.

        Raises ``SocketInUse`` if another daemon answers on ``path``. Each connection is a
        task of this coroutine's own TaskGroup, so cancelling ``serve`` ends them all.
        """
        try:
            listener = await self._listen()
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                try:
                    await listener.start_serving()
                    self._announce_bound()
                    await asyncio.get_running_loop().create_future()  # until cancelled
                finally:
                    self._tasks = None
                    listener.close()
        finally:
            self._bound.clear()
            if self._identity is not None:
                remove_if_ours(self.path, self._identity)
                log.info("control.closed", path=str(self.path))

    async def wait_bound(self) -> None:
        """Return once the socket is listening (tell systemd READY=1 after this).

        Raises what ``serve`` raised if binding failed.
        """
        await self._settled.wait()
        if self._bind_error is not None:
            raise self._bind_error

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    @property
    def busy_connections(self) -> int:
        """Connections mid-request (read a header, not yet answered)."""
        return sum(not idle for idle in self._open.values())

    async def _listen(self) -> asyncio.Server:
        try:
            sock = bind_socket(self.path, mode=self._mode, gid=self._gid)
            self._identity = file_identity(self.path)
            return await asyncio.start_unix_server(
                self._on_connect, sock=sock, backlog=self._backlog, start_serving=False
            )
        except BaseException as err:
            self._bind_error = err
            self._settled.set()
            raise

    def _announce_bound(self) -> None:
        self._bound.set()
        self._settled.set()
        log.info("control.listening", path=str(self.path), mode=oct(self._mode))

    # --- one connection -----------------------------------------------------------------

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Hand the new connection to a task of our own TaskGroup."""
        try:
            peer = peer_of(writer.get_extra_info("socket"))
        except OSError as err:  # gone before we could ask who it was
            log.debug("control.connection_lost", error=repr(err))
            writer.close()
            return
        if self._tasks is None:  # shutting down
            writer.close()
            return
        if not self._make_room():
            if (held := self._crowd.allow()) is not None:
                log.warning("control.busy", open=len(self._open), pid=peer.pid,
                            held_back=held)
            writer.write(frame(encode(ErrorReply(code=BUSY, message=(
                f"shadowd has {len(self._open)} control connections busy; try again")))))
            writer.close()
            return
        self._open[writer] = True  # idle until its first header arrives
        self._tasks.create_task(
            self._connection(reader, writer, peer), name=f"control-peer-{peer.pid}"
        )

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        """One peer's whole conversation. Never raises: a failure costs only this peer."""
        try:
            await self._converse(reader, writer, peer)
        except (ConnectionError, TimeoutError) as err:
            log.debug("control.connection_lost", error=repr(err), pid=peer.pid)
        except Exception:
            log.exception("control.connection_failed", pid=peer.pid)
        finally:
            self._open.pop(writer, None)
            writer.close()

    def _make_room(self) -> bool:
        """Room for one more connection: there is, or the longest idle one is closed."""
        if len(self._open) < self._max_connections:
            return True
        idle = next((w for w, waiting in self._open.items() if waiting), None)
        if idle is None:
            return False
        del self._open[idle]
        if (held := self._crowd.allow()) is not None:
            log.info("control.idle_closed", open=self._max_connections, held_back=held)
        idle.transport.abort()
        return True

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        if not self._allowed(peer):
            if (held := self._crowd.allow()) is not None:
                log.warning("control.forbidden", uid=peer.uid, gid=peer.gid, pid=peer.pid,
                            held_back=held)
            reply = ErrorReply(code=FORBIDDEN, message=self._refusal(peer))
            await self._send_last(reader, writer, reply)
            return
        while True:
            try:
                body = await self._next_frame(reader, writer)
            except FrameError as err:
                code = reply_code(type(err)) or BAD_REQUEST  # the table names every FrameError
                if (held := self._noise.allow()) is not None:
                    log.warning("control.bad_frame", code=code, error=str(err),
                                pid=peer.pid, held_back=held)
                await self._send_last(reader, writer, ErrorReply(code=code, message=str(err)))
                return
            if body is None:
                return
            if not await self._answer(reader, writer, body, peer):
                return

    def _allowed(self, peer: Peer) -> bool:
        if peer.uid in self._uids:
            return True
        return not self._gids.isdisjoint({peer.gid, *peer.groups})

    def _refusal(self, peer: Peer) -> str:
        return (
            f"uid {peer.uid} (gid {peer.gid}) may not use shadowd's control socket; "
            "ask for your uid or group to be added to the daemon's allowed users/groups"
        )

    async def _next_frame(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> bytes | None:
        """The next request body, ``None`` at end of stream; ``TimeoutError`` when idle.
        While it waits for a header the connection counts as idle (it may be closed to
        make room)."""
        self._mark(writer, idle=True)
        async with asyncio.timeout(self._idle_timeout):
            length = await read_header(reader, self._max_request)
        self._mark(writer, idle=False)
        if length is None:
            return None
        try:
            async with asyncio.timeout(self._request_timeout):
                return await read_body(reader, length)
        except TimeoutError:
            raise FrameTimeout(
                f"request of {length} bytes not received within {self._request_timeout:g}s"
            ) from None

    def _mark(self, writer: asyncio.StreamWriter, *, idle: bool) -> None:
        if writer in self._open:
            self._open[writer] = idle

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes, peer: Peer
    ) -> bool:
        """Decode, dispatch and reply; ``False`` when the connection is over."""
        try:
            request = decode_request(body)
        except ValueError as err:
            if (held := self._noise.allow()) is not None:
                log.warning("control.bad_request", error=str(err), uid=peer.uid, pid=peer.pid,
                            held_back=held)
            await self._send_last(reader, writer, ErrorReply(code=BAD_REQUEST, message=str(err)))
            return False
        started = time.perf_counter()
        reply = await self._dispatch(request, peer)
        await self._send(writer, reply)
        error = reply.code if isinstance(reply, ErrorReply) else None
        (log.info if error else log.debug)(  # status polling must not flood the log
            "control.request", request=request.tag(), uid=peer.uid, pid=peer.pid, error=error,
            ms=round((time.perf_counter() - started) * 1000, 3),
        )
        return True

    async def _dispatch(self, request: AnyRequest, peer: Peer) -> Reply:
        tag = request.tag()
        try:
            reply = await self._service.handle(request, peer)
        except Exception:
            log.exception("control.handler_failed", request=tag, uid=peer.uid, pid=peer.pid)
            return ErrorReply(code=INTERNAL, message=f"shadowd failed on {tag!r}; see its log")
        if not expected_reply(request, reply):
            log.error("control.wrong_reply", request=tag, reply=type(reply).__name__)
            return ErrorReply(code=INTERNAL, message=f"shadowd mis-answered {tag!r}; see its log")
        return reply

    async def _send(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        body = encode(reply)
        if len(body) > self._max_reply:
            body = encode(ErrorReply(code=TOO_LARGE, message=(
                f"reply of {len(body)} bytes exceeds the {self._max_reply}-byte limit; ask for less"
            )))
        elif self._unread + len(body) > self._max_unread:
            body = encode(ErrorReply(code=BUSY, message=(
                f"shadowd holds {self._unread} bytes of replies its peers have not read; "
                "try again")))
        self._unread += len(body)
        try:
            writer.write(frame(body))
            async with asyncio.timeout(self._request_timeout):
                await writer.drain()
        except TimeoutError:
            writer.transport.abort()  # a peer that does not read gives its buffer back
            raise
        finally:
            self._unread -= len(body)

    async def _send_last(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> None:
        """Send a final reply, and give the peer time to read it before we close.

        Closing a Unix socket with unread bytes still queued makes the peer's next read
        fail with ECONNRESET, which can lose our reply in its buffers. So: half-close,
        then discard what the peer still sends (bounded in bytes and time) until it
        closes its end.
        """
        await self._send(writer, reply)
        if writer.can_write_eof():
            writer.write_eof()
        budget = self._max_request
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(LINGER_S):
                while budget > 0 and (chunk := await reader.read(min(budget, 1 << 16))):
                    budget -= len(chunk)


@contextlib.asynccontextmanager
async def running(server: ControlServer) -> AsyncIterator[ControlServer]:
    """Serve while in the block (bound on entry); for tests and tools, not the daemon.

    The serving task is scoped to the block: cancelled and awaited on the way out.
    """
    task = asyncio.create_task(server.serve(), name="control")
    try:
        await server.wait_bound()
        yield server
    finally:
        task.cancel()
        await asyncio.wait([task])
