"""The daemon: the parts ``shadowd.bootstrap`` built, served as named tasks of one TaskGroup.

Start-up (``serve``): ``bootstrap`` recovers the state (newest snapshot + log tail),
opens the log and builds every part; then the daemon binds the control socket, starts the
sources (feeds), waits until each has subscribed (bounded: a broker that is down must not
keep the daemon from serving), and tells systemd READY=1. The lab mirror
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
from shadowd.bootstrap import Parts, bootstrap
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
from shadowd.core.state import State
from shadowd.handlers import DaemonHandlers
from shadowd.ingest.builtin import replay_source
from shadowd.ingest.differential import Differential
from shadowd.ingest.kafka import KafkaFeed
from shadowd.ingest.mqtt import MqttFeed
from shadowd.ingest.source import Feed, ReplayFeed
from shadowd.notify import Notifier
from shadowd.predict.watch import WatchState, encode_watch
from shadowd.prometheus.figures import DaemonMetrics, http_endpoint
from shadowd.services.predict_restore import SIDECAR
from shadowd.store.snapshot import Offsets

log = logs.get_logger()

FEEDS_READY_TIMEOUT_S = 30.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(config: Config, *, config_path: Path | None = None,
                guided: bool = False) -> None:
    """Recover, build every part, and serve until SIGTERM/SIGINT."""
    parts = await bootstrap(config, config_path=config_path, guided=guided)
    await Daemon(config, parts, config_path=config_path).run()


class _Stop(Exception):
    """Raised inside the root TaskGroup to cancel every task for an orderly shutdown."""


class Daemon:
    """Serves the parts ``bootstrap`` built: the control socket, the sources, the lab, the
    predictor, the policies and the guide, as named tasks of one TaskGroup."""

    def __init__(self, config: Config, parts: Parts, *, config_path: Path | None = None,
                 notifier: Notifier | None = None) -> None:
        self.config = config
        self._config_path = config_path
        self._notifier = notifier if notifier is not None else Notifier()
        self.snapshots, self.backend = parts.snapshots, parts.backend
        self.committer = parts.backend.committer
        self._start_offsets = parts.start_offsets
        self.ingest, self.model, self.lab = parts.ingest, parts.model, parts.lab
        self.predictor = parts.predictor
        self.policies, self.guide = parts.policies, parts.guide
        self.dead_letters = parts.dead_letters
        self.metrics = DaemonMetrics(self, config.metrics)
        self.feeds: dict[str, Feed] = {}
        self._stop = asyncio.Event()
        self._snapshot_due = asyncio.Event()
        self._last_snapshot = self.ingest.state.lsn
        self.started = time.monotonic()

    async def run(self) -> None:
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
