"""Prometheus text metrics (exposition format 0.0.4): pure, from the daemon's parts as data.

``families(inputs)`` turns a ``MetricsInputs`` (plain values the shell read from the
daemon) into metric families; ``render(families)`` writes them as the text format. The
shell does the reading and the I/O: ``figures`` reads the daemon, ``endpoint`` serves GET
/metrics, ``handlers.on_metrics`` answers ``shadowctl metrics``.

Cardinality stays bounded: per-link utilisation is exported for the ``top_links`` most
utilised link directions only; every other label (source, tier, status, alert kind) has a
handful of values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from shadowd.core.state import State
from shadowd.core.sync import SourceCounters, position

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
PREFIX: Final = "shadowd_"

Kind = Literal["counter", "gauge"]
Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # counters end in _total, as the sample is named
    kind: Kind
    help: str
    samples: tuple[Sample, ...]


@dataclass(frozen=True, slots=True)
class LinkUtil:
    """One direction of a link and its utilisation in the model."""

    link: str
    src: str
    dst: str
    utilization: float


@dataclass(frozen=True, slots=True)
class WorstCaseFigure:
    """The highest worst-case utilisation of the latest sweep, and the state it was for."""

    failures: str
    seq: int
    max_util: float


@dataclass(frozen=True, slots=True)
class PredictorFigures:
    spikes: int = 0
    model_runs: int = 0
    lab_runs: int = 0
    failed_runs: int = 0


@dataclass(frozen=True, slots=True)
class MetricsInputs:
    """What a scrape reads from the daemon; ``state`` is read only."""

    state: State
    durable_seq: int
    uptime_s: float
    counters: Mapping[str, SourceCounters] = field(default_factory=dict)
    top_links: Sequence[LinkUtil] = ()
    worst_case: WorstCaseFigure | None = None
    predictor: PredictorFigures = PredictorFigures()
    lab_up: bool = False
    alerts: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (kind, severity)


# --- the families ----------------------------------------------------------------------


def families(m: MetricsInputs) -> list[Family]:
    return [*_log(m), *_sources(m), *_network(m), *_predictions(m), *_policies(m),
            *_daemon(m)]


def _one(name: str, kind: Kind, help_: str, value: float) -> Family:
    return Family(PREFIX + name, kind, help_, (Sample(float(value)),))


def _many(name: str, kind: Kind, help_: str, samples: Iterable[Sample]) -> Family:
    return Family(PREFIX + name, kind, help_, tuple(samples))


def _log(m: MetricsInputs) -> list[Family]:
    return [_one("log_seq", "gauge", "Log sequence number the shadow has applied.",
                 m.state.lsn),
            _one("log_durable_seq", "gauge", "Highest log sequence number fsynced to disk.",
                 m.durable_seq)]


def _sources(m: MetricsInputs) -> list[Family]:
    names = sorted(set(m.state.sources) | set(m.counters))
    counters = {n: m.counters.get(n, SourceCounters()) for n in names}

    def per_source(attr: str) -> list[Sample]:
        return [Sample(float(getattr(c, attr)), (("source", n),)) for n, c in counters.items()]

    def seq(name: str) -> float:
        return float(position(m.state, m.counters, name))

    return [
        _many("events_total", "counter", "Telemetry events accepted into the log, by source.",
              per_source("accepted")),
        _many("events_rejected_total", "counter", "Telemetry events rejected, by source.",
              per_source("rejected")),
        _many("sequence_gaps_total", "counter", "Sequence gaps seen, by source.",
              per_source("gaps")),
        _many("dead_letters_total", "counter", "Messages dead-lettered, by source.",
              per_source("dead_letters")),
        _many("source_seq", "gauge", "The source's last sequence number applied.",
              [Sample(seq(n), (("source", n),)) for n in names]),
    ]


def _network(m: MetricsInputs) -> list[Family]:
    links = m.state.links.values()
    up = sum(link.up for link in links)
    out = [
        _one("routers", "gauge", "Routers in the shadow.", len(m.state.routers)),
        _many("links", "gauge", "Links in the shadow, by state.",
              [Sample(float(up), (("state", "up"),)),
               Sample(float(len(links) - up), (("state", "down"),))]),
        _many("link_utilization", "gauge",
              "Utilisation of the most utilised link directions in the model (top N only).",
              [Sample(x.utilization, (("link", x.link), ("direction", f"{x.src}->{x.dst}")))
               for x in m.top_links]),
    ]
    if m.worst_case is not None:
        wc, labels = m.worst_case, (("failures", m.worst_case.failures),)
        out += [_many("worst_case_utilization", "gauge",
                      "Highest worst-case utilisation over the failure set, latest sweep.",
                      [Sample(wc.max_util, labels)]),
                _many("worst_case_seq", "gauge",
                      "Log sequence number the latest worst-case sweep was computed at.",
                      [Sample(float(wc.seq), labels)])]
    return out


def _predictions(m: MetricsInputs) -> list[Family]:
    p = m.predictor
    return [
        _one("spikes_predicted_total", "counter", "Utilisation spikes predicted.", p.spikes),
        _many("scenario_runs_total", "counter", "Scenario runs completed, by tier.",
              [Sample(float(p.model_runs), (("tier", "model"),)),
               Sample(float(p.lab_runs), (("tier", "lab"),))]),
        _one("scenario_runs_failed_total", "counter", "Scenario runs that failed.",
             p.failed_runs),
    ]


POLICY_STATUSES: Final = ("proposed", "validated", "rejected", "deploying", "held",
                          "deployed", "rolled_back", "aborted")


def _policies(m: MetricsInputs) -> list[Family]:
    counts = dict.fromkeys(POLICY_STATUSES, 0)
    for entry in m.state.policies.values():
        counts[entry.status] = counts.get(entry.status, 0) + 1
    return [
        _many("policies", "gauge", "Route policies, by status.",
              [Sample(float(n), (("status", s),)) for s, n in counts.items()]),
        _one("rollouts_open", "gauge", "Rollouts in progress.", len(m.state.open_rollouts)),
    ]


def _daemon(m: MetricsInputs) -> list[Family]:
    return [
        _one("lab_up", "gauge", "1 when the FRR lab is up.", 1.0 if m.lab_up else 0.0),
        _one("uptime_seconds", "gauge", "Seconds since the daemon started.", m.uptime_s),
        _many("alerts_total", "counter", "Alerts logged since the daemon started.",
              [Sample(float(n), (("kind", k), ("severity", s)))
               for (k, s), n in sorted(m.alerts.items())]),
    ]


# --- the text format -------------------------------------------------------------------


def render(fams: Iterable[Family]) -> str:
    """The text exposition format 0.0.4: HELP, TYPE, then each sample on a line."""
    lines: list[str] = []
    for fam in fams:
        lines.append(f"# HELP {fam.name} {escape_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        lines.extend(f"{fam.name}{_labels(s.labels)} {format_value(s.value)}"
                     for s in fam.samples)
    return "\n".join(lines) + "\n" if lines else ""


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
    return "{" + inner + "}"


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
