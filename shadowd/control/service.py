"""What the control server needs from the daemon: something that answers requests.

The daemon implements ``ControlService``, most simply by subclassing ``Handlers`` and
writing one ``on_<tag>`` method per request type::

    class DaemonHandlers(Handlers):
        async def on_status(self, request: StatusRequest, peer: Peer) -> StatusReply: ...
        async def on_log_tail(self, request: LogTailRequest, peer: Peer) -> LogTailReply: ...

A handler that cannot answer raises: ``NotFound``, ``Unavailable``, ``ScenarioError``,
``LabDown``... ``handle`` answers it with the code ``control.errors.REPLY_CODES`` gives
that error and its ``str()`` as the message. Any other exception propagates, and the
server answers ``ErrorReply(code="internal")`` and logs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shadowd.control.errors import reply_code
from shadowd.control.protocol import REQUEST_TYPES, UNSUPPORTED, AnyRequest, Request
from shadowd.control.replies import ErrorReply, Reply
from shadowd.core.errors import ShadowdError


@dataclass(frozen=True, slots=True)
class Peer:
    """Who is on the other end, as the kernel saw it at ``connect()`` (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int
    groups: frozenset[int] = frozenset()  # supplementary groups (SO_PEERGROUPS), if known


class ControlService(Protocol):
    async def handle(self, request: AnyRequest, peer: Peer) -> Reply:
        """Answer ``request`` with its reply type (``request.reply_type``) or an
        ``ErrorReply``."""
        ...


_Handler = Callable[[Any, Peer], Awaitable[Reply]]


class Handlers:
    """A ``ControlService`` that sends each request to the method ``on_<tag>``, and
    answers what it raises from ``REPLY_CODES``."""

    async def handle(self, request: AnyRequest, peer: Peer) -> Reply:
        handler = self._handler_for(request.tag())
        if handler is None:
            return ErrorReply(
                code=UNSUPPORTED, message=f"this shadowd cannot answer {request.tag()!r} yet"
            )
        try:
            return await handler(request, peer)
        except ShadowdError as err:
            code = reply_code(type(err))
            if code is None:
                raise
            return ErrorReply(code=code, message=str(err))

    def missing(self) -> frozenset[str]:
        """Tags of the protocol's requests this service has no handler for."""
        return frozenset(t.tag() for t in REQUEST_TYPES if self._handler_for(t.tag()) is None)

    def _handler_for(self, tag: str) -> _Handler | None:
        handler: _Handler | None = getattr(self, f"on_{tag}", None)
        return handler


def expected_reply(request: Request[Any], reply: Reply) -> bool:
    """Whether ``reply`` is a legitimate answer to ``request``."""
    return isinstance(reply, (request.reply_type, ErrorReply))
