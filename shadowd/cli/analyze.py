"""``shadowd analyze``: route a topology's demands, sweep failures, show the worst case.

The imperative shell of the engine: it reads the topology (through
``shadowd.topology.load_topology``, or ``topohub:KEY`` for a bundled network), folds the
events into a State, and prints. Everything it prints comes from the pure engine.

    shadowd analyze --topology PATH [--demands PATH] [--metric SCHEME]
                    [--failures none|links|nodes|srlg|links2] [--top N] [--json | --detail]

``--json`` prints one document, the summary an operator reads, whatever the network's
size: per failure its name, max utilisation, the link direction that reaches it and the
demands it disconnects; then ``worst_case``: ``{link, src, dst, wc_load, wc_util,
wc_failure}`` per directed link. ``--detail`` streams JSON lines instead, written as the
sweep goes (memory stays flat): an ``analysis`` header, then per failure a ``scenario``
line that adds ``{link, src, dst, load, utilization}`` for every directed link (the
``--top N`` most utilised if given), then a ``worst_case`` line per directed link.
Without either: top-N tables, and a progress bar on stderr (when it is a terminal) while
a sweep runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from shadowd.core.events import AnyEvent
from shadowd.core.state import fold
from shadowd.engine.incremental import Engine
from shadowd.engine.network import FloatArray, Network
from shadowd.engine.schemes import DEFAULT_REFERENCE_BPS, SCHEMES, MetricOptions
from shadowd.engine.sweep import SWEEP_KINDS, Failure, Scenario, SweepResult, failure_set, sweep

TOPOHUB = "topohub:"


def configure(p: argparse.ArgumentParser) -> None:
    """Fill in ``shadowd analyze``."""
    p.add_argument("--topology", required=True, help="topology file, or topohub:KEY")
    p.add_argument("--demands", type=Path, help="demands file (replaces the topology's)")
    p.add_argument("--metric", choices=SCHEMES, default="igp", help="metric scheme")
    p.add_argument("--reference-bandwidth", type=float, default=DEFAULT_REFERENCE_BPS,
                   help="bit/s, for --metric inverse-capacity (default 100e9)")
    p.add_argument("--failures", choices=SWEEP_KINDS, default="none", help="failure set")
    p.add_argument("--top", type=int, default=None,
                   help="rows per table; with --detail, links per failure (default all)")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="the summary as one JSON document on stdout")
    output.add_argument("--detail", action="store_true",
                        help="every failure's load on every link, as JSON lines on stdout")
    p.set_defaults(func=analyze)


def topology_events(topology: str, demands: Path | None) -> list[AnyEvent]:
    from shadowd.topology import load_topology, topohub_topology  # noqa: PLC0415 - CLI only

    if topology.startswith(TOPOHUB):
        return topohub_topology(topology[len(TOPOHUB) :], demands)
    return load_topology(Path(topology), demands)


def analyze(args: argparse.Namespace) -> int:
    state = fold(topology_events(args.topology, args.demands))
    options = MetricOptions(scheme=args.metric, reference_bps=args.reference_bandwidth)
    engine = Engine(state, options)
    failures, mode = failure_set(engine.routing, args.failures)
    if args.detail:
        lines = DetailLines(engine.net, args.top, sys.stdout.buffer.write)
        lines.header(_header(args, engine, mode))
        result = sweep(engine.routing, failures, mode=mode, on_scenario=lines.scenario)
        lines.worst_case(result)
        return 0
    progress = None if args.json or not sys.stderr.isatty() else _progress_bar
    result = sweep(engine.routing, failures, mode=mode, progress=progress)
    if progress is not None and failures:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(_summary(args, engine, result), indent=1))
    else:
        print(_human(args, engine, result))
    return 0


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    bar = "#" * filled + "." * (width - filled)
    print(f"\rsweeping [{bar}] {done}/{total} failures", end="", file=sys.stderr, flush=True)


# --- JSON --------------------------------------------------------------------------


def _header(args: argparse.Namespace, engine: Engine, mode: str) -> dict[str, Any]:
    net = engine.net
    return {
        "topology": args.topology,
        "metric": args.metric,
        "failures": args.failures,
        "failure_set": mode,
        "routers": net.size,
        "links": int(net.link_present.sum()),
        "demands": int((engine.routing.demand > 0).sum()),
    }


def _summary(args: argparse.Namespace, engine: Engine, result: SweepResult) -> dict[str, Any]:
    net = result.net
    return {
        **_header(args, engine, result.mode),
        "scenarios": [
            _outcome(net, failure, float(result.max_util[i]), int(result.max_edge[i]),
                     result.disconnected[i])
            for i, failure in enumerate(result.failures)
        ],
        "worst_case": _worst_rows(result),
    }


def _outcome(net: Network, failure: Failure, max_util: float, max_edge: int,
             lost: list[tuple[str, str, float]]) -> dict[str, Any]:
    """What the summary says of one failure."""
    return {
        "failure": failure.name,
        "max_utilization": max_util,
        "max_link": _edge_ref(net, max_edge) if max_edge >= 0 else None,
        "disconnected": [{"src": s, "dst": d, "rate_bps": r} for s, d, r in lost],
    }


def _edge_ref(net: Network, edge: int) -> dict[str, str]:
    link, src, dst = net.describe_edge(edge)
    return {"link": link, "src": src, "dst": dst}


def _worst_rows(result: SweepResult) -> list[dict[str, Any]]:
    net, util = result.net, result.wc_util
    rows = []
    for e in net.live_edges().tolist():
        link, src, dst = net.describe_edge(e)
        rows.append({
            "link": link, "src": src, "dst": dst, "wc_load": float(result.wc_load[e]),
            "wc_util": float(util[e]), "wc_failure": result.wc_failure_of(e).name,
        })
    return rows


class DetailLines:
    """``--detail``: JSON lines written as the sweep hands over each failure, so nothing
    grows with the number of failures."""

    def __init__(self, net: Network, top: int | None, write: Callable[[bytes], object]):
        self.net, self.top, self._write = net, top, write
        self.edges = net.live_edges()
        self.names = [net.describe_edge(e) for e in self.edges.tolist()]
        self._encoder = msgspec.json.Encoder()

    def header(self, fields: dict[str, Any]) -> None:
        self._line({"type": "analysis", **fields})

    def scenario(self, s: Scenario) -> None:
        outcome = _outcome(self.net, s.failure, s.max_util, s.max_edge, s.disconnected)
        self._line({"type": "scenario", **outcome, "links": self._links(s.loads)})

    def worst_case(self, result: SweepResult) -> None:
        for row in _worst_rows(result):
            self._line({"type": "worst_case", **row})

    def _links(self, loads: FloatArray) -> list[dict[str, Any]]:
        load = loads[self.edges]
        util = load / self.net.capacity[self.edges]
        order = np.arange(len(self.edges))
        if self.top is not None:
            order = np.argsort(-util, kind="stable")[: self.top]
        return [
            {"link": link, "src": src, "dst": dst, "load": x, "utilization": u}
            for (link, src, dst), x, u in zip(
                (self.names[i] for i in order.tolist()), load[order].tolist(),
                util[order].tolist(), strict=True,
            )
        ]

    def _line(self, document: dict[str, Any]) -> None:
        self._write(self._encoder.encode(document) + b"\n")


# --- human -------------------------------------------------------------------------


def _human(args: argparse.Namespace, engine: Engine, result: SweepResult) -> str:
    net, top = engine.net, args.top if args.top is not None else 10
    demands = engine.demands()
    offered = sum(d.rate_bps for d in demands)
    delivered = sum(d.delivered_bps for d in demands)
    lines = [
        f"{args.topology}: {net.size} routers, {int(net.link_present.sum())} links, "
        f"{len(demands)} demands, metric {args.metric}",
        f"offered {offered / 1e9:.3f} Gbit/s, delivered {delivered / 1e9:.3f} Gbit/s "
        f"({sum(d.latency_ms is None for d in demands)} demands unreachable)",
        "",
        f"top {top} links, no failure:",
        f"{'link':<24} {'from':<16} {'to':<16} {'load Gb/s':>10} {'util':>7}",
    ]
    lines += [
        f"{x.link:<24} {x.src:<16} {x.dst:<16} {x.load / 1e9:>10.3f} {x.utilization:>7.1%}"
        for x in engine.top(top)
    ]
    if len(result.failures) > 1:
        lines += ["", *_human_worst(result, top)]
    return "\n".join(lines)


def _human_worst(result: SweepResult, top: int) -> list[str]:
    rows = sorted(_worst_rows(result), key=lambda r: -r["wc_util"])[:top]
    cut = sum(bool(d) for d in result.disconnected)
    lines = [
        f"worst case over {len(result.failures) - 1} failures ({result.mode}); "
        f"{cut} of them disconnect demands",
        f"{'link':<24} {'from':<16} {'to':<16} {'WC util':>8}  WC failure",
    ]
    lines += [
        f"{r['link']:<24} {r['src']:<16} {r['dst']:<16} {r['wc_util']:>8.1%}  {r['wc_failure']}"
        for r in rows
    ]
    return lines
