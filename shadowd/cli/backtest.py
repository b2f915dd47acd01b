"""``shadowd backtest``: replay a telemetry trace through the forecaster and score it.

    shadowd backtest --trace PATH|builtin:KEY [--days N] [--seed N] [--surges-per-week N]
                     [--demand-total-bps BPS] [--peak-util U] [--failure-util U]
                     [--min-rate-bps BPS] [--lead-s 900] [--horizon-s 1800]
                     [--threshold 0.8] [--warmup-s 259200] [--tolerance-s 1800] [--json]

A trace file is replayed as recorded; its ground truth is the spike episodes in its own
counters. ``builtin:KEY`` (``builtin:geant``, ``builtin:sndlib/germany50``) generates the
trace in memory with surges (``--surges-per-week``, default 14) and labels the episodes
with them; it also scores the ramp oracle on it (``shadowd.predict.bound``): the best
trade-off between recall and false alarms any forecaster could reach on that trace.
``--json`` prints one document; see ``shadowd.predict.backtest`` for what every figure
means.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from shadowd.core.events import AnyEvent
from shadowd.ingest.builtin import ALIASES, BUILTIN, TRACE_DEMAND_UNIT_BPS, link_loads
from shadowd.ingest.tracefile import read_trace
from shadowd.predict.backtest import BacktestConfig, Report, replay, score
from shadowd.predict.bound import Bound, ramp_oracle
from shadowd.topology import topohub_topology
from shadowd.traffic.trace import DAY, Surge, TraceSpec, footprint, generate, surges


def configure(p: argparse.ArgumentParser) -> None:
    """Fill in ``shadowd backtest``."""
    p.add_argument("--trace", required=True, help="trace file, or builtin:KEY to generate one")
    p.add_argument("--days", type=int, default=14, help="builtin: days to generate")
    p.add_argument("--seed", type=int, default=1, help="builtin: random seed")
    p.add_argument("--surges-per-week", type=float, default=14.0, help="builtin: surges")
    p.add_argument("--demand-total-bps", type=float, default=0.0,
                   help="builtin: rescale the demand matrix to this sum (0: as given)")
    p.add_argument("--peak-util", type=float, default=TraceSpec().peak_util,
                   help="builtin: size capacities for this weekday-peak utilisation "
                        "(over --threshold: the diurnal peaks themselves are spikes)")
    p.add_argument("--failure-util", type=float, default=TraceSpec().failure_util,
                   help="builtin: ... and for this one under any single link failure "
                        "(0: the no-failure peak alone)")
    p.add_argument("--min-rate-bps", type=float, default=TraceSpec().min_rate_bps,
                   help="builtin: the thinnest link's rate")
    p.add_argument("--lead-s", type=float, default=900.0,
                   help="how long before a spike it must be predicted (default 900)")
    p.add_argument("--horizon-s", type=float, default=1800.0,
                   help="how far ahead spikes are looked for (default 1800)")
    p.add_argument("--threshold", type=float, default=0.8, help="spike utilisation")
    p.add_argument("--warmup-s", type=float, default=3 * DAY, help="not scored (default 3 d)")
    p.add_argument("--tolerance-s", type=float, default=1800.0,
                   help="how late after its predicted peak a spike still matches")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(func=backtest)


def backtest(args: argparse.Namespace) -> int:
    config = BacktestConfig(lead_s=args.lead_s, horizon_s=args.horizon_s,
                            threshold=args.threshold, warmup_s=args.warmup_s,
                            tolerance_s=args.tolerance_s)
    batches, plan, about, bound = _trace(args, config)
    report = score(replay(batches, config, plan), config)
    document = {**about, **_document(report)}
    if bound is not None and bound.crossing:
        document["bound"] = _bound(bound, report)
    print(json.dumps(document, indent=1) if args.json else _human(document))
    return 0


def _trace(args: argparse.Namespace, config: BacktestConfig
           ) -> tuple[Iterator[list[AnyEvent]], list[Surge], dict[str, Any], Bound | None]:
    if not args.trace.startswith(BUILTIN):
        path = Path(args.trace)
        return read_trace(path), [], {"trace": str(path)}, None
    key = args.trace.removeprefix(BUILTIN)
    spec = TraceSpec(topology=ALIASES.get(key, key), days=args.days, seed=args.seed,
                     surges_per_week=args.surges_per_week,
                     demand_total_bps=args.demand_total_bps, peak_util=args.peak_util,
                     failure_util=args.failure_util, min_rate_bps=args.min_rate_bps)
    topology = topohub_topology(spec.topology, source=spec.source, ts=spec.start_ts,
                                demand_unit_bps=TRACE_DEMAND_UNIT_BPS)
    plan = surges(spec, topology, link_loads)
    about = {"trace": args.trace, "topology": spec.topology, "days": spec.days,
             "seed": spec.seed, "surges": len(plan),
             "surges_over_threshold_by_design": sum(s.peak_util > args.threshold
                                                    for s in plan)}
    return (generate(spec, topology, link_loads), plan, about,
            _oracle(spec, topology, plan, config))


def _oracle(spec: TraceSpec, topology: list[AnyEvent], plan: list[Surge],
            config: BacktestConfig) -> Bound:
    """The ramp oracle on the surges the backtest scores (those after the warm-up)."""
    times = spec.times()
    return ramp_oracle(footprint(spec, topology, link_loads, plan), plan, spec.surge_ramp_s,
                       times=times, threshold=config.threshold, lead_s=config.lead_s,
                       from_ts=float(times[0]) + config.warmup_s)


def _bound(bound: Bound, report: Report) -> dict[str, Any]:
    """The ramp oracle's figures, where the forecaster's can be read against them."""
    return {
        "what": "a noise-free predictor that knows everything but how long each surge's "
                "ramp lasts; per (surge, link direction) pair",
        "pairs": bound.pairs, "crossing": bound.crossing,
        "false_alarm_rate_at_recall_0.9": bound.best_false_alarm_rate(0.9),
        "false_alarm_rate_at_forecaster_recall":
            bound.best_false_alarm_rate(report.recall) if report.recall is not None else None,
        "recall_at_false_alarm_rate_0.05": bound.best_recall(0.05),
        "target_pair_reachable": bound.best_recall(0.05) >= 0.9,
    }


def _document(report: Report) -> dict[str, Any]:
    c = report.config
    return {
        "series": report.series,
        "threshold": c.threshold, "lead_s": c.lead_s, "horizon_s": c.horizon_s,
        "warmup_s": c.warmup_s, "tolerance_s": c.tolerance_s, "merge_gap_s": c.merge_gap_s,
        "scored_from_ts": report.start_ts + c.warmup_s, "end_ts": report.end_ts,
        "episodes": report.episodes,
        "predicted_ahead": report.predicted,
        "recall": report.recall,
        "recall_with_failures": report.recall_with_failures,
        "predictions": report.predictions,
        "false_alarms": report.false_alarms,
        "false_alarm_rate": report.false_alarm_rate,
        "false_alarms_near_miss": report.near_misses,
        "near_miss_util": c.threshold - c.near_miss_margin,
        "lead_median_s": report.lead_median_s,
        "lead_p10_s": report.lead_p10_s,
        "mape": report.mape, "mape_horizon_s": c.eval_s,
        "coverage": report.coverage, "coverage_nominal": c.forecast.coverage,
        "targets": report.targets(),
        "missed": msgspec.to_builtins(report.missed),
    }


def _human(d: dict[str, Any]) -> str:
    lines = [
        f"{d['trace']}: {d['series']} directed links, threshold {d['threshold']:.0%}, "
        f"lead {d['lead_s']:.0f} s, horizon {d['horizon_s']:.0f} s",
        f"episodes scored: {d['episodes']}",
        f"recall {_pct(d['recall'])} ({d['predicted_ahead']} predicted >= lead ahead); "
        f"with failures {_pct(d['recall_with_failures'])}",
        f"false alarms {_pct(d['false_alarm_rate'])} "
        f"({d['false_alarms']} of {d['predictions']} predictions; "
        f"{d['false_alarms_near_miss']} of them near misses, load over "
        f"{d['near_miss_util']:.0%})",
        f"lead median {_num(d['lead_median_s'])} s, p10 {_num(d['lead_p10_s'])} s",
        f"MAPE at {d['mape_horizon_s']:.0f} s {_pct(d['mape'])}; upper band coverage "
        f"{_pct(d['coverage'])} (nominal {d['coverage_nominal']:.0%})",
        "targets: " + ", ".join(f"{k} {'met' if v else 'NOT met'}"
                                for k, v in d["targets"].items()),
    ]
    if b := d.get("bound"):
        lines.append(
            "bound, the ramp oracle (knows all but how long each surge's ramp lasts): "
            f"false alarms {_pct(b['false_alarm_rate_at_recall_0.9'])} at recall 90%, "
            f"{_pct(b['false_alarm_rate_at_forecaster_recall'])} at the forecaster's; "
            f"recall {_pct(b['recall_at_false_alarm_rate_0.05'])} with false alarms <= 5%")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"

