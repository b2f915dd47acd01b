"""The records shadowd logs about predictions and runs, built from what was found. Pure.

``spike_record`` is a ``SpikePredicted`` from a forecaster's ``PredictedSpike`` and the
link's extreme case; ``model_record`` and ``lab_record`` are ``ScenarioRan`` summaries of
a run in either tier (bounded: numbers and a few short strings, never per-demand lists).
The caller stamps them: ``source``, ``seq`` and ``ts`` are given here as ``Stamp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from shadowd.core.events import DAEMON_SOURCE, ScenarioRan, SpikePredicted
from shadowd.core.fields import MAX_RATE
from shadowd.predict.forecast import PredictedSpike
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import LabResult, Probe, ScenarioResult

LABEL_MAX = 160
MAX_RATIO = 1e6
MAX_DELAY_MS = 1e9


@dataclass(frozen=True, slots=True)
class Stamp:
    seq: int
    ts: float
    source: str = DAEMON_SOURCE


@dataclass(frozen=True, slots=True)
class Extreme:
    """A link direction's extreme case: its worst failure's load x the demand factor."""

    factor: float
    worst_failure: str
    extreme_bps: float
    capacity_bps: float

    @property
    def util(self) -> float:
        return self.extreme_bps / self.capacity_bps if self.capacity_bps > 0.0 else 0.0


@dataclass(frozen=True, slots=True)
class RunContext:
    """Why and when a run was made: a predicted spike (``spike_*``) or by hand."""

    trigger: str  # "spike:LINK DIR" or "manual"
    injected_ts: float  # the log time whose state the run started from
    spike_ts: float | None = None
    spike_seq: int = 0
    factor: float = 1.0
    at_lsn: int = 0  # the log position of the state the run starts from


def spike_record(stamp: Stamp, spike: PredictedSpike, extreme: Extreme,
                 at_lsn: int = 0) -> SpikePredicted:
    return SpikePredicted(
        source=stamp.source, seq=stamp.seq, ts=stamp.ts, link=spike.link,
        direction=spike.direction, peak_ts=spike.peak_at, predicted_bps=_rate(spike.upper_bps),
        threshold_bps=_rate(spike.threshold_bps), predicted_util=_ratio(spike.utilization),
        made_at=spike.made_at, onset_ts=spike.onset, mean_bps=_rate(spike.mean_bps),
        factor=_ratio(extreme.factor), worst_failure=_label(extreme.worst_failure),
        extreme_bps=_rate(extreme.extreme_bps), extreme_util=_ratio(extreme.util),
        at_lsn=at_lsn)


def model_record(stamp: Stamp, run_id: str, ctx: RunContext,
                 result: ScenarioResult) -> ScenarioRan:
    slowest = max((s.mean_latency_ms for s in result.steps), default=0.0)
    worst = result.worst_link
    return msgspec.structs.replace(
        _base(stamp, run_id, ctx, (result.scenario, result.kind), "model"),
        worst_link=_label(f"{worst.link} {worst.src}->{worst.dst}") if worst else "",
        worst_util=_ratio(worst.utilization if worst else 0.0),
        newly_overloaded=len(result.newly_overloaded), unreachable=result.unreachable,
        max_loss_pct=_percent(result.max_loss_pct),
        latency_before_ms=_delay(result.baseline.mean_latency_ms),
        latency_after_ms=_delay(slowest),
        routes_changed=max((s.routes_changed for s in result.steps), default=0),
        steps=len(result.steps), restored=result.restored)


def lab_record(stamp: Stamp, run_id: str, ctx: RunContext, result: LabResult) -> ScenarioRan:
    """Latencies: half the probes' mean round trip (one way, as the model's); loss: the
    worst of the probes' ping and UDP loss at any step."""
    probes = [p for step in result.steps for p in step.probes]
    losses = [max(p.ping_loss_pct, p.udp_loss_pct or 0.0) for p in probes]
    step_rtts = [_mean_rtt(step.probes) for step in result.steps]
    return msgspec.structs.replace(
        _base(stamp, run_id, ctx, (result.scenario, result.kind), "lab"),
        max_loss_pct=_percent(max(losses, default=0.0)),
        latency_before_ms=_delay(_mean_rtt(result.baseline) / 2),
        latency_after_ms=_delay(max(step_rtts, default=0.0) / 2),
        unreachable=max((sum(p.rtt_ms is None for p in s.probes) for s in result.steps),
                        default=0),
        steps=len(result.steps), restored=result.restored,
        converged=all(s.converged for s in result.steps),
        converge_s=max((s.seconds for s in result.steps), default=0.0))


def failed_record(stamp: Stamp, run_id: str, ctx: RunContext, scenario: Scenario, *,
                  tier: str, error: str) -> ScenarioRan:
    """A run that could not complete (the scenario does not fit the network, the lab
    failed): logged too, so a spike's record says what was tried."""
    return msgspec.structs.replace(
        _base(stamp, run_id, ctx, (scenario.name, scenario.kind), tier),
        restored=False, error=_label(error) or "failed")


def _base(stamp: Stamp, run_id: str, ctx: RunContext, what: tuple[str, str],
          tier: str) -> ScenarioRan:
    scenario, kind = what
    return ScenarioRan(
        source=stamp.source, seq=stamp.seq, ts=stamp.ts, run_id=run_id, scenario=scenario,
        kind=kind, trigger=_label(ctx.trigger), tier="lab" if tier == "lab" else "model",
        injected_ts=ctx.injected_ts, spike_ts=ctx.spike_ts, spike_seq=ctx.spike_seq,
        factor=_ratio(ctx.factor), at_lsn=ctx.at_lsn)


def _mean_rtt(probes: list[Probe]) -> float:
    rtts = [p.rtt_ms for p in probes if p.rtt_ms is not None]
    return sum(rtts) / len(rtts) if rtts else 0.0


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 3] + "..."


def _bounded(value: float, top: float) -> float:
    """``value`` within [0, top]; NaN is 0 (a record must always decode again)."""
    return min(max(value, 0.0), top) if not math.isnan(value) else 0.0


def _rate(value: float) -> float:
    return _bounded(value, MAX_RATE)


def _ratio(value: float) -> float:
    return _bounded(value, MAX_RATIO)


def _percent(value: float) -> float:
    return _bounded(value, 100.0)


def _delay(value: float) -> float:
    return _bounded(value, MAX_DELAY_MS)
