"""The figures the daemon shows Prometheus: read from its parts for each scrape, with a
worst case kept fresh.

``DaemonMetrics.text()`` answers both GET /metrics and ``shadowctl metrics``. A scrape
never sweeps: the worst case is swept by the ``metrics.worst_case`` task, at most every
``[metrics] worst_case_every_s`` and only after a scrape asked for it since the last
sweep, so a daemon nobody scrapes spends nothing on it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from shadowd import logs
from shadowd.config import Config, MetricsConfig, parse_listen
from shadowd.engine.incremental import Engine
from shadowd.ingest.pipeline import Ingest
from shadowd.prometheus.endpoint import MetricsServer
from shadowd.prometheus.exposition import (
    LinkUtil,
    MetricsInputs,
    PredictorFigures,
    WorstCaseFigure,
    families,
    render,
)
from shadowd.services.mirror import LabMirror
from shadowd.services.model import ModelShadow
from shadowd.services.predictor import Predictor


class MetricsParts(Protocol):
    """What the metrics read of the daemon (``shadowd.daemon.Daemon`` is one)."""

    @property
    def config(self) -> Config: ...
    @property
    def ingest(self) -> Ingest: ...
    @property
    def predictor(self) -> Predictor: ...
    @property
    def model(self) -> ModelShadow: ...
    @property
    def lab(self) -> LabMirror: ...
    def uptime(self) -> float: ...

log = logs.get_logger()


class DaemonMetrics:
    def __init__(self, daemon: MetricsParts, config: MetricsConfig) -> None:
        self._daemon = daemon
        self._config = config
        self._asked = asyncio.Event()  # a scrape came since the last sweep
        self.worst_case: WorstCaseFigure | None = None

    async def text(self) -> str:
        return render(families(await self.inputs()))

    async def inputs(self) -> MetricsInputs:
        self._asked.set()
        d = self._daemon
        c = d.predictor.counters
        return MetricsInputs(
            state=d.ingest.state, durable_seq=d.ingest.durable_lsn, uptime_s=d.uptime(),
            counters=d.ingest.counters, top_links=await self._top_links(),
            worst_case=self.worst_case,
            predictor=PredictorFigures(spikes=c.spikes, model_runs=c.runs, lab_runs=c.lab_runs,
                                       failed_runs=c.failed_runs),
            lab_up=d.lab.status().lab.up, alerts=logs.alert_counts())

    async def _top_links(self) -> list[LinkUtil]:
        n = self._config.top_links
        if n == 0:
            return []

        def top(engine: Engine) -> list[LinkUtil]:
            return [LinkUtil(link=e.link, src=e.src, dst=e.dst, utilization=e.utilization)
                    for e in engine.top(n)]

        return await self._daemon.model.read(top)

    async def refresh_worst_case(self) -> None:
        """Sweep the policy's failure set after a scrape, at most every so often."""
        every = self._config.worst_case_every_s
        if every <= 0:
            return
        failures = self._daemon.config.policy.failure_set
        while True:
            await self._asked.wait()
            self._asked.clear()
            lsn, result = await self._daemon.model.worst_case(failures)
            top = float(result.wc_util.max()) if result.net.edge_count else 0.0
            self.worst_case = WorstCaseFigure(failures=failures, seq=lsn, max_util=top)
            await asyncio.sleep(every)


def http_endpoint(config: MetricsConfig, metrics: DaemonMetrics) -> MetricsServer | None:
    """The HTTP endpoint ``[metrics] listen`` asks for, or None when it is off."""
    if not config.listen:
        return None
    host, port = parse_listen(config.listen)
    return MetricsServer(host, port, metrics.text, read_timeout_s=config.read_timeout_s,
                         max_request_bytes=config.max_request_bytes)
