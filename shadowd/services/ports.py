"""What the predictor needs from the rest of the daemon, as small interfaces: the model
(``ModelShadow`` is it, as it is) and the lab (``MirrorLab`` over the ``LabMirror``).

Unit tests hand the predictor fakes of these instead (``tests/unit/test_predict_service``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from shadowd.core.events import Direction
from shadowd.core.state import State
from shadowd.lab.lab import Lab
from shadowd.predict.extreme import LinkView, WorstCases
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import LabResult, ScenarioResult
from shadowd.scenario.run import run_model
from shadowd.services.labrun import ProbeSettings, run_lab
from shadowd.services.mirror import LabMirror

RunModel = Callable[[Scenario, State, float], Awaitable[ScenarioResult]]


class ModelPort(Protocol):
    async def views(self, state: State,
                    keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
        """Each link direction at ``state``'s log position (``state``: a fork the caller
        took): load, worst case, SRLGs."""
        ...

    async def worst_cases(self) -> WorstCases:
        """The worst cases of the model as it is now."""
        ...


class LabPort(Protocol):
    def up(self) -> bool: ...

    async def run(self, scenario: Scenario, state: State, ts: float,
                  model: ScenarioResult) -> LabResult | None:
        """The scenario in the lab (``None``: the lab is not up)."""
        ...


async def model_in_thread(scenario: Scenario, state: State, ts: float) -> ScenarioResult:
    """``run_model`` off the event loop: ``state`` is a fork nobody else changes."""
    return await asyncio.to_thread(run_model, scenario, state, ts=ts)


class MirrorLab:
    """``LabPort`` over the lab mirror: a run has the lab to itself, then the mirror
    follows the log again."""

    def __init__(self, mirror: LabMirror, *, timeout_s: float,
                 probes: ProbeSettings | None = None) -> None:
        self._mirror, self._timeout, self._probes = mirror, timeout_s, probes

    def up(self) -> bool:
        return self._mirror.status().lab.up

    async def run(self, scenario: Scenario, state: State, ts: float,
                  model: ScenarioResult) -> LabResult | None:
        async def in_lab(lab: Lab) -> LabResult:
            return await run_lab(lab, scenario, state, ts=ts, model=model, probes=self._probes,
                                 timeout_s=self._timeout)

        return await self._mirror.run_exclusive(in_lab)
