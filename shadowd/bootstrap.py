"""Every part of the daemon, built once from its config, in dependency order: ``bootstrap``.

Recovery comes first: the newest snapshot and the log's tail give the state, the broker
offsets to resume from and the forecaster's watch. Then each part is built over that
state and handed only what it uses:

- ``ingest``: the one intake (telemetry and shadowd's own records), and its listener,
  ``fan_out``, which hands every accepted batch to the model, the lab mirror, the
  predictor, the policies and the guide, in that order;
- ``model`` (``ModelShadow``): the engine and its sweeps, the one path every reader takes;
- ``lab``: the FRR lab mirror, following the model;
- ``recorder``: stamps shadowd's records (log time) and appends them through ``ingest``;
- ``predictor``, ``policies`` (with its driver and gates: FRR in production, or the dry
  run whose gates ask the model), and ``guide`` for ``shadowd run --guided``.

The predictor resumes the spikes the log owes runs before any new event is accepted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shadowd import logs
from shadowd.config import Config
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, digest
from shadowd.drivers.base import Driver
from shadowd.drivers.dryrun import DryRunDriver
from shadowd.drivers.frr import FrrDriver
from shadowd.ingest.deadletter import FILE_NAME as DEAD_LETTERS
from shadowd.ingest.deadletter import DeadLetterFile
from shadowd.ingest.pipeline import Ingest
from shadowd.lab.plan import LabSettings
from shadowd.policy.render import AgentLinkTarget, Target
from shadowd.predict.forecast import ForecastParams
from shadowd.predict.watch import SpikeWatch
from shadowd.report.write import write_report
from shadowd.services import report as reporting
from shadowd.services.guide import Guide, Report
from shadowd.services.mirror import LabMirror, ModelView, model_view
from shadowd.services.model import ModelShadow
from shadowd.services.monitor import Monitor, ProbeMonitor, ShadowMonitor, observed_max_util
from shadowd.services.policy import Policies
from shadowd.services.ports import MirrorLab
from shadowd.services.predict_restore import WatchRecovery
from shadowd.services.predictor import Predictor, watch_settings
from shadowd.services.recorder import Recorder
from shadowd.services.validate import MirrorValidator
from shadowd.store.backend import Backend, open_backend
from shadowd.store.recovery import SNAPSHOT_DIR
from shadowd.store.snapshot import Offsets, SnapshotStore

log = logs.get_logger()

Listener = Callable[[list[AnyEvent]], None]


class FanOut:
    """The intake's listener: each accepted batch to every part that follows the log."""

    def __init__(self) -> None:
        self.listeners: Sequence[Listener] = ()

    def __call__(self, events: list[AnyEvent]) -> None:
        for listener in self.listeners:
            listener(events)


@dataclass(frozen=True, slots=True)
class Parts:
    snapshots: SnapshotStore
    backend: Backend
    start_offsets: Offsets  # where each broker source resumes
    ingest: Ingest
    model: ModelShadow
    lab: LabMirror
    predictor: Predictor
    policies: Policies
    guide: Guide | None
    dead_letters: DeadLetterFile


async def bootstrap(config: Config, *, config_path: Path | None = None,
                    guided: bool = False) -> Parts:
    state_dir = config.state_path
    snapshots = SnapshotStore(state_dir / SNAPSHOT_DIR, keep=config.log.keep_snapshots)
    watch = WatchRecovery(snapshots, watch_settings(config.predict), ForecastParams())
    state, offsets, backend, problems = await open_backend(
        state_dir, config.log, watch if config.predict.enabled else None)
    for item in problems:
        logs.alert(log, item.kind, item.severity, item.message, **item.fields)
    fan_out = FanOut()
    ingest = Ingest(state, backend.committer, on_accepted=fan_out,
                    max_in_flight=2 * config.log.max_batch_events)
    model = ModelShadow(state)
    lab = _lab_mirror(config, model)
    recorder = Recorder(state, ingest.append)
    predictor = _predictor(config, config_path, state, recorder=recorder, model=model,
                           lab=lab, watch=watch.watch)
    predictor.resume()  # the spikes the log owes runs: before any new event
    policies, gate = _policies(config, state, lab, recorder)
    guide = Guide(state, policies, _reporter(config, state, model, predictor),
                  predict=gate.predict if gate else None) if guided else None
    fan_out.listeners = (model.note, lab.note, predictor.note, policies.note,
                         *([guide.note] if guide is not None else []))
    log.info("shadow recovered", seq=state.lsn, digest=digest(state),
             routers=len(state.routers), links=len(state.links), state_dir=str(state_dir),
             log_backend=backend.name)
    return Parts(snapshots=snapshots, backend=backend, start_offsets=offsets, ingest=ingest,
                 model=model, lab=lab, predictor=predictor,
                 policies=policies, guide=guide,
                 dead_letters=DeadLetterFile(state_dir / DEAD_LETTERS))


def _lab_mirror(config: Config, model: ModelShadow) -> LabMirror:
    c = config.lab

    async def view() -> ModelView:
        return await model.read(model_view)

    return LabMirror(LabSettings(lab_id=c.id, igp=c.igp, scale=c.scale), view,
                     enabled=c.enabled, converge_timeout_s=c.converge_timeout_s)


def _predictor(config: Config, config_path: Path | None, state: State, *, recorder: Recorder,
               model: ModelShadow, lab: LabMirror, watch: SpikeWatch | None) -> Predictor:
    c = config.predict
    directory = Path(c.scenarios_dir)
    if not directory.is_absolute() and config_path is not None:
        directory = (config_path.parent / directory).resolve()
    if c.enabled and not directory.is_dir():
        logs.alert(log, "scenario_library_missing", "warning", "scenario library missing",
                   path=str(directory), config=str(config_path or ""),
                   key="predict.scenarios_dir")
    return Predictor(c, state, recorder=recorder, model=model,
                     lab=MirrorLab(lab, timeout_s=config.lab.converge_timeout_s),
                     scenarios_dir=directory, watch=watch)


def _policies(config: Config, state: State, lab: LabMirror,
              recorder: Recorder) -> tuple[Policies, ShadowMonitor | None]:
    """The policy service, and the dry run's gates (None in production)."""
    c = config.policy
    driver: Driver
    monitor: Monitor
    gate = None
    if c.driver == "frr":
        pathspaces = {r.name: r.pathspace if r.pathspace is not None else r.namespace
                      for r in c.routers}
        target: Target = AgentLinkTarget(pathspaces)
        driver = FrrDriver(target, c.igp, config.state_path / "rollouts")
        if not c.probes:
            log.info("rollout gates watch utilisation only: no [[policy.probes]] configured")
        monitor = ProbeMonitor(c.probes, lambda: observed_max_util(state))
    else:  # links spelled by their ids: what it would do, readable without production
        dry = DryRunDriver(config.state_path / c.dry_run_dir, igp=c.igp)
        driver, target = dry, dry.target
        log.info("dry run: rollout gates measure what the shadow predicts for each step"
                 + (" ([[policy.probes]] are not used)" if c.probes else ""))
        monitor = gate = ShadowMonitor(lambda: state, dry.in_effect)
    validator = MirrorValidator(lab, timeout_s=config.lab.converge_timeout_s)
    policies = Policies(c, state, recorder=recorder, driver=driver, monitor=monitor,
                        target=lambda: target, lab=validator, running=driver.running)
    return policies, gate


def _reporter(config: Config, state: State, model: ModelShadow,
              predictor: Predictor) -> Report:
    async def write() -> Path:
        """The report of the shadow as it is now, under STATE_DIR/report/."""
        data = await reporting.collect(state, model, predictor, title="shadowd", forecasts=8,
                                       runs=100, generated_ts=time.time())
        return await asyncio.to_thread(write_report, data, config.state_path / "report")

    return write
