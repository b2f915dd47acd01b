"""The composition root: builds every part from the config and runs them in one TaskGroup.

Start-up: recover the state (newest snapshot + log tail), open the log, bind the control
socket, start the sources (feeds), wait until each has subscribed (bounded: a broker that
is down must not keep the daemon from serving), then tell systemd READY=1. The lab mirror
starts with them: with ``[lab] enabled`` it builds the FRR lab in the background (READY
does not wait for FRR to converge; ``shadowctl lab status`` says when it is up) and
follows the log from then on. The predictor (``[predict]``) is fed by the same hook as
the model and the lab: it forecasts every link direction at log time, and before each
predicted spike runs the scenarios that matter in the model (and the lab when it is up);
its records (``spike_predicted``, ``scenario_ran``) join the log under the source
``shadowd`` through the ingest, like telemetry. Each snapshot of the state carries the
predictor's forecasts at the same lsn (a sidecar file), and recovery restores them and
feeds them the log tail, so a restart does not leave the forecaster blind for a season.
SIGTERM/SIGINT stop the sources, take the lab down, flush the log and return; SIGHUP
re-reads the config through the same strict loader.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from pathlib import Path

import msgspec

from shadowd import logs
from shadowd.config import (
    Config,
    KafkaSourceConfig,
    MqttSourceConfig,
    ReplaySourceConfig,
    SourceConfig,
    load_config,
)
from shadowd.control.server import ControlServer
from shadowd.core.errors import ShadowdError
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, digest
from shadowd.drivers.base import Driver
from shadowd.drivers.dryrun import DryRunDriver
from shadowd.drivers.frr import FrrDriver
from shadowd.handlers import DaemonHandlers
from shadowd.ingest.builtin import replay_source
from shadowd.ingest.deadletter import FILE_NAME as DEAD_LETTERS
from shadowd.ingest.deadletter import DeadLetterFile
from shadowd.ingest.differential import Differential
from shadowd.ingest.kafka import KafkaFeed
from shadowd.ingest.mqtt import MqttFeed
from shadowd.ingest.pipeline import Ingest
from shadowd.ingest.source import Feed, ReplayFeed
from shadowd.lab.plan import LabSettings
from shadowd.metrics_source import DaemonMetrics, http_endpoint
from shadowd.notify import Notifier
from shadowd.policy.render import AgentLinkTarget, Target
from shadowd.predict.forecast import ForecastParams
from shadowd.predict.watch import SpikeWatch, WatchState, encode_watch
from shadowd.report.write import write_report
from shadowd.services import report as reporting
from shadowd.services.guide import Guide
from shadowd.services.mirror import LabMirror, ModelView, model_view
from shadowd.services.model import ModelShadow
from shadowd.services.monitor import Monitor, ProbeMonitor, ShadowMonitor, observed_max_util
from shadowd.services.policy import Policies
from shadowd.services.ports import MirrorLab
from shadowd.services.predict_restore import SIDECAR, WatchRecovery
from shadowd.services.predictor import Predictor, watch_settings
from shadowd.services.recorder import Recorder
from shadowd.services.validate import MirrorValidator
from shadowd.store.backend import open_backend
from shadowd.store.recovery import SNAPSHOT_DIR
from shadowd.store.snapshot import Offsets, SnapshotStore

log = logs.get_logger()

FEEDS_READY_TIMEOUT_S = 30.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Stop(Exception):
    """Raised inside the root TaskGroup to cancel every task for an orderly shutdown."""


class Daemon:
    def __init__(
        self, config: Config, *, config_path: Path | None = None, notifier: Notifier | None = None,
        guided: bool = False,
    ) -> None:
        self.config = config
        self._guided = guided
        self._gate: ShadowMonitor | None = None  # the dry run's gates
        self._config_path = config_path
        self._notifier = notifier if notifier is not None else Notifier()
        self._stop = asyncio.Event()
        self._snapshot_due = asyncio.Event()
        self.started = time.monotonic()
        self.feeds: dict[str, Feed] = {}

    async def run(self) -> None:
        state_dir = self.config.state_path
        self.snapshots = SnapshotStore(state_dir / SNAPSHOT_DIR,
                                       keep=self.config.log.keep_snapshots)
        watch = WatchRecovery(self.snapshots, watch_settings(self.config.predict),
                              ForecastParams())
        state, self._start_offsets, self.backend, problems = await open_backend(
            state_dir, self.config.log, watch if self.config.predict.enabled else None)
        for item in problems:
            logs.alert(log, item.kind, item.severity, item.message, **item.fields)
        self.committer = self.backend.committer
        self.ingest = Ingest(state, self.committer, on_accepted=self._accepted,
                             max_in_flight=2 * self.config.log.max_batch_events)
        self.model = ModelShadow(state)
        self.lab = self._lab_mirror()
        self.recorder = Recorder(state, self.ingest.append)
        self.predictor = self._predictor(state, watch.watch)
        self.predictor.resume()  # the spikes the log owes runs: before any new event
        self.policies = self._policies(state)
        self.guide = Guide(state, self.policies, self._write_report,
                           predict=self._gate.predict if self._gate else None) \
            if self._guided else None
        self._last_snapshot = state.lsn
        self.dead_letters = DeadLetterFile(state_dir / DEAD_LETTERS)
        self.metrics = DaemonMetrics(self, self.config.metrics)
        log.info("shadow recovered", seq=state.lsn, digest=digest(state),
                 routers=len(state.routers), links=len(state.links), state_dir=str(state_dir),
                 log_backend=self.backend.name)
        try:
            await self._serve()
        finally:
            self.backend.close()
            self.dead_letters.close()
            log.info("shadowd stopped", seq=self.ingest.state.lsn,
                     durable_seq=self.ingest.durable_lsn)

    async def _serve(self) -> None:
        server = self._control_server()
        self._install_signals()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.committer.run(), name="log.commit")
                tg.create_task(server.serve(), name="control")
                tg.create_task(self._snapshotter(), name="snapshots")
                await server.wait_bound()
                await self._serve_metrics(tg)
                for source in self.config.sources:
                    feed = self._make_feed(source)
                    self.feeds[source.name] = feed
                    tg.create_task(feed.run(), name=f"source.{source.name}")
                tg.create_task(self.lab.run(), name="lab")
                tg.create_task(self.predictor.run(), name="predict")
                tg.create_task(self.predictor.run_lab(), name="predict.lab")
                tg.create_task(self.policies.run(), name="policy")
                if self.guide is not None:
                    tg.create_task(self.guide.run(), name="guide")
                tg.create_task(self._progress(), name="progress")
                tg.create_task(self._watchdog(), name="watchdog")
                await self._feeds_ready()
                self._notifier.ready(f"serving on {self.config.control.socket}")
                log.info("shadowd ready", socket=self.config.control.socket,
                         sources=[s.name for s in self.config.sources])
                await self._stop.wait()
                self._notifier.stopping()
                raise _Stop
        except* _Stop:
            pass
        except* ShadowdError as group:  # e.g. the socket is taken: one clear line, not a tree
            raise group.exceptions[0] from None

    def stop(self) -> None:
        self._stop.set()

    async def _serve_metrics(self, tg: asyncio.TaskGroup) -> None:
        """GET /metrics when ``[metrics] listen`` is set: bound before READY=1."""
        tg.create_task(self.metrics.refresh_worst_case(), name="metrics.worst_case")
        endpoint = http_endpoint(self.config.metrics, self.metrics)
        if endpoint is not None:
            tg.create_task(endpoint.serve(), name="metrics")
            await endpoint.wait_bound()

    def uptime(self) -> float:
        return time.monotonic() - self.started

    # --- tasks -----------------------------------------------------------------------

    def _make_feed(self, config: SourceConfig) -> Feed:
        if isinstance(config, ReplaySourceConfig):
            return ReplayFeed(replay_source(config), self.ingest, self._note_progress,
                              self.guide.source_finished if self.guide is not None else None)
        sink = Differential(self.ingest, self.dead_letters, on_progress=self._note_progress,
                            max_held=config.max_held_batches,
                            resync_retry_s=config.resync_retry_s,
                            max_skew_s=config.max_skew_s)
        if isinstance(config, KafkaSourceConfig):
            return KafkaFeed(config, sink, self._start_offsets.get(config.name))
        assert isinstance(config, MqttSourceConfig)
        return MqttFeed(config, sink)

    async def _feeds_ready(self) -> None:
        try:
            async with asyncio.timeout(FEEDS_READY_TIMEOUT_S):
                for feed in self.feeds.values():
                    await feed.ready.wait()
        except TimeoutError:
            waiting = [name for name, feed in self.feeds.items() if not feed.ready.is_set()]
            log.warning("sources not subscribed yet; serving anyway", sources=waiting)

    def _accepted(self, events: list[AnyEvent]) -> None:
        self.model.note(events)
        self.lab.note(events)
        self.predictor.note(events)
        self.policies.note(events)
        if self.guide is not None:
            self.guide.note(events)

    def _note_progress(self) -> None:
        if self.ingest.state.lsn - self._last_snapshot >= self.config.log.snapshot_every:
            self._snapshot_due.set()

    async def _snapshotter(self) -> None:
        while True:
            await self._snapshot_due.wait()
            self._snapshot_due.clear()
            try:
                await self.snapshot()
            except OSError as err:  # a full disk: the log still holds everything; try later
                logs.alert(log, "disk_full", "critical", "a snapshot cannot be written",
                           path=str(self.snapshots.directory), error=str(err))

    async def snapshot(self) -> tuple[int, Path]:
        """Write a snapshot of the state as it is now, once everything in it is durable."""
        state = self.ingest.state
        frozen, lsn = state.fork(), state.lsn
        predictor = self.predictor.saved()  # at the same lsn: nothing runs in between
        offsets = {name: feed.offsets() for name, feed in self.feeds.items() if feed.offsets()}
        self._last_snapshot = lsn
        await self.committer.wait_durable(lsn)
        path = await asyncio.to_thread(self._save_snapshot, frozen, offsets, predictor)
        log.info("snapshot written", seq=lsn, path=str(path), predictor=predictor is not None)
        return lsn, path

    def _save_snapshot(self, state: State, offsets: Offsets,
                       predictor: WatchState | None) -> Path:
        sidecars = {SIDECAR: encode_watch(predictor)} if predictor is not None else {}
        return self.snapshots.save(state, offsets, sidecars)

    async def _progress(self) -> None:
        last_lsn, last_t = self.ingest.state.lsn, time.monotonic()
        while True:
            await asyncio.sleep(self.config.daemon.progress_interval_s)
            lsn, now = self.ingest.state.lsn, time.monotonic()
            rate = (lsn - last_lsn) / max(now - last_t, 1e-9)
            busiest = await self.model.read(lambda engine: engine.top(1))
            hot = {"busiest_link": f"{busiest[0].src}->{busiest[0].dst}",
                   "busiest_util": round(busiest[0].utilization, 3)} if busiest else {}
            log.info("progress", seq=lsn, durable_seq=self.ingest.durable_lsn,
                     events_per_s=round(rate), **hot, **self._source_progress(),
                     **self.predictor.progress())
            last_lsn, last_t = lsn, now

    def _source_progress(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name, feed in self.feeds.items():
            if not isinstance(feed, ReplayFeed):
                continue
            p = feed.source.progress
            out[f"{name}.trace_time"] = time.strftime("%a %H:%M", time.gmtime(p.trace_ts))
            if p.total:
                out[f"{name}.done_pct"] = round(100 * p.emitted / p.total, 1)
        return out

    async def _watchdog(self) -> None:
        interval = self._notifier.watchdog_interval(self.config.daemon.watchdog_interval_s)
        if interval <= 0:
            return
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)

    # --- wiring ----------------------------------------------------------------------

    def _lab_mirror(self) -> LabMirror:
        c = self.config.lab
        return LabMirror(LabSettings(lab_id=c.id, igp=c.igp, scale=c.scale), self._model_view,
                         enabled=c.enabled, converge_timeout_s=c.converge_timeout_s)

    def _predictor(self, state: State, watch: SpikeWatch | None) -> Predictor:
        c = self.config.predict
        directory = Path(c.scenarios_dir)
        if not directory.is_absolute() and self._config_path is not None:
            directory = (self._config_path.parent / directory).resolve()
        if c.enabled and not directory.is_dir():
            logs.alert(log, "scenario_library_missing", "warning", "scenario library missing",
                       path=str(directory), config=str(self._config_path or ""),
                       key="predict.scenarios_dir")
        return Predictor(c, state, recorder=self.recorder, model=self.model,
                         lab=MirrorLab(self.lab, timeout_s=self.config.lab.converge_timeout_s),
                         scenarios_dir=directory, watch=watch)

    def _policies(self, state: State) -> Policies:
        c = self.config.policy
        driver: Driver
        monitor: Monitor
        if c.driver == "frr":
            pathspaces = {r.name: r.pathspace if r.pathspace is not None else r.namespace
                          for r in c.routers}
            target: Target = AgentLinkTarget(pathspaces)
            driver = FrrDriver(target, c.igp, self.config.state_path / "rollouts")
            if not c.probes:
                log.info("rollout gates watch utilisation only: no [[policy.probes]] "
                         "configured")
            monitor = ProbeMonitor(c.probes, lambda: observed_max_util(self.ingest.state))
        else:  # links spelled by their ids: what it would do, readable without production
            dry = DryRunDriver(self.config.state_path / c.dry_run_dir, igp=c.igp)
            driver, target = dry, dry.target
            log.info("dry run: rollout gates measure what the shadow predicts for each step"
                     + (" ([[policy.probes]] are not used)" if c.probes else ""))
            monitor = self._gate = ShadowMonitor(lambda: self.ingest.state, dry.in_effect)
        lab = MirrorValidator(self.lab, timeout_s=self.config.lab.converge_timeout_s)
        return Policies(c, state, recorder=self.recorder, driver=driver, monitor=monitor,
                        target=lambda: target, lab=lab, running=driver.running)

    async def _write_report(self) -> Path:
        """The report of the shadow as it is now, under STATE_DIR/report/."""
        data = await reporting.collect(self.ingest.state, self.model, self.predictor,
                                    title="shadowd", forecasts=8, runs=100,
                                    generated_ts=time.time())
        return await asyncio.to_thread(write_report, data, self.config.state_path / "report")

    async def _model_view(self) -> ModelView:
        return await self.model.read(model_view)

    def _control_server(self) -> ControlServer:
        c = self.config.control
        return ControlServer(
            c.socket, DaemonHandlers(self), mode=c.mode, group=c.group or None,
            allowed_uids=c.allowed_uids, allowed_gids=c.allowed_gids,
            max_request_bytes=c.max_request_bytes, request_timeout_s=c.request_timeout_s,
            max_connections=c.max_connections, max_unread_bytes=c.max_unread_bytes,
        )

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload)
        _children_forget_signals()

    def _reload(self) -> None:
        if self._config_path is None:
            return
        self._notifier.reloading()
        try:
            new = load_config(self._config_path)
        except ShadowdError as err:
            log.error("config reload refused; keeping the running config", error=str(err))
        else:
            self.config, needs_restart = _live_update(self.config, new)
            logs.configure(self.config.logging.level, self.config.logging.format)
            log.info("config reloaded", needs_restart=needs_restart)
        finally:  # whatever happened, systemd must not be left "reloading"
            self._notifier.ready()


@functools.cache  # once per process: fork hooks cannot be unregistered
def _children_forget_signals() -> None:
    """A child forked from this process (pyroute2 forks helpers into namespaces, and
    stops them with SIGTERM) must not inherit the loop's signal wake-up fd: the handler
    it inherits would write its SIGTERM there, and the daemon would stop itself."""
    os.register_at_fork(after_in_child=_default_signals)


def _default_signals() -> None:
    signal.set_wakeup_fd(-1)
    for sig in (*STOP_SIGNALS, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _live_update(running: Config, new: Config) -> tuple[Config, list[str]]:
    """Take from ``new`` what can change without a restart; name the sections that can't.

    Logging, the progress and watchdog intervals and the snapshot cadence apply at once;
    paths, the socket, the sources and the lab keep their running values until a restart.
    """
    daemon = msgspec.structs.replace(new.daemon, state_dir=running.daemon.state_dir)
    log_section = msgspec.structs.replace(
        running.log, snapshot_every=new.log.snapshot_every, keep_snapshots=new.log.keep_snapshots
    )
    updated = msgspec.structs.replace(running, daemon=daemon, log=log_section, logging=new.logging)
    pending = [name for name in ("log", "sources", "lab", "predict", "policy", "metrics")
               if getattr(updated, name) != getattr(new, name)]
    if msgspec.structs.replace(new.control, socket=running.control.socket) != running.control:
        pending.append("control")
    return updated, pending
