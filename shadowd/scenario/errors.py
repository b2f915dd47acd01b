"""The one error the scenario library raises: it names the file, the line, the key, why."""

from __future__ import annotations

from shadowd.core.errors import ShadowdError


class ScenarioError(ShadowdError):
    """A scenario file cannot be read, or a scenario does not fit the network.

    ``file`` is the path ("" for a scenario built in code), ``line`` the 1-based line of
    the offending key or value when it could be found (else ``None``), ``key`` its
    ``$.path`` (``$.steps[2].kind``), ``reason`` what is wrong. ``str()`` reads like a
    compiler's message: ``scenarios/cut.toml:7: $.steps[2].kind: unknown step type 'x'``.
    """

    def __init__(self, reason: str, *, file: str = "", line: int | None = None,
                 key: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.file = file
        self.line = line
        self.key = key

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        return ": ".join(part for part in (where, self.key, self.reason) if part)
