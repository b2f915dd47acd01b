"""Benchmark: forecasting 5,000 links (10,000 directed series), one sample per link per 5 s.

    python -m bench.predict_bench [--links N] [--hours H] [--naive-minutes M]
                                  [--event-minutes M] [--seed S]

The forecaster is warmed up first (two days of its 5-minute steps, not measured), then
fed one sample per link every 5 simulated seconds for ``--hours``; once per step it is
asked for spikes over 30 minutes, as the daemon would. Samples come three ways: one
array for all links, one mapping for all links, and one call per link (each counter
event on its own). Only the forecaster's calls are timed (``time.process_time``), not
the making of the synthetic loads. Cost is CPU seconds per simulated second, as a share
of one core; the target (issue 6) is <= 5%.

Baseline, in the same run: the same arithmetic (per-step averaging, damped Holt-Winters
with the tracking signal, the seasonal index and deviation, an upper band) written as a
plain per-series Python loop, fed the same way for ``--naive-minutes``.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np

from shadowd.predict.forecast import Forecaster, ForecastParams
from shadowd.predict.holtwinters import FloatArray, HoltWintersParams

SAMPLE_S = 5.0
HORIZON_S = 1800.0
THRESHOLD = 0.8
TARGET_PCT = 5.0
DAY = 86_400.0


class Loads:
    """Synthetic directed loads: a diurnal curve per series times a cycled noise pool."""

    def __init__(self, links: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.capacity = np.full(links, 10e9)
        self.peak = rng.uniform(0.5e9, 4e9, 2 * links)
        self.noise = np.exp(rng.normal(0.0, 0.03, (64, 2 * links)))
        self.tick = 0

    def at(self, ts: float) -> FloatArray:
        hour = (ts % DAY) / 3600.0
        level = 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4.5) / 24.0))
        self.tick += 1
        return np.asarray(self.peak * level * self.noise[self.tick % len(self.noise)])


class NaiveForecaster:
    """The baseline: the same model, one Python loop iteration per series."""

    def __init__(self, n: int, capacity: list[float], params: ForecastParams) -> None:
        self.p, self.n = params.model, n
        self.step_s, self.slots = params.step_s, params.season_s // params.step_s
        self.per_dev = params.deviation_slot_s // params.step_s
        self.capacity = capacity
        self.level = [1e9] * n
        self.trend = [0.0] * n
        self.season = [[0.0] * self.slots for _ in range(n)]
        self.dev = [[1e7] * (self.slots // self.per_dev) for _ in range(n)]
        self.err_mean, self.err_abs = [0.0] * n, [0.0] * n
        self.sums, self.counts = [0.0] * n, [0] * n
        self.open_step = -1

    def update(self, now: float, y: list[float]) -> None:
        step = math.floor(now / self.step_s)
        if self.open_step >= 0 and step > self.open_step:
            self._commit(self.open_step)
        self.open_step = step
        for i, v in enumerate(y):
            self.sums[i] += v
            self.counts[i] += 1

    def _commit(self, step: int) -> None:
        p = self.p
        slot = step % self.slots
        dslot = slot // self.per_dev
        for i in range(self.n):
            if not self.counts[i]:
                continue
            y = self.sums[i] / self.counts[i]
            s, d = self.season[i][slot], self.dev[i][dslot]
            damped = p.phi * self.trend[i]
            err = y - (self.level[i] + damped + s)
            signal = abs(self.err_mean[i]) / self.err_abs[i] if self.err_abs[i] > 0 else 0.0
            self.level[i] += damped + p.alpha * err
            self.trend[i] = damped + p.alpha * p.beta * signal**2 * err
            bounded = max(-p.clip * d, min(p.clip * d, err))
            self.season[i][slot] = s + p.gamma * (1 - p.alpha) * bounded
            self.dev[i][dslot] = d + p.delta * (abs(bounded) - d)
            self.err_mean[i] += p.tracking * (err - self.err_mean[i])
            self.err_abs[i] += p.tracking * (abs(err) - self.err_abs[i])
            self.sums[i], self.counts[i] = 0.0, 0

    def spikes(self, now: float, horizon_s: float, threshold: float) -> list[int]:
        step = math.floor(now / self.step_s)
        ahead = range(1, int(horizon_s // self.step_s) + 1)
        out = []
        for i in range(self.n):
            damped_sum = 0.0
            for h in ahead:
                damped_sum += self.p.phi**h
                slot = (step + h) % self.slots
                mean = self.level[i] + damped_sum * self.trend[i] + self.season[i][slot]
                if mean + 3.0 * self.dev[i][slot // self.per_dev] > threshold * self.capacity[
                        i // 2]:
                    out.append(i)
                    break
        return out


def _drive(update: Callable[[float, Any], None], spikes: Callable[[float], object],
           loads: Loads, *, start: float, seconds: float,
           convert: Callable[[FloatArray], Any], step_s: float) -> dict[str, Any]:
    """Feed samples every 5 s from ``start`` for ``seconds``; time only the calls."""
    cpu = 0.0
    update_times: list[float] = []
    spike_times: list[float] = []
    ticks = int(seconds / SAMPLE_S)
    for k in range(ticks):
        now = start + k * SAMPLE_S
        sample = convert(loads.at(now))
        t = time.process_time()
        update(now, sample)
        dt = time.process_time() - t
        update_times.append(dt)
        if (now + SAMPLE_S) % step_s < SAMPLE_S:  # the last sample of a step
            t = time.process_time()
            spikes(now)
            spike_times.append(time.process_time() - t)
        cpu += dt
    cpu += sum(spike_times)
    per_sim_s = cpu / seconds
    return {
        "simulated_s": seconds,
        "samples": ticks,
        "cpu_s": round(cpu, 3),
        "cpu_s_per_simulated_s": round(per_sim_s, 6),
        "pct_of_one_core": round(100.0 * per_sim_s, 3),
        "update_median_us": round(float(np.median(update_times)) * 1e6, 1),
        "update_max_ms": round(max(update_times) * 1e3, 2),  # includes a step commit
        "spikes_median_ms": round(float(np.median(spike_times)) * 1e3, 2)
        if spike_times else None,
    }


def _drive_events(f: Forecaster, loads: Loads, start: float, seconds: float) -> dict[str, Any]:
    """As ``_drive``, but one ``update`` call per link sample, as events arrive one by one."""
    cpu = 0.0
    ticks = int(seconds / SAMPLE_S)
    for k in range(ticks):
        now = start + k * SAMPLE_S
        y = loads.at(now).tolist()
        events = [{name: (y[2 * i], y[2 * i + 1])} for i, name in enumerate(f.links)]
        t = time.process_time()
        for sample in events:
            f.update(now, sample)
        if (now + SAMPLE_S) % f.params.step_s < SAMPLE_S:
            f.spikes(now, HORIZON_S, THRESHOLD)
        cpu += time.process_time() - t
    per_sim_s = cpu / seconds
    return {
        "simulated_s": seconds,
        "update_calls": ticks * len(f.links),
        "cpu_s": round(cpu, 3),
        "cpu_s_per_simulated_s": round(per_sim_s, 6),
        "pct_of_one_core": round(100.0 * per_sim_s, 3),
        "per_call_us": round(cpu / (ticks * len(f.links)) * 1e6, 2),
    }


def _warmed(links: int, loads: Loads, params: ForecastParams) -> tuple[Forecaster, float]:
    names = [f"link{k}" for k in range(links)]
    f = Forecaster(names, loads.capacity, params)
    warm_steps = params.model.warmup_seasons * params.season_s // params.step_s + 12
    for k in range(warm_steps):
        f.update(k * params.step_s, loads.at(k * params.step_s))
    assert f.ready.all()
    return f, warm_steps * params.step_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=5000)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--naive-minutes", type=float, default=30.0)
    parser.add_argument("--event-minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    params = ForecastParams(model=HoltWintersParams())
    loads = Loads(args.links, args.seed)

    f, start = _warmed(args.links, loads, params)
    check = lambda now: f.spikes(now, HORIZON_S, THRESHOLD)  # noqa: E731
    vector = _drive(f.update, check, loads, start=start, seconds=args.hours * 3600,
                    convert=lambda y: y, step_s=params.step_s)
    names = f.links
    as_mapping = lambda y: {n: (y[2 * k], y[2 * k + 1])  # noqa: E731
                            for k, n in enumerate(names)}
    start += args.hours * 3600
    mapping = _drive(f.update, check, loads, start=start, seconds=3600.0, convert=as_mapping,
                     step_s=params.step_s)
    start += 3600.0
    one_by_one = _drive_events(f, loads, start, args.event_minutes * 60)
    snapshot_mb = len(msgspec.msgpack.encode(f.snapshot())) / 1e6

    naive = NaiveForecaster(2 * args.links, loads.capacity.tolist(), params)
    naive_check = lambda now: naive.spikes(now, HORIZON_S, THRESHOLD)  # noqa: E731
    baseline = _drive(naive.update, naive_check, loads, start=start,
                      seconds=args.naive_minutes * 60, convert=lambda y: y.tolist(),
                      step_s=params.step_s)

    report = {
        "benchmark": "predict_bench",
        "links": args.links,
        "directed_series": 2 * args.links,
        "sample_every_s": SAMPLE_S,
        "step_s": params.step_s,
        "season_s": params.season_s,
        "spikes_every_s": params.step_s,
        "spike_horizon_s": HORIZON_S,
        "vectorised_array_input": vector,
        "vectorised_mapping_input": mapping,
        "vectorised_one_call_per_link": one_by_one,
        "naive_python_loop": baseline,
        "speedup_vs_naive": round(baseline["cpu_s_per_simulated_s"]
                                  / vector["cpu_s_per_simulated_s"], 1),
        "snapshot_mb": round(snapshot_mb, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "target_pct_of_one_core": TARGET_PCT,
        "target_met": all(run["pct_of_one_core"] <= TARGET_PCT
                          for run in (vector, mapping, one_by_one)),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
