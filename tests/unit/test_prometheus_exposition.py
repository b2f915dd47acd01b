"""The Prometheus text: every family parses back with prometheus_client's own parser,
labels are escaped, values are what the parts said, cardinality is bounded."""

from __future__ import annotations

import math
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shadowd import logs
from shadowd.core.state import fold
from shadowd.core.sync import SourceCounters
from shadowd.prometheus.exposition import (
    Family,
    LinkUtil,
    MetricsInputs,
    PredictorFigures,
    Sample,
    WorstCaseFigure,
    escape_label_value,
    families,
    format_value,
    render,
)
from tests.unit.samples import SAMPLES

STATE = fold(SAMPLES)

_LINE = re.compile(
    r"# HELP [a-z_:][a-z0-9_:]* .*|# TYPE [a-z_:][a-z0-9_:]* (counter|gauge)"
    r"|[a-z_:][a-z0-9_:]*(\{([a-z_]+=\"([^\"\\\n]|\\[\\\"n])*\",?)*\})? "
    r"(-?[0-9.e+-]+|NaN|[+-]Inf)")


def _inputs(**overrides: object) -> MetricsInputs:
    base: dict[str, object] = dict(
        state=STATE, durable_seq=STATE.lsn - 1, uptime_s=12.5,
        counters={"golden": SourceCounters(accepted=13, rejected=2, gaps=1)},
        top_links=[LinkUtil(link="fra--ams", src="fra", dst="ams", utilization=0.25)],
        worst_case=WorstCaseFigure(failures="links", seq=11, max_util=1.5),
        predictor=PredictorFigures(spikes=3, model_runs=4, lab_runs=1, failed_runs=2),
        lab_up=True, alerts={("sequence_gap", "warning"): 2})
    base.update(overrides)
    return MetricsInputs(**base)  # type: ignore[arg-type]


def _parsed(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, tuple(sorted(s.labels.items()))] = s.value
    return out


def test_every_line_is_the_exposition_format() -> None:
    text = render(families(_inputs()))
    assert text.endswith("\n")
    for line in text.splitlines():
        assert _LINE.fullmatch(line), line


def test_it_parses_back_with_the_values_the_parts_gave() -> None:
    got = _parsed(render(families(_inputs())))
    assert got["shadowd_log_seq", ()] == STATE.lsn
    assert got["shadowd_log_durable_seq", ()] == STATE.lsn - 1
    assert got["shadowd_events_total", (("source", "golden"),)] == 13
    assert got["shadowd_events_rejected_total", (("source", "golden"),)] == 2
    assert got["shadowd_source_seq", (("source", "golden"),)] == STATE.sources["golden"].seq
    assert got["shadowd_routers", ()] == len(STATE.routers)
    up = sum(k.up for k in STATE.links.values())
    assert got["shadowd_links", (("state", "up"),)] == up
    assert got["shadowd_links", (("state", "down"),)] == len(STATE.links) - up
    assert got["shadowd_link_utilization", (("direction", "fra->ams"), ("link", "fra--ams"))] \
        == 0.25
    assert got["shadowd_worst_case_utilization", (("failures", "links"),)] == 1.5
    assert got["shadowd_worst_case_seq", (("failures", "links"),)] == 11
    assert got["shadowd_spikes_predicted_total", ()] == 3
    assert got["shadowd_scenario_runs_total", (("tier", "model"),)] == 4
    assert got["shadowd_scenario_runs_total", (("tier", "lab"),)] == 1
    assert got["shadowd_scenario_runs_failed_total", ()] == 2
    assert got["shadowd_policies", (("status", "proposed"),)] == 0
    assert got["shadowd_rollouts_open", ()] == 0
    assert got["shadowd_lab_up", ()] == 1
    assert got["shadowd_uptime_seconds", ()] == 12.5
    assert got["shadowd_alerts_total", (("kind", "sequence_gap"), ("severity", "warning"))] == 2


def test_types_and_help_precede_their_samples() -> None:
    types = {f.name: f.type for f in text_string_to_metric_families(
        render(families(_inputs())))}
    assert types["shadowd_events"] == "counter"  # the parser drops a counter's _total
    assert types["shadowd_log_seq"] == "gauge"
    assert types["shadowd_link_utilization"] == "gauge"
    assert all(f.documentation for f in text_string_to_metric_families(
        render(families(_inputs()))))


def test_no_worst_case_yet_means_no_such_family() -> None:
    text = render(families(_inputs(worst_case=None)))
    assert "shadowd_worst_case_utilization" not in text
    _parsed(text)


def test_label_values_are_escaped_and_parse_back() -> None:
    nasty = 'a"b\\c\nd'
    fam = Family("shadowd_x", "gauge", "help with \\ and\nnewline",
                 (Sample(1.0, (("link", nasty),)),))
    text = render([fam])
    assert 'link="a\\"b\\\\c\\nd"' in text
    assert "# HELP shadowd_x help with \\\\ and\\nnewline\n" in text
    (family,) = text_string_to_metric_families(text)
    assert family.samples[0].labels == {"link": nasty}
    assert family.documentation == "help with \\ and\nnewline"


def test_escape_label_value() -> None:
    assert escape_label_value('x"y') == 'x\\"y'
    assert escape_label_value("plain") == "plain"


@pytest.mark.parametrize(("value", "text"), [
    (3.0, "3"), (0.25, "0.25"), (1e20, "1e+20"), (float("nan"), "NaN"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (-2.0, "-2")])
def test_values(value: float, text: str) -> None:
    assert format_value(value) == text


def test_link_utilization_has_only_the_rows_given() -> None:
    rows = [LinkUtil(link=f"l{i}", src="a", dst="b", utilization=i / 10) for i in range(3)]
    got = _parsed(render(families(_inputs(top_links=rows))))
    assert sum(k[0] == "shadowd_link_utilization" for k in got) == 3


def test_policy_statuses_are_all_present_even_at_zero() -> None:
    got = _parsed(render(families(_inputs())))
    statuses = {dict(k[1])["status"] for k in got if k[0] == "shadowd_policies"}
    assert statuses == {"proposed", "validated", "rejected", "deploying", "held", "deployed",
                        "rolled_back", "aborted"}


def test_alerts_are_counted_by_kind_and_severity() -> None:
    before = logs.alert_counts().get(("source_lost", "warning"), 0)
    logs.alert(logs.get_logger(), "source_lost", "warning", "lost", feed="s", error="x")
    assert logs.alert_counts()[("source_lost", "warning")] == before + 1
