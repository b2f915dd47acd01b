"""GET /metrics over a tiny HTTP/1.1 server: one request per connection, then close.

The protocol part is pure: ``route(head)`` reads a request head and says what to answer,
``response(...)`` writes the bytes. ``MetricsServer`` is the shell: it binds (loopback by
default; ``[metrics]`` says), reads at most ``max_request_bytes`` within
``read_timeout_s``, and asks its ``scrape`` callable for the text. Anything but GET or
HEAD of /metrics is an error status; nothing else is ever served.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from shadowd import logs
from shadowd.core.errors import ShadowdError
from shadowd.prometheus.exposition import CONTENT_TYPE

log = logs.get_logger()

PATH: Final = "/metrics"
# Beyond this many, a new connection closes the oldest one still sending its request head
# (so a peer holding connections open cannot starve the scraper), or, if every one is
# being answered, is closed unanswered.
MAX_CONNECTIONS: Final = 64
_REQUEST_LINE: Final = re.compile(r"([A-Z]{1,16}) (/\S{0,2048}) HTTP/1\.[01]")
REASONS: Final = {200: "OK", 400: "Bad Request", 404: "Not Found",
                  405: "Method Not Allowed", 408: "Request Timeout",
                  431: "Request Header Fields Too Large", 500: "Internal Server Error"}


class MetricsBindError(ShadowdError):
    """The metrics endpoint could not listen where ``[metrics] listen`` says."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"cannot serve metrics on {host}:{port}: {reason} "
                         "(change or empty `[metrics] listen`)")
        self.host, self.port, self.reason = host, port, reason


# --- the protocol (pure) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scrape:
    """Answer with the metrics; ``head_only`` for HEAD."""

    head_only: bool = False


@dataclass(frozen=True, slots=True)
class Refuse:
    status: int
    message: str


def route(head: bytes) -> Scrape | Refuse:
    """What to answer to a request whose head (up to the blank line) is ``head``."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return Refuse(400, "the request is not ASCII")
    line, *headers = text.split("\r\n")
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        return Refuse(400, "expected a request line: GET /metrics HTTP/1.1")
    if any(h and ":" not in h for h in headers):
        return Refuse(400, "a header line has no colon")
    method, target = match.groups()
    if target.split("?", 1)[0] != PATH:
        return Refuse(404, f"only {PATH} is served here")
    if method not in ("GET", "HEAD"):
        return Refuse(405, f"{PATH} answers GET and HEAD")
    return Scrape(head_only=method == "HEAD")


def response(status: int, body: bytes, *, content_type: str = "text/plain; charset=utf-8",
             head_only: bool = False) -> bytes:
    headers = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}",
               f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
               "Connection: close"]
    if status == 405:
        headers.append("Allow: GET, HEAD")
    head = ("\r\n".join(headers) + "\r\n\r\n").encode("ascii")
    return head if head_only else head + body


def refusal(refuse: Refuse) -> bytes:
    return response(refuse.status, (refuse.message + "\n").encode())


# --- the shell -------------------------------------------------------------------------


class MetricsServer:
    """Serve ``scrape()`` at http://HOST:PORT/metrics until cancelled (``serve``)."""

    def __init__(self, host: str, port: int, scrape: Callable[[], Awaitable[str]], *,
                 read_timeout_s: float = 5.0, max_request_bytes: int = 8192) -> None:
        self.host, self.port = host, port
        self._scrape = scrape
        self._timeout = read_timeout_s
        self._max = max_request_bytes
        self._tasks: asyncio.TaskGroup | None = None
        self._settled = asyncio.Event()
        self._bind_error: BaseException | None = None
        self._open = 0  # connections being answered
        self._reading: dict[asyncio.StreamWriter, None] = {}  # still sending, oldest first
        self._evicted: set[asyncio.StreamWriter] = set()  # aborted, their tasks not yet done
        self.scrapes = 0

    async def serve(self) -> None:
        """Bind, then answer until cancelled. Raises ``MetricsBindError`` if it cannot."""
        listener = await self._listen()
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                try:
                    await listener.start_serving()
                    self._settled.set()
                    log.info("metrics.listening", url=f"http://{self._where()}{PATH}")
                    await asyncio.get_running_loop().create_future()  # until cancelled
                finally:
                    self._tasks = None
        finally:
            listener.close()

    async def wait_bound(self) -> None:
        """Return once listening (then READY=1); raise what binding raised."""
        await self._settled.wait()
        if self._bind_error is not None:
            raise self._bind_error

    async def _listen(self) -> asyncio.Server:
        try:
            server = await asyncio.start_server(self._on_connect, self.host, self.port,
                                                limit=self._max, start_serving=False)
        except OSError as err:
            self._bind_error = MetricsBindError(self.host, self.port, err.strerror or str(err))
            self._settled.set()
            raise self._bind_error from None
        self.port = server.sockets[0].getsockname()[1]  # the real one, for port 0
        return server

    def _where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._tasks is None or not self._make_room():
            writer.close()
            return
        self._open += 1
        self._reading[writer] = None
        self._tasks.create_task(self._connection(reader, writer), name="metrics-peer")

    def _make_room(self) -> bool:
        if self._open - len(self._evicted) < MAX_CONNECTIONS:
            return True
        slow = next((w for w in self._reading if w not in self._evicted), None)
        if slow is None:
            return False
        self._evicted.add(slow)
        slow.transport.abort()
        return True

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        """One request, one answer, close. Never raises: a failure costs only this peer."""
        try:
            writer.write(await self._answer(reader, writer))
            async with asyncio.timeout(self._timeout):
                await writer.drain()
        except (ConnectionError, TimeoutError) as err:
            log.debug("metrics.connection_lost", error=repr(err))
        finally:
            self._open -= 1
            self._reading.pop(writer, None)
            self._evicted.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        try:
            async with asyncio.timeout(self._timeout):
                head = await reader.readuntil(b"\r\n\r\n")
            self._reading.pop(writer, None)
        except TimeoutError:
            return refusal(Refuse(408, f"no request within {self._timeout:g}s"))
        except asyncio.LimitOverrunError:
            return refusal(Refuse(431, f"the request head is over {self._max} bytes"))
        except asyncio.IncompleteReadError:
            return refusal(Refuse(400, "the request ended before its blank line"))
        decision = route(head[:-4])
        if isinstance(decision, Refuse):
            return refusal(decision)
        return await self._metrics(decision)

    async def _metrics(self, scrape: Scrape) -> bytes:
        try:
            text = await self._scrape()
        except Exception:  # the endpoint must outlive a bug in one part's figures
            log.exception("metrics.scrape_failed")
            return refusal(Refuse(500, "gathering the metrics failed; see shadowd's log"))
        self.scrapes += 1
        return response(200, text.encode(), content_type=CONTENT_TYPE, head_only=scrape.head_only)
