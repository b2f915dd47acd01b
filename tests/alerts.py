"""Checking alerts in captured logs against the catalogue (shadowd.alerts)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shadowd import alerts


def assert_alert(records: Iterable[Mapping[str, Any]], kind: alerts.Kind,
                 **expected: Any) -> Mapping[str, Any]:
    """The first ``kind`` alert in ``records`` (structlog's ``capture_logs`` or the
    daemon's JSON lines), checked against its catalogue entry and ``expected``."""
    found = [r for r in records if r.get("kind") == kind and r.get("alert") is True]
    assert found, f"no {kind} alert in {[r.get('event') for r in records]}"
    record = found[0]
    spec = alerts.CATALOGUE[kind]
    assert record["severity"] == spec.severity
    fields = {k: v for k, v in record.items() if k not in (*alerts.COMMON_FIELDS, "log_level")}
    assert alerts.problems(kind, record["severity"], fields) == [], record
    for name, value in expected.items():
        assert record[name] == value, (name, record)
    return record
