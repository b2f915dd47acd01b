"""``shadowd trace generate``: write a replayable telemetry trace from a real topology."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shadowd.ingest.builtin import ALIASES, builtin_batches
from shadowd.ingest.tracefile import write_trace
from shadowd.traffic.trace import TraceSpec


def configure(trace: argparse.ArgumentParser) -> None:
    """Fill in ``shadowd trace``."""
    trace_sub = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    gen = trace_sub.add_parser("generate", help="generate a trace from a topohub network")
    gen.add_argument("--out", type=Path, required=True, help="trace file to write")
    gen.add_argument("--topology", default="sndlib/geant",
                     help="topohub key (sndlib/geant, sndlib/germany50, topozoo/Abilene, ...)")
    gen.add_argument("--days", type=int, default=7)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--source", default="replay", help="source name stamped on the events")
    gen.add_argument("--flaps", type=int, default=4, help="link flaps over the whole trace")
    gen.add_argument("--surges-per-week", type=float, default=0.0,
                     help="demand surges toward one router each (default none)")
    gen.add_argument("--demand-total-bps", type=float, default=0.0,
                     help="rescale the demand matrix to this sum (0: as the topology has it)")
    gen.add_argument("--json", action="store_true", help="print a JSON summary")
    gen.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    spec = TraceSpec(topology=ALIASES.get(args.topology, args.topology), days=args.days,
                     seed=args.seed, source=args.source, flaps=args.flaps,
                     surges_per_week=args.surges_per_week,
                     demand_total_bps=args.demand_total_bps)
    count = write_trace(args.out, builtin_batches(spec))
    summary = {"path": str(args.out), "events": count, "topology": spec.topology,
               "days": spec.days, "surges": round(spec.surges_per_week * spec.days / 7),
               "bytes": args.out.stat().st_size}
    print(json.dumps(summary) if args.json else
          f"wrote {count} events ({summary['bytes']} bytes) of {spec.topology} to {args.out}")
    return 0
