"""Structured logs: one JSON line per unit of work off a TTY, a readable console on one.

Alerts are ordinary log events with ``alert=true``, a ``severity`` and a ``kind``; the
catalogue of kinds is in the README. Log pipelines route on those three fields.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog

Severity = Literal["info", "warning", "critical"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog once for the process (the daemon, the CLIs, the tests)."""
    out = stream if stream is not None else sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(**context: Any) -> Any:
    return structlog.get_logger(**context)


def alert(log: Any, kind: str, severity: Severity, message: str, **fields: Any) -> None:
    """Emit one alert event. ``kind`` must be in the README's alert catalogue."""
    method = log.warning if severity != "info" else log.info
    if severity == "critical":
        method = log.error
    method(message, alert=True, severity=severity, kind=kind, **fields)
