"""Backtest: replay a telemetry trace through the forecaster and score its spike predictions.

Pure: batches of events in, a ``Report`` out; time is the events' own ``ts``.

``replay`` feeds every ``LinkUtilization`` of a link that is up to a ``Forecaster``, asks
it for spikes after each sample time, and remembers its forecast ``eval_horizon_s`` ahead
(default: the lead time) to score against the sample that arrives there. The same
counters go through ``EpisodeFinder`` for the ground truth: the trace's actual spike
episodes (labelled with the generator's surges when there are any).

``score`` matches predictions to episodes. A prediction stands from when it is made
(``m``) for as long as the forecaster keeps that link alerted (its band still crosses,
or its load is over the threshold; ``u`` is the last such time); it *matches* an episode
of the same link direction when the episode overlaps ``[m, max(peak, u) + tolerance_s]``.
Scored are episodes starting, and predictions made, after the warm-up (``warmup_s``
after the first sample: the seasonal model builds its profile over two seasons and the
band's calibration needs a day more to settle); predictions too close to the end of the
trace to be judged are left out.

- recall: share of scored episodes with a matching prediction made >= ``lead_s`` before
  their start. The headline counts episodes of load (surges, diurnal peaks); episodes
  during a failure (traffic rerouted at once, which no load forecast can see coming:
  that is the worst-case analysis' job) are reported apart.
- false-alarm rate: share of scored predictions matching no episode at all. Of those,
  *near misses* matched an episode over ``threshold - near_miss_margin`` (the load came
  close); they stay false alarms in the rate, and are counted apart to explain it.
- lead: per predicted episode, its start minus its earliest matching prediction.
- MAPE of the mean forecast ``eval_horizon_s`` ahead, on samples over
  ``mape_floor_util`` of capacity; coverage: share of samples under the upper band.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

import msgspec
import numpy as np

from shadowd.core.events import AnyEvent, LinkAdded, LinkCapacity, LinkStatus, LinkUtilization
from shadowd.predict.forecast import Forecaster, ForecastParams, PredictedSpike
from shadowd.predict.holtwinters import FloatArray
from shadowd.traffic.episodes import EpisodeFinder, SpikeEpisode
from shadowd.traffic.trace import DAY, Surge


class BacktestConfig(msgspec.Struct, frozen=True, kw_only=True):
    lead_s: float = 900.0
    horizon_s: float = 1800.0
    threshold: float = 0.8
    warmup_s: float = 3 * DAY
    tolerance_s: float = 1800.0
    merge_gap_s: float = 1800.0
    eval_horizon_s: float = 0.0  # 0: the lead time
    mape_floor_util: float = 0.01
    near_miss_margin: float = 0.1
    forecast: ForecastParams = ForecastParams()

    @property
    def eval_s(self) -> float:
        return self.eval_horizon_s or self.lead_s


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """A prediction and the last time the forecaster still held it (band or load over)."""

    spike: PredictedSpike
    until: float


class Replayed(msgspec.Struct, kw_only=True):
    """What a replay saw: predictions, ground truth and the forecast error tallies."""

    start_ts: float
    end_ts: float
    series: int
    predictions: list[Alert]
    episodes: list[SpikeEpisode]
    near_episodes: list[SpikeEpisode]  # over threshold - near_miss_margin
    under_band: int = 0
    band_samples: int = 0
    ape_sum: float = 0.0
    ape_samples: int = 0


class Report(msgspec.Struct, kw_only=True):
    config: BacktestConfig
    start_ts: float
    end_ts: float
    series: int  # directed links forecast
    episodes: dict[str, int]  # scored episodes by cause
    predictions: int
    predicted: int  # load episodes predicted >= lead ahead
    recall: float | None
    recall_with_failures: float | None
    false_alarms: int
    false_alarm_rate: float | None
    near_misses: int  # false alarms whose link came within near_miss_margin of the threshold
    lead_median_s: float | None
    lead_p10_s: float | None
    mape: float | None
    coverage: float | None
    missed: list[SpikeEpisode]

    def targets(self) -> dict[str, bool]:
        nominal = self.config.forecast.coverage
        return {
            "recall>=0.90": self.recall is not None and self.recall >= 0.90,
            "false_alarms<=0.05": self.false_alarm_rate is not None
            and self.false_alarm_rate <= 0.05,
            "coverage_within_3_points": self.coverage is not None
            and abs(self.coverage - nominal) <= 0.03,
        }


# --- replay ------------------------------------------------------------------------------


class _Replayer:
    def __init__(self, config: BacktestConfig, plan: Sequence[Surge]) -> None:
        self.config, self.plan = config, plan
        self.finder = EpisodeFinder(config.threshold, config.merge_gap_s)
        self.near = EpisodeFinder(config.threshold - config.near_miss_margin,
                                  config.merge_gap_s)
        self.capacity: dict[str, float] = {}
        self.down: set[str] = set()
        self.forecaster: Forecaster | None = None
        self.pending: dict[int, tuple[FloatArray, FloatArray]] = {}  # step -> mean, upper
        self.held: dict[int, Alert] = {}  # series -> its standing alert
        self.out = Replayed(start_ts=math.inf, end_ts=-math.inf, series=0, predictions=[],
                            episodes=[], near_episodes=[])

    def batch(self, events: list[AnyEvent]) -> None:
        self.finder.feed(events)
        self.near.feed(events)
        samples: dict[float, dict[str, tuple[float, float]]] = defaultdict(dict)
        for e in events:
            if isinstance(e, LinkAdded | LinkCapacity):
                self._capacity(e.link, e.capacity_bps)
            elif isinstance(e, LinkStatus):
                (self.down.discard if e.up else self.down.add)(e.link)
                if self.forecaster is not None:
                    self.forecaster.topology_changed(e.ts)
            elif isinstance(e, LinkUtilization) and e.link not in self.down:
                samples[e.ts][e.link] = (e.ab_bps, e.ba_bps)
        for ts in sorted(samples):
            self._sample(ts, samples[ts])

    def _capacity(self, link: str, capacity_bps: float) -> None:
        self.capacity[link] = capacity_bps
        if self.forecaster is not None and self.forecaster.knows(link):
            self.forecaster.set_capacity(link, capacity_bps)

    def _sample(self, ts: float, loads: dict[str, tuple[float, float]]) -> None:
        f = self.forecaster
        if f is None:
            links = sorted(self.capacity)
            f = self.forecaster = Forecaster(links, [self.capacity[k] for k in links],
                                             self.config.forecast)
            self.out.series, self.out.start_ts = 2 * len(links), ts
        loads = {k: v for k, v in loads.items() if k in self.capacity}
        y = f.as_series(loads)
        step = math.floor(ts / f.params.step_s)
        if ts >= self.out.start_ts + self.config.warmup_s:
            self._score_forecast(self.pending.pop(step, None), y, f.capacity)
        f.update(ts, loads)
        self._hold(f, ts, f.spikes(ts, self.config.horizon_s, self.config.threshold))
        self._remember(f, ts, step)
        self.out.end_ts = max(self.out.end_ts, ts)

    def _hold(self, f: Forecaster, ts: float, spikes: list[PredictedSpike]) -> None:
        for spike in spikes:
            self.held[f.row(spike.link, spike.direction)] = Alert(spike=spike, until=ts)
        for row, alert in list(self.held.items()):
            if not f.alerted[row]:
                self.out.predictions.append(self.held.pop(row))
            elif np.isnan(f.quiet_since[row]):  # still crossing, or over
                self.held[row] = msgspec.structs.replace(alert, until=ts)

    def _remember(self, f: Forecaster, ts: float, step: int) -> None:
        ahead = max(1, round(self.config.eval_s / f.params.step_s))
        fc = f.forecast(ts, ahead * f.params.step_s)
        ready = f.ready
        self.pending[step + ahead] = (np.where(ready, fc.mean[:, -1], np.nan),
                                      np.where(ready, fc.upper[:, -1], np.nan))
        for old in [s for s in self.pending if s <= step]:
            del self.pending[old]

    def _score_forecast(self, made: tuple[FloatArray, FloatArray] | None, y: FloatArray,
                        capacity: FloatArray) -> None:
        if made is None:
            return
        mean, upper = made
        valid = ~np.isnan(y) & ~np.isnan(mean)
        self.out.under_band += int((y[valid] <= upper[valid]).sum())
        self.out.band_samples += int(valid.sum())
        big = valid & (y > self.config.mape_floor_util * capacity)
        self.out.ape_sum += float((np.abs(y[big] - mean[big]) / y[big]).sum())
        self.out.ape_samples += int(big.sum())

    def finish(self) -> Replayed:
        self.out.predictions += self.held.values()
        self.out.predictions.sort(key=lambda a: a.spike.made_at)
        self.out.episodes = self.finder.episodes(self.plan)
        self.out.near_episodes = self.near.episodes(self.plan)
        return self.out


def replay(batches: Iterable[list[AnyEvent]], config: BacktestConfig,
           plan: Sequence[Surge] = ()) -> Replayed:
    """Run a trace's batches through a forecaster; ``plan``: the generator's surges."""
    replayer = _Replayer(config, plan)
    for batch in batches:
        replayer.batch(batch)
    return replayer.finish()


# --- scoring ------------------------------------------------------------------------------


def matches(alert: Alert, e: SpikeEpisode, tolerance_s: float) -> bool:
    p = alert.spike
    return (p.link, p.direction) == (e.link, e.direction) and (
        e.end >= p.made_at and e.start <= max(p.peak_at, alert.until) + tolerance_s)


def score(run: Replayed, config: BacktestConfig) -> Report:
    scored_from = run.start_ts + config.warmup_s
    judged_until = run.end_ts - config.horizon_s - config.tolerance_s
    episodes = [e for e in run.episodes if e.start >= scored_from]
    by_link = defaultdict(list)
    for a in run.predictions:
        by_link[(a.spike.link, a.spike.direction)].append(a)
    leads = [_lead(e, by_link[(e.link, e.direction)], config) for e in episodes]
    load = [lead for e, lead in zip(episodes, leads, strict=True) if e.cause != "failure"]
    judged = [a for a in run.predictions if scored_from <= a.spike.made_at <= judged_until]
    false = [a for a in judged if not any(matches(a, e, config.tolerance_s)
                                          for e in run.episodes)]
    early = [lead for lead in leads if lead is not None]
    return Report(
        config=config, start_ts=run.start_ts, end_ts=run.end_ts, series=run.series,
        episodes=_causes(episodes), predictions=len(judged),
        predicted=sum(_in_time(lead, config) for lead in load),
        recall=_share(sum(_in_time(lead, config) for lead in load), len(load)),
        recall_with_failures=_share(sum(_in_time(lead, config) for lead in leads),
                                    len(leads)),
        false_alarms=len(false), false_alarm_rate=_share(len(false), len(judged)),
        near_misses=sum(any(matches(a, e, config.tolerance_s) for e in run.near_episodes)
                        for a in false),
        lead_median_s=_percentile(early, 50), lead_p10_s=_percentile(early, 10),
        mape=_share(run.ape_sum, run.ape_samples),
        coverage=_share(run.under_band, run.band_samples),
        missed=[e for e, lead in zip(episodes, leads, strict=True)
                if e.cause != "failure" and not _in_time(lead, config)],
    )


def _lead(e: SpikeEpisode, alerts: list[Alert], config: BacktestConfig) -> float | None:
    """How long before ``e`` started its earliest matching prediction came, if before."""
    made = [a.spike.made_at for a in alerts
            if a.spike.made_at <= e.start and matches(a, e, config.tolerance_s)]
    return e.start - min(made) if made else None


def _in_time(lead: float | None, config: BacktestConfig) -> bool:
    return lead is not None and lead >= config.lead_s


def _causes(episodes: list[SpikeEpisode]) -> dict[str, int]:
    counts = {"surge": 0, "load": 0, "failure": 0}
    for e in episodes:
        counts[e.cause] += 1
    return counts


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None
