"""The alert catalogue as data: every kind shadowd emits, its severity and its fields.

``shadowd.logs.alert`` checks each alert against its entry here; docs/alerts.md
documents the same entries for operators, and ``tests/unit/test_alerts_catalogue.py``
keeps the three (this registry, the call sites in ``shadowd/``, the document) in step.
A new kind is added here first: mypy then accepts it at the call site.

Every alert also carries the fields of every log line (``event``, ``level``,
``timestamp``) and the alert's own ``alert`` (true), ``severity`` and ``kind``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, get_args

Severity: TypeAlias = Literal["info", "warning", "critical"]
FieldType: TypeAlias = Literal["str", "int", "float", "bool", "list[str]"]
Kind: TypeAlias = Literal[
    "log_truncated", "log_damaged", "snapshot_skipped", "disk_full", "delta_rejected",
    "sequence_gap", "sequence_reset", "source_finished",
    "resync_requested", "digest_mismatch", "dead_letter", "source_lost", "source_restored",
    "predicted_overload", "scenario_library_missing", "lab_unavailable", "lab_divergence",
    "policy_rejected", "rollout_held", "rollout_failed_gate", "rollout_rolled_back",
    "rollout_completed", "rollout_recovered",
]

COMMON_FIELDS: Final = ("event", "level", "timestamp", "alert", "severity", "kind")
STRICT_ENV: Final = "SHADOWD_STRICT_ALERTS"  # "1": a mismatch raises (the tests set it)


@dataclass(frozen=True, slots=True)
class Spec:
    kind: Kind
    severity: Severity
    fields: Mapping[str, FieldType]  # always present
    optional: Mapping[str, FieldType] = field(default_factory=dict)  # present on some paths

    def all_fields(self) -> dict[str, FieldType]:
        return {**self.fields, **self.optional}


class AlertMismatch(ValueError):
    """An alert that does not match its catalogue entry (raised only when strict)."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        super().__init__(f"alert {kind!r}: {'; '.join(problems)}")
        self.kind = kind
        self.problems = problems


_ROLLOUT: Final[dict[str, FieldType]] = {
    "rollout": "str", "policy": "str", "rollout_id": "str", "policy_id": "str",
    "segment": "str", "step": "int",
}
_SAMPLE: Final[dict[str, FieldType]] = {
    "latency_ms": "float", "throughput_bps": "float", "loss_pct": "float", "max_util": "float",
}

_SPECS: Final = (
    Spec("log_truncated", "warning", {"segment": "str", "offset": "int",
                                      "dropped_bytes": "int", "reason": "str",
                                      "applied": "bool"}),
    Spec("log_damaged", "critical", {"segment": "str", "offset": "int", "reason": "str",
                                      "first_lsn": "int", "last_lsn": "int"}),
    Spec("snapshot_skipped", "warning", {"path": "str", "reason": "str"}),
    Spec("disk_full", "critical", {"path": "str", "error": "str"}),
    Spec("delta_rejected", "warning", {"source": "str", "seq": "int", "event_type": "str",
                                       "reason": "str"}),
    Spec("sequence_gap", "warning", {"source": "str", "expected": "int", "got": "int"},
         optional={"held": "int"}),
    Spec("sequence_reset", "warning", {"source": "str", "position": "int", "got": "int"}),
    Spec("source_finished", "info", {"source": "str", "events": "int"}),
    Spec("resync_requested", "info", {"source": "str", "from_seq": "int", "reason": "str",
                                      "detail": "str"}),
    Spec("digest_mismatch", "warning", {"source": "str", "seq": "int", "theirs": "str",
                                        "ours": "str"}),
    Spec("dead_letter", "warning", {"feed": "str", "source": "str", "origin": "str",
                                    "reason": "str"}),
    Spec("source_lost", "warning", {"feed": "str", "error": "str"}),
    Spec("source_restored", "info", {"feed": "str", "feed_kind": "str"}),
    Spec("predicted_overload", "warning", {"link": "str", "direction": "str",
                                           "predicted_ts": "str", "worst_failure": "str",
                                           "predicted_util": "float",
                                           "extreme_util": "float"}),
    Spec("scenario_library_missing", "warning", {"path": "str", "config": "str",
                                                 "key": "str"}),
    Spec("lab_unavailable", "warning", {"lab_id": "str", "reason": "str"}),
    Spec("lab_divergence", "warning", {"lab_id": "str", "seq": "int", "differing": "int",
                                       "routes": "int", "agreement": "float",
                                       "examples": "list[str]"}),
    Spec("policy_rejected", "warning", {"policy": "str", "tier": "str", "detail": "str"}),
    Spec("rollout_held", "warning", {**_ROLLOUT, "reason": "str"}),
    Spec("rollout_failed_gate", "warning", {**_ROLLOUT, "reason": "str", "failures": "int",
                                            "failure_limit": "int", **_SAMPLE}),
    Spec("rollout_rolled_back", "critical", {**_ROLLOUT, "reason": "str", "routers": "str"}),
    Spec("rollout_completed", "info", {**_ROLLOUT, "steps": "int"}),
    Spec("rollout_recovered", "warning", {"rollout": "str", "policy": "str",
                                          "decision": "str", "reason": "str"}),
)

CATALOGUE: Final[Mapping[str, Spec]] = {spec.kind: spec for spec in _SPECS}
KINDS: Final = frozenset(get_args(Kind))


def problems(kind: str, severity: str, fields: Mapping[str, Any]) -> list[str]:
    """What is wrong with this alert against the catalogue (empty: nothing)."""
    spec = CATALOGUE.get(kind)
    if spec is None:
        return [f"no such kind in the catalogue ({', '.join(sorted(CATALOGUE))})"]
    found = [f"severity {severity}, catalogued {spec.severity}"] * (severity != spec.severity)
    found += [f"missing field {name!r}" for name in spec.fields if name not in fields]
    allowed = spec.all_fields()
    for name, value in fields.items():
        if name not in allowed:
            found.append(f"field {name!r} is not catalogued")
        elif not _is(value, allowed[name]):
            found.append(f"field {name!r} is {type(value).__name__}, catalogued {allowed[name]}")
    return found


def strict() -> bool:
    return os.environ.get(STRICT_ENV) == "1"


def _is(value: object, kind: FieldType) -> bool:
    if kind == "list[str]":
        return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
    if kind == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "bool": bool}[kind])
