"""Run a scenario in the lab tier: the same timeline through real FRR routers, with probes.

``run_lab(lab, scenario, state)`` takes a running ``Lab`` that mirrors ``state`` and, on a
copy of ``state``, goes through the scenario's timeline with ``shadowd.services.drill.run_steps``:
each entry's events change the lab (a link down is a veth down, a capacity a tc rate, a
failed router's daemons stop; demands change nothing in the lab) and the step lasts until
the lab's RIBs agree with the model's routes for the new state. The timeline's offsets
are recorded, not waited for: steps follow each other as fast as the lab converges.

After the baseline and after each step, a few demand pairs are probed between the
routers' loopbacks (``shadowd.lab.probe``): ping for round trip and reachability, then,
with ``iperf_s`` > 0 and an echo back, one TCP flow for throughput and one UDP flow at the
demand's rate times the lab's ``scale`` (as link capacities are scaled) for loss. The
pairs are the model run's tracked demands, the most affected first, so
``shadowd.scenario.diff.diff`` can set both tiers side by side.

The timeline ends with its restorations, so the lab ends as ``state`` asks; if the run
fails half-way, the lab is reconciled back to ``state`` before the error propagates.
This module is the shell around the pure scenario code: it does the lab's I/O.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass

import msgspec

from shadowd.core.state import State, view_digest
from shadowd.lab import probe
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LabError, LabPlan, plan
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import LabResult, LabStep, PairSample, Probe, ScenarioResult
from shadowd.scenario.run import run_model
from shadowd.scenario.timeline import label, timeline
from shadowd.services.drill import Step, StepResult, run_steps

MIN_UDP_BPS = 64e3
MAX_UDP_BPS = 100e6


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    pairs: int = 3  # how many of the model's tracked demands to probe
    ping_count: int = 5
    ping_interval_s: float = 0.1
    iperf_s: int = 1  # seconds of TCP and of UDP per pair; 0: ping only
    port: int = 5201


async def run_lab(lab: Lab, scenario: Scenario, state: State, *, ts: float = 0.0,
                  model: ScenarioResult | None = None,
                  probes: ProbeSettings | None = None,
                  timeout_s: float = 60.0) -> LabResult:
    """The scenario on ``lab`` (which mirrors ``state``; ``state`` is not changed).

    ``model``: the model run of the same scenario to take the probe pairs and rates from
    (computed here when not given). ``timeout_s`` bounds each step's convergence."""
    settings = probes if probes is not None else ProbeSettings()
    _require_tools(settings)
    model = model if model is not None else run_model(scenario, state, ts=ts)
    work = state.fork()
    steps = timeline(scenario, work, ts=ts)
    if [t for t, _ in steps] != [s.at_s for s in model.steps]:
        raise ValueError(f"the model result is not a run of this timeline of {scenario.name!r}")
    pairs = model.tracked_pairs[:settings.pairs]
    try:
        before = await _step(lab, work, Step(name="baseline", events=[]), timeout_s)
        baseline = await _probe_all(lab, pairs, model.baseline.tracked, settings)
        done = []
        for (at_s, events), summary in zip(steps, model.steps, strict=True):
            result = await _step(lab, work, Step(name=label(events), events=events), timeout_s)
            found = await _probe_all(lab, pairs, summary.tracked, settings)
            done.append(_lab_step(result, at_s, ts, found))
    except BaseException:
        with contextlib.suppress(Exception):
            await lab.apply(state)
        raise
    restored = (view_digest(work) == view_digest(state) and all_converged(done[-1:])
                and _plan(lab) == plan(state, lab.settings, _plan(lab)))
    return LabResult(scenario=scenario.name, kind=scenario.kind, lab_id=lab.settings.lab_id,
                     started_ts=ts, baseline_agreement=before.agreement, baseline=baseline,
                     steps=done, restored=restored)


def all_converged(steps: list[LabStep]) -> bool:
    return all(s.converged and s.agreement == 1.0 for s in steps)


async def _step(lab: Lab, work: State, step: Step, timeout_s: float) -> StepResult:
    [result] = await run_steps(lab, work, [step], timeout_s=timeout_s)
    return result


def _lab_step(result: StepResult, at_s: float, ts: float, probes: list[Probe]) -> LabStep:
    return LabStep(at_s=at_s, ts=ts + at_s, label=result.name, changes=result.changes,
                   converged=result.converged, seconds=result.seconds, routes=result.routes,
                   agreement=result.agreement,
                   differences=round(result.routes * (1.0 - result.agreement)),
                   probes=probes)


def _plan(lab: Lab) -> LabPlan:
    if lab.plan is None:
        raise LabError(f"lab {lab.settings.lab_id} is not up")
    return lab.plan


def _require_tools(settings: ProbeSettings) -> None:
    """Missing tools are an error up front, not a run of pairs that look unreachable."""
    for tool in ("ping", "ip") + (("iperf3", "ss") if settings.iperf_s else ()):
        if shutil.which(tool) is None:
            raise probe.ProbeError(tool, "", f"not installed: apt-get install "
                                   f"{probe.PACKAGES[tool]}")


async def _probe_all(lab: Lab, pairs: list[tuple[str, str]], samples: list[PairSample],
                     settings: ProbeSettings) -> list[Probe]:
    rates = {(s.src, s.dst): s.rate_bps for s in samples}
    return [await _probe(lab, src, dst, rates.get((src, dst)), settings) for src, dst in pairs]


async def _probe(lab: Lab, src: str, dst: str, rate_bps: float | None,
                 settings: ProbeSettings) -> Probe:
    routers = _plan(lab).routers
    a, b = routers[src], routers[dst]
    with contextlib.suppress(probe.ProbeError):  # settles ARP and FIB; its result is not kept
        await probe.rtt(a.ns, b.loopback, count=1, wait_s=0.5)
    try:
        echo = await probe.rtt(a.ns, b.loopback, count=settings.ping_count,
                               interval_s=settings.ping_interval_s)
    except probe.ProbeError as err:  # "Network is unreachable": no route at all
        return Probe(src=src, dst=dst, rtt_ms=None, rtt_mdev_ms=None, ping_loss_pct=100.0,
                     error=err.reason)
    found = Probe(src=src, dst=dst, rtt_ms=echo.avg_ms, rtt_mdev_ms=echo.mdev_ms,
                  ping_loss_pct=echo.loss_pct)
    if settings.iperf_s <= 0 or echo.received == 0:
        return found
    try:
        flow = await probe.throughput(a.ns, b.ns, b.loopback, seconds=settings.iperf_s,
                                      port=settings.port)
        found = msgspec.structs.replace(found, throughput_bps=flow.bps)
        if rate_bps:
            offered = min(max(rate_bps * lab.settings.scale, MIN_UDP_BPS), MAX_UDP_BPS)
            udp = await probe.loss(a.ns, b.ns, b.loopback, offered_bps=offered,
                                   seconds=settings.iperf_s, port=settings.port)
            found = msgspec.structs.replace(found, udp_loss_pct=udp.loss_pct)
    except probe.ProbeError as err:
        found = msgspec.structs.replace(found, error=err.reason)
    return found
