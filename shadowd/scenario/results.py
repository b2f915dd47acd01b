"""What a scenario run reports, in either tier: frozen msgspec Structs, ready to log.

A model run (``shadowd.scenario.run.run_model``) gives a ``ScenarioResult``: the baseline
(the network without the scenario), one ``StepSummary`` per timeline entry, and what
changed against the baseline. A lab run (``shadowd.services.labrun.run_lab``) gives a
``LabResult``: per step, the lab's convergence and RIB agreement with the model, and
probes between a few demand pairs. ``shadowd.scenario.diff.diff`` compares the two.

Directions: ``LinkUtil`` is one direction of a link, ``src`` -> ``dst``.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class LinkUtil(msgspec.Struct, frozen=True, kw_only=True):
    link: str
    src: str
    dst: str
    utilization: float  # load / capacity; above 1.0 is overloaded

    @property
    def name(self) -> str:
        return f"{self.link} {self.src}->{self.dst}"


class PairSample(msgspec.Struct, frozen=True, kw_only=True):
    """One demand at one step, as the model sees it."""

    src: str
    dst: str
    rate_bps: float
    delivered_bps: float
    loss_pct: float
    latency_ms: float | None  # None: no path


class StepSummary(msgspec.Struct, frozen=True, kw_only=True):
    at_s: float  # offset from the scenario's start
    ts: float  # started_ts + at_s
    label: str  # what the step did ("baseline" for the baseline)
    events: int
    worst_link: LinkUtil | None
    overloaded: list[LinkUtil]  # every direction above 100%, worst first
    offered_bps: float
    delivered_bps: float
    loss_pct: float  # of all offered traffic
    unreachable: int  # demands with no path
    mean_latency_ms: float  # traffic-weighted, over demands with a path
    routes_changed: int  # (router, destination) pairs whose next hops differ from baseline
    tracked: list[PairSample] = []  # the result's worst demands, at this step


class DemandImpact(msgspec.Struct, frozen=True, kw_only=True):
    """A demand at the step where the scenario hurt it most, against the baseline."""

    src: str
    dst: str
    at_s: float
    rate_bps: float
    baseline_loss_pct: float
    loss_pct: float
    lost_bps_increase: float
    baseline_latency_ms: float | None  # None: no such demand, or no path, at baseline
    latency_ms: float | None  # None: no path at that step

    @property
    def latency_increase_ms(self) -> float | None:
        if self.latency_ms is None or self.baseline_latency_ms is None:
            return None
        return self.latency_ms - self.baseline_latency_ms


class ScenarioResult(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    kind: str
    tier: Literal["model"] = "model"
    started_ts: float
    baseline: StepSummary
    steps: list[StepSummary]
    worst_link: LinkUtil | None  # the highest utilisation at any step
    worst_at_s: float
    newly_overloaded: list[str]  # directions above 100% at some step, not at baseline
    unreachable: int  # the most demands without a path at any step
    max_loss_pct: float  # the highest share of all traffic lost at any step
    worst_by_loss: list[DemandImpact]  # most bit/s lost beyond the baseline, first
    worst_by_latency: list[DemandImpact]  # largest latency increase, first
    tracked_pairs: list[tuple[str, str]]  # sampled at every step: the worst, the heaviest
    restored: bool  # the network after the last step is the network before


class Probe(msgspec.Struct, frozen=True, kw_only=True):
    """Probes of one demand pair at one step of a lab run."""

    src: str
    dst: str
    rtt_ms: float | None  # ping average; None when no echo came back
    rtt_mdev_ms: float | None
    ping_loss_pct: float
    throughput_bps: float | None = None  # iperf3 TCP; None when not measured
    udp_loss_pct: float | None = None  # iperf3 UDP at the demand's scaled rate
    error: str = ""  # why an iperf3 probe could not measure


class LabStep(msgspec.Struct, frozen=True, kw_only=True):
    at_s: float
    ts: float
    label: str
    changes: list[str]  # what the lab did
    converged: bool
    seconds: float  # until the lab's RIBs agreed with the model
    routes: int
    agreement: float  # share of routes where lab and model agree
    differences: int  # routes that still differed at the end of the step
    probes: list[Probe] = []


class LabResult(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    kind: str
    tier: Literal["lab"] = "lab"
    lab_id: str
    started_ts: float
    baseline_agreement: float  # the lab's RIBs against the model before the first step
    baseline: list[Probe]
    steps: list[LabStep]
    restored: bool  # state back as before, and the lab's RIBs agree with it
