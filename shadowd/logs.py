"""Structured logs: one JSON line per unit of work off a TTY, a readable console on one.

Alerts are ordinary log events with ``alert=true``, a ``severity`` and a ``kind``; the
catalogue of kinds is ``shadowd.alerts`` (for operators: docs/alerts.md). Log pipelines
route on those three fields.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

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
