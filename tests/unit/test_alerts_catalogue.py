"""The alert catalogue agrees with itself everywhere: the registry (shadowd.alerts), every
``logs.alert`` call site in shadowd/, docs/alerts.md and the example pipeline rules.

A new alert kind without its registry entry fails mypy; without its section in
docs/alerts.md, or with fields the document does not list, it fails here."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any, get_args

import pytest
import structlog
import yaml

from shadowd import alerts, logs
from shadowd.policy.actions import AlertKind
from shadowd.services import rollouts
from shadowd.store.recovery import ProblemKind

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "alerts.md"
PIPELINE = ROOT / "docs" / "log-pipeline"

# Call sites whose kind is a variable, and the types that bound it (mypy checks the rest).
INDIRECT = {
    "shadowd/bootstrap.py": frozenset(get_args(ProblemKind)),
    "shadowd/services/rollouts.py": frozenset(get_args(AlertKind)),
}


class CallSite:
    def __init__(self, path: str, call: ast.Call) -> None:
        self.path, self.line = path, call.lineno
        self.kind = _constant(call.args[1])
        self.severity = _constant(call.args[2])
        self.keywords = {k.arg for k in call.keywords if k.arg is not None}
        self.splat = any(k.arg is None for k in call.keywords)

    def __repr__(self) -> str:
        return f"{self.path}:{self.line}"


def _constant(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def call_sites() -> list[CallSite]:
    found = []
    for file in sorted((ROOT / "shadowd").rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "alert" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "logs"):
                found.append(CallSite(str(file.relative_to(ROOT)), node))
    return found


def documented() -> dict[str, tuple[str, dict[str, str]]]:
    """docs/alerts.md's sections: kind -> (severity, {field: type}); optional fields are
    typed ``T, optional``."""
    sections = re.split(r"^### `(\w+)`$", DOC.read_text(), flags=re.M)[1:]
    out = {}
    for kind, body in zip(sections[::2], sections[1::2], strict=True):
        severity = re.search(r"^\*\*Severity:\*\* (\w+)$", body, re.M)
        assert severity is not None, f"{kind}: no **Severity:** line"
        rows = re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", body, re.M)
        out[kind] = (severity.group(1), dict(rows))
    return out


def test_the_kind_type_and_the_registry_hold_the_same_kinds() -> None:
    assert set(alerts.CATALOGUE) == alerts.KINDS
    assert all(spec.kind == kind for kind, spec in alerts.CATALOGUE.items())


def test_every_call_site_matches_its_entry() -> None:
    sites = call_sites()
    assert sites, "no logs.alert call found: has the scan broken?"
    for site in sites:
        if site.kind is None:
            assert site.path in INDIRECT, f"{site}: a kind passed as a variable; add it to INDIRECT"
            continue
        spec = alerts.CATALOGUE.get(site.kind)
        assert spec is not None, f"{site}: {site.kind} is not in shadowd.alerts"
        assert site.severity == spec.severity, site
        assert site.keywords <= set(spec.all_fields()), (site, site.keywords - set(spec.fields))
        if not site.splat:
            assert set(spec.fields) <= site.keywords, (site, set(spec.fields) - site.keywords)


def test_every_kind_in_the_registry_is_emitted_somewhere() -> None:
    sites = call_sites()
    emitted = {s.kind for s in sites if s.kind is not None}
    for site in sites:
        if site.kind is None:
            emitted |= INDIRECT[site.path]
    assert emitted == set(alerts.CATALOGUE)


def test_the_rollout_runner_uses_the_catalogued_severities() -> None:
    assert set(rollouts._ALERTS) == set(get_args(AlertKind))
    for kind, (_, severity) in rollouts._ALERTS.items():
        assert alerts.CATALOGUE[kind].severity == severity, kind


def test_the_document_has_every_kind_with_its_severity_and_fields() -> None:
    docs = documented()
    assert list(docs) == list(alerts.CATALOGUE)  # same kinds, in the same order
    for kind, (severity, fields) in docs.items():
        spec = alerts.CATALOGUE[kind]
        assert severity == spec.severity, kind
        expected = {**{n: t for n, t in spec.fields.items()},
                    **{n: f"{t}, optional" for n, t in spec.optional.items()}}
        assert fields == expected, kind


def test_the_documents_overview_table_lists_every_kind() -> None:
    rows = re.findall(r"^\| \[`(\w+)`\]\(#\1\) \| (\w+) \|", DOC.read_text(), re.M)
    assert dict(rows) == {k: s.severity for k, s in alerts.CATALOGUE.items()}


def test_a_mismatched_alert_raises_when_strict_and_is_flagged_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    log = logs.get_logger()
    with pytest.raises(alerts.AlertMismatch, match="missing field 'error'"):
        logs.alert(log, "source_lost", "warning", "lost", feed="f")
    with pytest.raises(alerts.AlertMismatch, match="severity info, catalogued warning"):
        logs.alert(log, "source_lost", "info", "lost", feed="f", error="x")
    with pytest.raises(alerts.AlertMismatch, match="'feed' is int"):
        logs.alert(log, "source_lost", "warning", "lost", feed=1, error="x")
    monkeypatch.setenv(alerts.STRICT_ENV, "0")
    with structlog.testing.capture_logs() as captured:
        logs.alert(log, "source_lost", "warning", "lost", feed="f", error="x", extra=1)
    assert [e["log_level"] for e in captured] == ["warning", "error"]
    assert captured[0]["kind"] == "source_lost"
    assert captured[1]["problems"] == ["field 'extra' is not catalogued"]


# --- the example pipeline ---------------------------------------------------------------

STREAM_LABELS = {"unit", "host", "job"}
JOURNAL_FIELDS = {"message", "host", "_SYSTEMD_UNIT"}


def _all_fields() -> set[str]:
    return {f for spec in alerts.CATALOGUE.values() for f in spec.all_fields()} | set(
        alerts.COMMON_FIELDS)


def test_the_vector_example_routes_alerts_by_documented_fields() -> None:
    config = tomllib.loads((PIPELINE / "vector.toml").read_text())
    transforms: dict[str, Any] = config["transforms"]
    assert transforms["shadowd_alerts"]["condition"] == ".alert == true"
    routes = transforms["shadowd_by_severity"]["route"]
    assert set(routes) <= set(get_args(alerts.Severity))
    vrl = " ".join([transforms["shadowd_lines"]["source"], transforms["shadowd_alerts"]
                    ["condition"], *routes.values()])
    paths = set(re.findall(r"(?<![\w\"])\.(\w+)", vrl))
    assert paths <= _all_fields() | JOURNAL_FIELDS, paths - _all_fields() - JOURNAL_FIELDS
    inputs = {i for part in ("transforms", "sinks") for c in config[part].values()
              for i in c["inputs"]}
    outputs = set(config["sources"]) | set(transforms) | {
        f"shadowd_by_severity.{r}" for r in routes}
    assert inputs <= outputs


def test_the_loki_rules_name_only_documented_kinds_and_fields() -> None:
    rules = yaml.safe_load((PIPELINE / "loki-rules.yaml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    text = (PIPELINE / "loki-rules.yaml").read_text()
    assert len(exprs) >= 3
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
        assert '{unit="shadowd.service"} | json | alert="true"' in expr
    kinds = set(re.findall(r'kind="(\w+)"', text))
    assert kinds
    assert kinds <= set(alerts.CATALOGUE)
    assert set(re.findall(r'severity="(\w+)"', text)) <= set(get_args(alerts.Severity))
    labels = {label.strip() for group in re.findall(r"by \(([^)]*)\)", text)
              for label in group.split(",")} | set(re.findall(r"\$labels\.(\w+)", text))
    assert labels <= _all_fields(), labels - _all_fields()


def test_the_promtail_example_keeps_shadowds_unit() -> None:
    config = yaml.safe_load((PIPELINE / "promtail.yaml").read_text())
    (job,) = config["scrape_configs"]
    relabel = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"unit", "host"} <= relabel | STREAM_LABELS
    assert any(r.get("regex") == "shadowd.service" for r in job["relabel_configs"])


def test_every_kind_has_a_test_that_its_trigger_produces_it() -> None:
    tested: set[str] = set()
    for file in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "assert_alert" and len(node.args) >= 2):
                kind = _constant(node.args[1])
                if kind is not None:
                    tested.add(kind)
    assert set(alerts.CATALOGUE) - tested == set()
