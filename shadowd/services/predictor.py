"""The predictor: forecasts from the log, and scenario runs in the shadow before each spike.

The shell around the pure parts (``feed``: the forecaster fed at log time; ``extreme``:
worst cases and demand factors; ``scheduler``: what to inject, when; ``records``: what
is logged); each run itself, in the model or the lab, recorded and logged, is
``scenario_runs``. Four entry points, all on the daemon's event loop:

- ``note(events)``, the daemon's accepted-events hook: synchronous and cheap. It feeds the
  forecaster through ``watch``, which at most every ``check_every_s`` of log time asks it
  for new spikes; it reserves each new spike's injection (``peak - lead_s``, never before
  now); and it hands out the injections whose time the log has reached. Both take a fork
  of the state *there*, so what a job works on is the state at that log time, however
  late the worker gets to it (a replay at full speed runs ahead of the workers; live
  telemetry does not).
- ``resume()``, once on start, after recovery and before the hook: the injections of
  the spikes recorded before the restart whose runs are not (below).
- ``run()``, the worker task, one job at a time in order: for a spike, the extreme case
  (worst case over single link/router/SRLG failures x the demand factor) on its fork,
  the ``SpikePredicted`` record, the ``predicted_overload`` alert, the choice of
  scenarios; for a resumed spike, the choice of its scenarios; for an injection, each
  scenario in the model on its fork with every demand scaled so that the spiking link
  carries its predicted peak (the factor is taken from its load at injection time: it
  has grown since the prediction), a ``ScenarioRan`` record and one log line per run.
- ``run_lab()``, the lab worker: the same runs in the FRR lab when it is up, one at a
  time (they take seconds to minutes); a second ``ScenarioRan`` (tier ``lab``) each.

The watch (forecaster, its tables, the log clock, the next check, and the open spikes:
those recorded whose model runs are not) is saved with each snapshot of the state and
restored on start (``saved()``; ``predict_restore``), so a restart does not make the
forecaster relearn a season. The open spikes are kept from the log's own records, which
recovery feeds the watch as the hook did, so after recovery they are every spike the
log owes runs. ``resume()`` reserves their injections again (the forecaster, its alert
gating restored, will not predict them a second time) and queues the choice of their
scenarios from the model as it is then, with the worst failure their records named;
their runs name the recorded seqs, and no second ``SpikePredicted`` is made. Those
whose peak the log clock has passed are dropped, in one warning.

Records go through ``append`` (the daemon admits them through its ingest: the same
validation, fold and group committer as telemetry) under the source ``shadowd``, with
seqs continuing from the state's position of that source. Production is never touched:
every run works on a fork, and the lab is the shadow's own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from shadowd import logs
from shadowd.config import PredictConfig
from shadowd.core.errors import NotFound, Unavailable
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, fold
from shadowd.predict.extreme import LinkView, demand_factor, scaled_demands
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.forecast import ForecastParams, PredictedSpike
from shadowd.predict.open_spikes import OpenSpike
from shadowd.predict.records import Extreme, RunContext, spike_record
from shadowd.predict.scheduler import Injection, Scheduler, SchedulerSettings, SpikeFacts
from shadowd.predict.table import ForecastRow, forecast_rows
from shadowd.predict.watch import SpikeWatch, WatchSettings, WatchState
from shadowd.scenario.library import (
    Library,
    Scenario,
    check_library,
    validate,
)
from shadowd.scenario_files import parse_library
from shadowd.services.ports import LabPort, ModelPort, RunModel, model_in_thread
from shadowd.services.predict_jobs import (
    Counters,
    Job,
    LabJob,
    ManualRun,
    PendingSpike,
    ResumeJob,
    RunJob,
    SpikeJob,
)
from shadowd.services.recorder import Recorder
from shadowd.services.scenario_runs import ScenarioRunner, iso

log = logs.get_logger()

LAB_BACKLOG: Final = 8  # lab runs waiting beyond this are skipped (the lab is slow)
SCALING_SOURCE: Final = "predict"  # the scaled demands folded into a run's fork


class NoLibrary(Unavailable):
    """The configured scenario directory is not there."""


class Predictor:
    def __init__(self, config: PredictConfig, state: State, *, recorder: Recorder,
                 model: ModelPort, lab: LabPort | None = None, scenarios_dir: Path,
                 run_model: RunModel = model_in_thread,
                 params: ForecastParams | None = None, watch: SpikeWatch | None = None) -> None:
        """``watch``: one recovery rebuilt on ``state`` (else a fresh one with ``params``)."""
        self.config = config
        self.scenarios_dir = scenarios_dir
        self._state = state  # the daemon's live state: read, forked; never changed here
        self._recorder, self._model, self._lab = recorder, model, lab
        self.watch = watch if watch is not None else SpikeWatch(LinkForecasts(state, params),
                                                                watch_settings(config))
        self.feed = self.watch.feed
        self.scheduler = Scheduler(SchedulerSettings(
            lead_s=config.lead_s, max_runs=config.max_runs_per_spike,
            surge_factor=config.surge_factor, duration_s=config.run_duration_s))
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._in_hand = 0  # jobs queued or running
        self._lab_jobs: asyncio.Queue[LabJob] = asyncio.Queue(LAB_BACKLOG)
        self._spikes: dict[tuple[str, str, float], PendingSpike] = {}
        self.counters = Counters()
        self._runner = ScenarioRunner(recorder, run_model, keep=config.keep_runs,
                                      counters=self.counters)
        self.runs = self._runner.runs

    # --- the hook (synchronous) ----------------------------------------------------------

    def note(self, events: list[AnyEvent]) -> None:
        """Events the log just accepted, in order (the daemon's accepted-events hook)."""
        if not self.config.enabled:
            return
        spikes = self.watch.note(events)
        now = self.feed.clock
        fork = self._expect(now, spikes) if spikes else None
        self._hand_out(now, fork)
        if not self._in_hand:  # no run to come for a spike whose peak has passed
            self.watch.open.expire(now)

    def resume(self) -> None:
        """Once, on start after recovery, before the hook is called: reserve the injection
        of each spike the log owes runs (the watch's open spikes), and queue the choice
        of its scenarios; drop, and say so, those whose peak the log clock has passed
        (and any on a link the network no longer has)."""
        if not self.config.enabled:
            return
        now = self.feed.clock
        self._dropped(self.watch.open.expire(now), "their peaks passed before their runs")
        found, gone = [], []
        for spike in self.watch.open.snapshot():
            if spike.link not in self._state.links:
                gone.append(spike)  # left to expire at its peak
                continue
            injection = self.scheduler.expect(spike.key, spike.peak_ts, now)
            if injection is not None:
                found.append((spike, injection))
        self._dropped(gone, "their links are gone")
        fork = None
        if found:
            fork = self._state.fork()
            self._queue(ResumeJob(found, fork))
        self._hand_out(now, fork)

    def _dropped(self, spikes: list[OpenSpike], why: str) -> None:
        if spikes:
            self.counters.dropped += len(spikes)
            log.warning(f"spikes dropped after restart: {why}", count=len(spikes),
                        seqs=[s.seq for s in spikes])

    def _queue(self, job: Job) -> None:
        self._in_hand += 1
        self._jobs.put_nowait(job)

    def _hand_out(self, now: float, fork: State | None) -> None:
        """Queue the injections due at ``now`` (on ``fork``, the state now, if taken)."""
        due = self.scheduler.due(now)
        if due:
            fork = fork if fork is not None else self._state.fork()
            for injection in due:
                link, direction, _ = injection.key
                self._queue(RunJob(injection, fork, now, self.feed.latest(link, direction)))

    def _expect(self, now: float, spikes: list[PredictedSpike]) -> State | None:
        found = []
        for spike in spikes:
            key = (spike.link, spike.direction, spike.peak_at)
            injection = self.scheduler.expect(key, spike.peak_at, now)
            if injection is not None:
                found.append((spike, injection, self.feed.latest(spike.link, spike.direction)))
        if not found:
            return None
        fork = self._state.fork()
        self._queue(SpikeJob(found, fork, now))
        return fork

    def saved(self) -> WatchState | None:
        """The watch as it is now, at the state's lsn (the hook has fed it every event up
        to there): for a snapshot taken at this same moment. None while predictions are
        off (the watch is not fed then)."""
        return self.watch.snapshot(self._state.lsn) if self.config.enabled else None

    # --- the workers ---------------------------------------------------------------------

    async def run(self) -> None:
        """Spike and injection jobs, one at a time, in the order the log made them."""
        while True:
            job = await self._jobs.get()
            try:
                if isinstance(job, SpikeJob):
                    await self._spike_job(job)
                elif isinstance(job, ResumeJob):
                    await self._resume_job(job)
                else:
                    await self._run_job(job)
            except Exception as err:  # one job failing must not stop predictions
                log.error("prediction job failed", job=type(job).__name__.strip("_"),
                          error=f"{type(err).__name__}: {err}")
            finally:
                self._in_hand -= 1
                self._jobs.task_done()

    async def run_lab(self) -> None:
        """Lab runs, one at a time (each has the lab to itself)."""
        while True:
            job = await self._lab_jobs.get()
            try:
                assert self._lab is not None, "lab runs are queued only with a lab"
                await self._runner.in_lab(self._lab, job.scenario, job.state, job.ctx, job.model)
            finally:
                self._lab_jobs.task_done()

    async def settle(self) -> None:
        """Return once every job queued so far is done (the workers must be running)."""
        await self._jobs.join()
        await self._lab_jobs.join()

    async def _spike_job(self, job: SpikeJob) -> None:
        keys = [(spike.link, spike.direction) for spike, _, _ in job.spikes]
        views = await self._model.views(job.state, keys)
        for (spike, injection, observed), view in zip(job.spikes, views, strict=True):
            self._spike(spike, injection, observed, view, job.state.lsn)

    def _spike(self, spike: PredictedSpike, injection: Injection, observed: float,
               view: LinkView, at_lsn: int) -> None:
        factor = demand_factor(spike.upper_bps, observed if observed > 0 else view.load_bps,
                               self.config.max_factor)
        extreme = Extreme(factor=factor, worst_failure=view.worst_failure,
                          extreme_bps=view.wc_load_bps * factor, capacity_bps=view.capacity_bps)
        record = self._recorder.stamp(lambda s: spike_record(s, spike, extreme, at_lsn),
                                      ts=spike.made_at)
        self._spikes[injection.key] = PendingSpike(seq=record.seq, predicted_bps=spike.upper_bps,
                                             model_bps=view.load_bps)
        scenarios = self.scheduler.plan(injection, _facts(view, view.worst_failure))
        self.counters.spikes += 1
        log.info("spike predicted", link=spike.link, direction=spike.direction,
                 made_at=iso(spike.made_at), peak=iso(spike.peak_at),
                 predicted_util=round(spike.utilization, 3), factor=round(factor, 3),
                 worst_failure=view.worst_failure, extreme_util=round(extreme.util, 3),
                 inject_at=iso(injection.inject_at), scenarios=[s.name for s in scenarios],
                 seq=record.seq)
        if extreme.util > self.config.threshold_util:
            self.counters.alerts += 1
            logs.alert(log, "predicted_overload", "warning",
                       "a link is predicted over its threshold under its worst failure",
                       link=spike.link, direction=spike.direction,
                       predicted_ts=iso(spike.peak_at), worst_failure=view.worst_failure,
                       predicted_util=round(spike.utilization, 3),
                       extreme_util=round(extreme.util, 3))
        self._recorder.append(record)  # last: the log hands it to ``note`` with all done

    async def _resume_job(self, job: ResumeJob) -> None:
        """A spike recorded before the restart: its scenarios chosen as ``_spike`` does,
        from the model now but with the worst failure its record (and alert) named."""
        keys = [(spike.link, spike.direction) for spike, _ in job.spikes]
        views = await self._model.views(job.state, keys)
        for (spike, injection), view in zip(job.spikes, views, strict=True):
            self._spikes[injection.key] = PendingSpike(seq=spike.seq,
                                                 predicted_bps=spike.predicted_bps,
                                                 model_bps=view.load_bps)
            worst = spike.worst_failure or view.worst_failure
            scenarios = self.scheduler.plan(injection, _facts(view, worst))
            self.counters.resumed += 1
            log.info("spike resumed after restart", link=spike.link,
                     direction=spike.direction, peak=iso(spike.peak_ts),
                     inject_at=iso(injection.inject_at), seq=spike.seq,
                     worst_failure=worst, scenarios=[s.name for s in scenarios])

    async def _run_job(self, job: RunJob) -> None:
        injection = job.injection
        spike = self._spikes.pop(injection.key, None)
        if spike is None or injection.scenarios is None:  # its spike job failed: logged
            return
        # The load has moved on since the prediction: scale from where it is now.
        factor = demand_factor(spike.predicted_bps,
                               job.observed if job.observed > 0 else spike.model_bps,
                               self.config.max_factor)
        ctx = RunContext(trigger=injection.trigger, injected_ts=job.at,
                         spike_ts=injection.peak_ts, spike_seq=spike.seq, factor=factor,
                         at_lsn=job.state.lsn)
        work = job.state.fork()
        fold(scaled_demands(work, factor, source=SCALING_SOURCE, ts=job.at), work)
        if job.at >= injection.peak_ts:
            self.counters.late_runs += len(injection.scenarios)
        for scenario in injection.scenarios:
            _, result = await self._runner.in_model(scenario, work, ctx)
            if result is not None and self.config.lab and self._lab is not None \
                    and self._lab.up():
                self._queue_lab(LabJob(scenario, work, ctx, result))

    def _queue_lab(self, job: LabJob) -> None:
        try:
            self._lab_jobs.put_nowait(job)
        except asyncio.QueueFull:
            self.counters.lab_skipped += 1  # the lab takes seconds per run: said, not alerted
            log.info("lab busy: run skipped in the lab", scenario=job.scenario.name,
                     trigger=job.ctx.trigger, backlog=LAB_BACKLOG)

    # --- control requests ----------------------------------------------------------------

    async def library(self, *, checked: bool = True) -> Library:
        """The scenario library; ``checked``: each file also against the current network
        (a scenario naming an unknown link is then an error of its file). Files are read
        and parsed in a worker thread, so a slow disk or a big file never stalls the
        loop; the check against the state runs here, where the state is."""
        if not self.scenarios_dir.is_dir():
            raise NoLibrary(f"the scenario library {self.scenarios_dir} is not a directory "
                            "([predict] scenarios_dir)")
        library = await asyncio.to_thread(parse_library, self.scenarios_dir)
        return check_library(library, self._state) if checked else library

    async def scenario(self, name: str) -> Scenario:
        """The library's scenario ``name``, whether or not it fits the network now."""
        library = await self.library(checked=False)
        try:
            return library.get(name)
        except KeyError:
            raise NotFound(self._not_found(name, library)) from None

    async def run_manual(self, name: str, *, lab: bool = False) -> ManualRun:
        """Run a library scenario now, on the current state (no scaling). Raises
        ``NotFound``, or ``ScenarioError`` (file, line, key) when it does not fit."""
        scenario = await self.scenario(name)
        state = self._state.fork()
        validate(scenario, state)
        ctx = RunContext(trigger="manual", injected_ts=self.feed.clock, at_lsn=state.lsn)
        record, result = await self._runner.in_model(scenario, state, ctx)
        if result is None or not lab:
            return ManualRun(model=record, lab=None, lab_error="")
        if self._lab is None:
            return ManualRun(model=record, lab=None, lab_error="this shadowd has no lab")
        lab_run, error = await self._runner.in_lab(self._lab, scenario, state, ctx, result)
        return ManualRun(model=record, lab=lab_run, lab_error=error)

    async def forecast(self, link: str | None, top: int) -> list[ForecastRow]:
        if link is not None and link not in self._state.links:
            raise NotFound(f"unknown link {link!r}; `shadowctl topology` lists them")
        wc = await self._model.worst_cases()
        return forecast_rows(self._state, self.feed, wc, horizon_s=self.config.horizon_s,
                             max_factor=self.config.max_factor, link=link, top=top)

    def progress(self) -> dict[str, int]:
        c = self.counters
        return {"spikes": c.spikes, "scenario_runs": c.runs, "lab_runs": c.lab_runs,
                "lab_runs_skipped": c.lab_skipped, "failed_runs": c.failed_runs,
                "predicted_overloads": c.alerts, "pending_injections": self.scheduler.pending}


    def _not_found(self, name: str, library: Library) -> str:
        known = ", ".join(library.names) or "none"
        broken = (f"; {len(library.errors)} file(s) could not be loaded (`shadowctl "
                  "scenarios list` says why)") if library.errors else ""
        return f"no scenario {name!r} in {self.scenarios_dir}; known: {known}{broken}"


def _facts(view: LinkView, worst_failure: str) -> SpikeFacts:
    return SpikeFacts(link=view.link, direction=view.direction, worst_failure=worst_failure,
                      srlgs=view.srlgs, heaviest_dst=view.heaviest_dst)


def watch_settings(config: PredictConfig) -> WatchSettings:
    return WatchSettings(check_every_s=config.check_every_s, horizon_s=config.horizon_s,
                         threshold_util=config.threshold_util)
