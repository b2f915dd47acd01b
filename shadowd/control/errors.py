"""Errors of the control socket, on both ends, as attributes rather than strings."""

from __future__ import annotations

from shadowd.core.errors import ShadowdError


class ControlError(ShadowdError):
    """Base of the control socket's errors."""


class FrameError(ControlError):
    """A frame that cannot be read: ``code`` is the ``ErrorReply`` code it deserves."""

    code: str = "bad_request"


class FrameTooLarge(FrameError):
    code = "too_large"

    def __init__(self, size: int, limit: int):
        super().__init__(f"frame of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class TruncatedFrame(FrameError):
    def __init__(self, what: str, expected: int, got: int):
        super().__init__(f"truncated {what}: expected {expected} bytes, got {got}")
        self.expected = expected
        self.got = got


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
