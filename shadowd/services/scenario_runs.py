"""Scenario runs: one scenario on a state, in the model or in the lab, each recorded.

The predictor's runs before a spike and an operator's manual runs both come here with
the state to run on (a fork: production is never touched) and the run's context. Every
run, whether it worked or failed, is a ``ScenarioRan`` record appended through the
``Recorder`` at log time (the time of the telemetry it ran on), one of the recent ``runs``
(``shadowctl scenarios runs``), a count, and one log line. A failure is said and
recorded, never raised, so the other runs go on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec

from shadowd import logs
from shadowd.core.events import ScenarioRan
from shadowd.core.state import State
from shadowd.predict.records import RunContext, Stamp, failed_record, lab_record, model_record
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import Scenario, validate
from shadowd.scenario.results import ScenarioResult
from shadowd.services.ports import LabPort, RunModel
from shadowd.services.recorder import Recorder

log = logs.get_logger()

LAB_DOWN: Final = "the lab is not up (`shadowctl lab up`)"


@dataclass(slots=True)
class RunCounts:
    runs: int = 0  # in the model
    lab_runs: int = 0
    failed_runs: int = 0  # in either


class ScenarioRunner:
    def __init__(self, recorder: Recorder, run_model: RunModel,
                 *, keep: int, counters: RunCounts) -> None:
        """``keep``: how many recent runs;
        ``counters``: where runs are counted (the predictor's, which count more)."""
        self._recorder, self._run_model = recorder, run_model
        self.runs: deque[ScenarioRan] = deque(maxlen=keep)
        self.counters = counters

    async def in_model(self, scenario: Scenario, state: State,
                       ctx: RunContext) -> tuple[ScenarioRan, ScenarioResult | None]:
        """``scenario`` on ``state`` in the model: its record, and its result (None: it
        failed)."""
        try:
            validate(scenario, state)
            result = await self._run_model(scenario, state, ctx.injected_ts)
        except ScenarioError as err:  # it does not fit the network (any more)
            return self._failed(scenario, ctx, "model", str(err)), None
        except Exception as err:  # a bug: said, recorded, and the other runs go on
            return self._failed(scenario, ctx, "model", f"{type(err).__name__}: {err}"), None
        record = self._record(lambda s: model_record(s, _run_id(s), ctx, result))
        self._ran(record)
        return record, result

    async def in_lab(self, lab: LabPort, scenario: Scenario, state: State, ctx: RunContext,
                     model: ScenarioResult) -> tuple[ScenarioRan | None, str]:
        """The same run in ``lab``, beside the model's: its record (None when the lab is
        not up) and why it did not run there (empty when it did)."""
        try:
            result = await lab.run(scenario, state, ctx.injected_ts, model)
        except Exception as err:  # the lab failing is reported; the mirror rebuilds it
            error = f"{type(err).__name__}: {err}"
            return self._failed(scenario, ctx, "lab", error), error
        if result is None:
            return None, LAB_DOWN
        record = self._record(lambda s: lab_record(s, _run_id(s), ctx, result))
        self._ran(record)
        return record, ""

    def _ran(self, record: ScenarioRan) -> None:
        self.runs.append(record)
        if record.tier == "lab":
            self.counters.lab_runs += 1
        else:
            self.counters.runs += 1
        log.info("scenario run", **_run_fields(record))

    def _failed(self, scenario: Scenario, ctx: RunContext, tier: str,
                error: str) -> ScenarioRan:
        record = self._record(lambda s: failed_record(s, _run_id(s), ctx, scenario,
                                                         tier=tier, error=error))
        self.runs.append(record)
        self.counters.failed_runs += 1
        log.warning("scenario run failed", **_run_fields(record))
        return record

    def _record(self, make: Callable[[Stamp], ScenarioRan]) -> ScenarioRan:
        return self._recorder.record(make)


def iso(ts: float) -> str:
    """A log time as the log lines show it."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_id(stamp: Stamp) -> str:
    return f"run-{stamp.seq}"


def _run_fields(record: ScenarioRan) -> dict[str, object]:
    fields = {k: round(v, 4) if isinstance(v, float) else v
              for k, v in msgspec.structs.asdict(record).items()}
    for key in ("source", "ts"):
        fields.pop(key)
    fields["injected_ts"] = iso(record.injected_ts)
    if record.spike_ts is not None:
        fields["spike_ts"] = iso(record.spike_ts)
    return fields
