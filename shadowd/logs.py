"""Structured logs: one JSON line per unit of work off a TTY, a readable console on one.

Alerts are ordinary log events with ``alert=true``, a ``severity`` and a ``kind``; the
catalogue of kinds is ``shadowd.alerts`` (for operators: docs/alerts.md). Log pipelines
route on those three fields.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import shutil
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final, TextIO

import structlog

from shadowd import alerts
from shadowd.alerts import Severity

__all__ = ["Severity", "alert", "alert_counts", "configure", "get_logger"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}

# Alerts emitted by this process, by (kind, severity): ``shadowd_alerts_total``.
_ALERTS: Counter[tuple[str, str]] = Counter()


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog once for the process (the daemon, the CLIs, the tests)."""
    out = stream if stream is not None else sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: list[Any] = (
        [_brief, _Console(out)] if console
        else [structlog.processors.JSONRenderer()]  # the JSON log keeps every detail
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
BRIEF_ITEMS: Final = 3  # a console line shows this many of a list, then "+N more"


def _brief(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """For people at a console: long lists as their first few and a count."""
    for key, value in event.items():
        if isinstance(value, list | tuple) and len(value) > BRIEF_ITEMS:
            event[key] = [*value[:BRIEF_ITEMS], f"+{len(value) - BRIEF_ITEMS} more"]
    return event


NARRATOR: Final = "guide"  # its lines are wrapped on a terminal, never cut


class _Console:
    """The console line; on a terminal, within its width so that progress lines never
    wrap: cut with "…" (an exception's lines too), or, for the guide's narration, wrapped
    at spaces with the rest indented. The JSON log, for machines, is never cut."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._render = structlog.dev.ConsoleRenderer(colors=out.isatty())

    def __call__(self, logger: Any, method: str, event: dict[str, Any]) -> str:
        narration = event.get("component") == NARRATOR
        line: str = self._render(logger, method, event)
        if not self._out.isatty():
            return line
        try:
            width = os.get_terminal_size(self._out.fileno()).columns
        except (OSError, ValueError, io.UnsupportedOperation):
            width = shutil.get_terminal_size().columns
        if narration:
            return "\n".join(textwrap.fill(_ANSI.sub("", part), max(width, 20),
                                            subsequent_indent="    ", break_on_hyphens=False)
                             for part in line.split("\n"))
        return "\n".join(_cut(part, width) for part in line.split("\n"))


def _cut(line: str, width: int) -> str:
    """``line`` in at most ``width`` visible columns (colour codes do not count)."""
    visible = _ANSI.sub("", line)
    if len(visible) <= width:
        return line
    return visible[: max(width - 1, 1)] + "…" + ("\x1b[0m" if visible != line else "")


def get_logger(**context: Any) -> Any:
    return structlog.get_logger(**context)


def alert(log: Any, kind: alerts.Kind, severity: Severity, message: str, **fields: Any) -> None:
    """Emit one alert event, as its entry in ``shadowd.alerts.CATALOGUE`` describes it.

    An alert off its entry is still emitted (an alert must never be lost to its own
    bookkeeping), followed by an error naming the mismatch; under ``SHADOWD_STRICT_ALERTS=1``
    (the tests) it raises ``AlertMismatch`` instead.
    """
    wrong = alerts.problems(kind, severity, fields)
    if wrong and alerts.strict():
        raise alerts.AlertMismatch(kind, wrong)
    _ALERTS[kind, severity] += 1
    method = {"info": log.info, "warning": log.warning, "critical": log.error}[severity]
    method(message, alert=True, severity=severity, kind=kind, **fields)
    if wrong:
        log.error("alert does not match its catalogue entry", alert_kind=kind, problems=wrong)


def alert_counts() -> dict[tuple[str, str], int]:
    """How many alerts of each (kind, severity) this process has emitted."""
    return dict(_ALERTS)


class Throttle:
    """At most ``burst`` lines per ``window_s`` for one noisy kind of line (garbage from
    a fuzzer must not flood the log); ``allow`` says how many were held back since the
    last line it let through, or ``None`` to hold this one back too."""

    def __init__(self, burst: int = 10, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._burst, self._window, self._clock = burst, window_s, clock
        self._start, self._count, self._held = -math.inf, 0, 0

    def allow(self) -> int | None:
        now = self._clock()
        if now - self._start >= self._window:
            self._start, self._count = now, 0
        if self._count >= self._burst:
            self._held += 1
            return None
        self._count += 1
        held, self._held = self._held, 0
        return held
