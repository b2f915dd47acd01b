"""The predictor's jobs, as the hook queues them for its workers, and what it counts.

Each job carries a fork of the state taken at the log time it was queued, so a worker
that gets to it late still works on the state of that moment.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowd.core.events import ScenarioRan
from shadowd.core.state import State
from shadowd.predict.forecast import PredictedSpike
from shadowd.predict.open_spikes import OpenSpike
from shadowd.predict.records import RunContext
from shadowd.predict.scheduler import Injection
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import ScenarioResult
from shadowd.services.scenario_runs import RunCounts


@dataclass(frozen=True, slots=True)
class SpikeJob:
    spikes: list[tuple[PredictedSpike, Injection, float]]  # with the load observed then
    state: State  # a fork at the log time of the prediction
    made_at: float


@dataclass(frozen=True, slots=True)
class ResumeJob:
    spikes: list[tuple[OpenSpike, Injection]]  # recorded before a restart, runs to come
    state: State  # a fork at the log time of the restart


@dataclass(frozen=True, slots=True)
class RunJob:
    injection: Injection
    state: State  # a fork at the log time of the injection
    at: float
    observed: float  # the spiking link direction's load then


Job = SpikeJob | ResumeJob | RunJob


@dataclass(frozen=True, slots=True)
class LabJob:
    scenario: Scenario
    state: State
    ctx: RunContext
    model: ScenarioResult


@dataclass(slots=True)
class PendingSpike:
    seq: int  # of its SpikePredicted record
    predicted_bps: float
    model_bps: float  # the model's load on the link when it was predicted (a fallback)


@dataclass(slots=True)
class Counters(RunCounts):
    spikes: int = 0
    alerts: int = 0
    late_runs: int = 0  # injected at or after the spike's peak
    lab_skipped: int = 0
    resumed: int = 0  # spikes recorded before a restart whose runs came after it
    dropped: int = 0  # ... not run: its peak had passed by then, or its link was gone


@dataclass(frozen=True, slots=True)
class ManualRun:
    model: ScenarioRan
    lab: ScenarioRan | None
    lab_error: str
