"""shadowd's error tree: a few classes with attributes, so callers never parse messages."""

from __future__ import annotations


class ShadowdError(Exception):
    """Base of every error shadowd raises on purpose."""

    retriable: bool = False


class InvalidEvent(ShadowdError):
    """An event that cannot apply to the current state (unknown router, dangling link...)."""

    def __init__(self, reason: str, *, event_type: str = "", source: str = "", seq: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.event_type = event_type
        self.source = source
        self.seq = seq

    def __str__(self) -> str:
        where = f"{self.event_type} from {self.source}#{self.seq}: " if self.event_type else ""
        return f"{where}{self.reason}"


class ConfigError(ShadowdError):
    """The configuration is wrong; ``path`` names the key (``$.log.fsync_window_ms``)."""

    def __init__(self, message: str, *, file: str = "", path: str = ""):
        super().__init__(message)
        self.file = file
        self.path = path


class LogCorrupt(ShadowdError):
    """The event log holds bytes that cannot be trusted (bad CRC, torn frame)."""

    def __init__(self, message: str, *, segment: str = "", offset: int = 0):
        super().__init__(message)
        self.segment = segment
        self.offset = offset


class NotFound(ShadowdError):
    """No router, link, scenario or policy of the name asked for; the message says what
    there is."""


class Unavailable(ShadowdError):
    """What a request needs is not there here (the scenario library's directory; the
    lab's root and FRR)."""


class CommandFailed(ShadowdError):
    """An external command (vtysh, ip, tc) exited non-zero."""

    def __init__(self, cmd: list[str], rc: int, stderr: str, *, retriable: bool = False):
        super().__init__(f"{' '.join(cmd)} exited {rc}: {stderr.strip()}")
        self.cmd = cmd
        self.rc = rc
        self.stderr = stderr
        self.retriable = retriable


class BadEstimateInput(ShadowdError):
    """An input of a traffic-matrix estimate is wrong (a counter that is NaN or negative,
    or names a link direction the routing does not have; arrays whose shapes disagree).
    ``subject`` names the link direction, router or pair at fault."""

    def __init__(self, reason: str, *, subject: str = ""):
        super().__init__(f"{subject}: {reason}" if subject else reason)
        self.reason = reason
        self.subject = subject
