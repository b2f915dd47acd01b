"""Structured logs: one JSON line per unit of work off a TTY, a readable console on one.

Alerts are ordinary log events with ``alert=true``, a ``severity`` and a ``kind``; the
catalogue of kinds is ``shadowd.alerts`` (for operators: docs/alerts.md). Log pipelines
route on those three fields.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
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
