"""``ReportData``: everything the report page shows, as one msgspec Struct.

It travels in ``ReportReply`` over the control socket and is written next to the page
as ``report.json``; the renderer (``shadowd.report.html``) needs nothing else. The
schema only grows: new fields get defaults.
"""

from __future__ import annotations

import msgspec

from shadowd.core.events import ScenarioRan
from shadowd.core.state import PolicyEntry


class ReportRouter(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    up: bool = True
    pos: tuple[float, float] | None = None  # (longitude, latitude) when the topology has it


class ReportLink(msgspec.Struct, frozen=True, kw_only=True):
    """One direction of a link, ``src`` -> ``dst``: its load now and its worst case."""

    link: str
    direction: str  # "ab" (a -> b) or "ba"
    src: str
    dst: str
    up: bool = True
    capacity_bps: float = 0.0
    load_bps: float = 0.0  # the model's load now, no failure
    util: float = 0.0
    wc_load_bps: float = 0.0  # WC load: the highest over the failure set ...
    wc_util: float = 0.0  # ... WC util
    wc_failure: str = ""  # ... WC failure ("-": not swept)


class ForecastPoint(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """One step of a link direction: what was observed, and what was forecast for it."""

    ts: float
    observed_bps: float | None = None
    mean_bps: float | None = None
    upper_bps: float | None = None


class ForecastSeries(msgspec.Struct, frozen=True, kw_only=True):
    link: str
    direction: str
    src: str
    dst: str
    capacity_bps: float
    ready: bool = False  # the forecaster has seen a season of this link
    history: list[ForecastPoint] = msgspec.field(default_factory=list)  # observed, oldest first
    ahead: list[ForecastPoint] = msgspec.field(default_factory=list)  # the forecast from now


class ReportData(msgspec.Struct, frozen=True, kw_only=True):
    title: str = "shadowd report"
    generated_ts: float = 0.0  # wall clock when gathered
    seq: int = 0  # the log position the shadow was at
    log_ts: float = 0.0  # the telemetry's own clock
    failures: str = ""  # the failure set of the worst case ("links, nodes, srlg")
    threshold_util: float = 0.8  # the predictor's spike threshold
    routers: list[ReportRouter] = msgspec.field(default_factory=list)
    links: list[ReportLink] = msgspec.field(default_factory=list)  # highest WC util first
    forecasts: list[ForecastSeries] = msgspec.field(default_factory=list)  # the top links
    runs: list[ScenarioRan] = msgspec.field(default_factory=list)  # oldest first
    spikes: int = 0  # spikes predicted since the daemon started
    policies: list[PolicyEntry] = msgspec.field(default_factory=list)  # oldest first
