"""``shadowd trace``: write a replayable telemetry trace, ``generate``d from a real topology
or ``import``ed from an operator's own history (a topology plus counters and/or a traffic
matrix, CSV or NumPy)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shadowd.ingest.builtin import ALIASES, builtin_batches
from shadowd.ingest.tracefile import write_trace
from shadowd.traffic.trace import TraceSpec

if TYPE_CHECKING:
    from shadowd.traffic.series import Kind, Series


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
    _configure_import(trace_sub.add_parser(
        "import", help="a trace from a topology and your own counters and/or traffic matrix"))


def _configure_import(imp: argparse.ArgumentParser) -> None:
    imp.add_argument("--topology", type=Path, required=True,
                     help="topology file (shadowd TOML/YAML, GraphML, SNDlib, node-link JSON)")
    imp.add_argument("--counters", type=Path,
                     help="link counters: CSV 'ts,LINK:ab,LINK:ba,...' (or A->B), or .npz")
    imp.add_argument("--matrix", type=Path,
                     help="traffic matrix: CSV 'ts,SRC->DST,...', or .npz")
    imp.add_argument("--out", type=Path, required=True, help="trace file to write")
    imp.add_argument("--source", default="replay", help="source name stamped on the events")
    imp.add_argument("--unit-bps", type=float, default=1.0,
                     help="multiply every value by this to get bit/s (default 1)")
    imp.add_argument("--separator", default="->",
                     help="what joins the two names of a matrix column (default ->)")
    imp.add_argument("--npz-keys", default="ts,values,columns", metavar="TS,VALUES,COLUMNS",
                     help="the arrays of a .npz file (default ts,values,columns; with no "
                     "TS array, give --start and --interval-s)")
    imp.add_argument("--start", type=float, default=0.0, help="time of the first row")
    imp.add_argument("--interval-s", type=float, default=300.0, help="time between rows")
    imp.add_argument("--json", action="store_true", help="print a JSON summary")
    imp.set_defaults(func=_import)


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


def _import(args: argparse.Namespace) -> int:
    from shadowd.topology import load_topology  # noqa: PLC0415 - only import needs it
    from shadowd.traffic import series  # noqa: PLC0415

    given: list[tuple[Kind, Path | None]] = [("counters", args.counters),
                                             ("matrix", args.matrix)]
    read = {kind: _series(path, kind, args) for kind, path in given if path is not None}
    first = next(iter(read.values())).ts[0] if read else args.start
    topology = load_topology(args.topology, source=args.source, ts=float(first))
    batches = series.imported_batches(topology, counters=read.get("counters"),
                                      matrix=read.get("matrix"), source=args.source,
                                      separator=args.separator)
    count = write_trace(args.out, batches)
    intervals = len(next(iter(read.values())).ts)
    summary = {"path": str(args.out), "events": count, "intervals": intervals,
               "series": sorted(read), "bytes": args.out.stat().st_size}
    print(json.dumps(summary) if args.json else
          f"wrote {count} events, {intervals} intervals of {' and '.join(sorted(read))} "
          f"({summary['bytes']} bytes) to {args.out}")
    return 0


def _series(path: Path, kind: Kind, args: argparse.Namespace) -> Series:
    from shadowd.traffic.series import SeriesError, parse_csv, series_of  # noqa: PLC0415

    try:
        if path.suffix.lower() != ".npz":
            return parse_csv(path.read_text(encoding="utf-8"), kind=kind, file=str(path),
                             unit_bps=args.unit_bps)
        ts_key, values_key, columns_key = args.npz_keys.split(",")
        with np.load(path, allow_pickle=False) as arrays:
            values = arrays[values_key] * args.unit_bps
            times = arrays[ts_key] if ts_key in arrays else \
                args.start + args.interval_s * np.arange(len(values))
            return series_of(times, values, [str(c) for c in arrays[columns_key]], kind=kind,
                             file=str(path))
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as err:
        raise SeriesError(f"cannot read: {err}", file=str(path)) from None
