"""Errors of the control socket, on both ends, as attributes rather than strings; and
``REPLY_CODES``, the one table of which ``ErrorReply`` code answers which error.

A handler that cannot answer raises (``NotFound``, ``LabDown``...) and the dispatcher
(``control.service.Handlers.handle``) replies with the error's code from the table and
its ``str()`` as the message; the server does the same for a frame it cannot read. An
error the table does not name is a failure of shadowd's own: ``internal``, and logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from shadowd.control.protocol import (
    BAD_REQUEST,
    INVALID_SCENARIO,
    LAB_DOWN,
    LAB_FAILED,
    NOT_FOUND,
    POLICY_FAILED,
    POLICY_REFUSED,
    TIMEOUT,
    TOO_LARGE,
    UNAVAILABLE,
)
from shadowd.core.errors import NotFound, ShadowdError, Unavailable
from shadowd.scenario.errors import ScenarioError


class ControlError(ShadowdError):
    """Base of the control socket's errors."""


class FrameError(ControlError):
    """A frame that cannot be read."""


class FrameTooLarge(FrameError):
    def __init__(self, size: int, limit: int):
        super().__init__(f"frame of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class TruncatedFrame(FrameError):
    def __init__(self, what: str, expected: int, got: int):
        super().__init__(f"truncated {what}: expected {expected} bytes, got {got}")
        self.expected = expected
        self.got = got


class FrameTimeout(FrameError):
    """A frame that has started did not finish in time."""


class SocketInUse(ControlError):
    """Another live daemon answers on the socket path: refuse to steal it."""

    def __init__(self, path: str):
        super().__init__(f"another shadowd is already listening on {path}")
        self.path = path


class DaemonUnavailable(ControlError):
    """The client could not talk to a daemon at ``path`` (missing, refused, timed out)."""

    retriable = True

    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path = path


class ProtocolError(ControlError):
    """The daemon answered something the client cannot make sense of."""


class RemoteError(ControlError):
    """The daemon answered with an ``ErrorReply``."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- what a handler raises when it cannot answer --------------------------------------


class LabDown(ControlError):
    """The request needs the lab, which is not up."""


class LabFailed(ControlError):
    """Building or reading the lab failed; the message says which, and why."""


class PolicyFailed(ControlError):
    """No policy could be proposed; the message says why."""


class PolicyRefusal(ControlError):
    """The policy book will not do that to this policy now; the message says why and
    where to look."""


# The code that answers each error: the first of its classes (its own, then its bases, in
# method resolution order) that the table names. ``ShadowdError`` itself is not here: an
# error nobody meant for the operator is ``internal``.
REPLY_CODES: Final[Mapping[type[ShadowdError], str]] = {
    FrameError: BAD_REQUEST,
    FrameTooLarge: TOO_LARGE,
    FrameTimeout: TIMEOUT,
    NotFound: NOT_FOUND,
    Unavailable: UNAVAILABLE,
    ScenarioError: INVALID_SCENARIO,
    LabDown: LAB_DOWN,
    LabFailed: LAB_FAILED,
    PolicyFailed: POLICY_FAILED,
    PolicyRefusal: POLICY_REFUSED,
}


def reply_code(error: type[BaseException]) -> str | None:
    """The ``ErrorReply`` code that answers an ``error``; ``None``: none does (``internal``)."""
    for cls in error.__mro__:
        code = REPLY_CODES.get(cls)
        if code is not None:
            return code
    return None
