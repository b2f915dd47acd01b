"""``shadowd lab up|fidelity|status|down``: the lab without the daemon.

``up`` builds a lab from a topology file (or ``topohub:KEY``), waits until every RIB
agrees with the model and leaves it running; the others find it again by its lab id
(the record ``up`` wrote), so they can run from any shell, as can ``ip netns exec ID-R``
and ``vtysh -N ID-R``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import msgspec

from shadowd.cli.analyze import topology_events
from shadowd.core.state import fold
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab import cleanup
from shadowd.lab.fidelity import FidelityReport
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LabSettings


def configure(lab: argparse.ArgumentParser) -> None:
    """Fill in ``shadowd lab``."""
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="ACTION")
    up = sub.add_parser("up", help="build a lab from a topology; returns once converged")
    up.add_argument("--topology", required=True, help="topology file, or topohub:KEY")
    up.add_argument("--igp", choices=("ospf", "isis"), default="ospf")
    up.add_argument("--scale", type=float, default=1e-3,
                    help="shaped rate = capacity x scale (default 1e-3)")
    up.add_argument("--timeout", type=float, default=120.0,
                    help="seconds to wait for full agreement (default 120)")
    up.set_defaults(func=_up)
    for name, func, text in (("fidelity", _fidelity, "RIBs against the model"),
                             ("status", _status, "what of the lab exists"),
                             ("down", _down, "stop and remove everything of the lab")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(func=func)
    for p in (up, *(sub.choices[n] for n in ("fidelity", "status", "down"))):
        p.add_argument("--lab-id", required=True, help="lab id: namespaces are ID-ROUTER")
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _up(args: argparse.Namespace) -> int:
    state = fold(topology_events(args.topology, None))
    lab = Lab(LabSettings(lab_id=args.lab_id, igp=args.igp, scale=args.scale))

    async def bring_up() -> dict[str, Any]:
        start = time.monotonic()
        found = await lab.up(state)
        built = time.monotonic() - start
        converged = await lab.converge(next_hop_links(Engine(state)), since=start,
                                       timeout_s=args.timeout, lsn=state.lsn)
        memory = lab.memory()
        return {"lab_id": args.lab_id, "igp": args.igp, "routers": len(state.routers),
                "links": len(state.links), "removed_leftovers": len(found["namespaces"]),
                "built_s": round(built, 3), "converged": converged.converged,
                "converged_s": round(converged.seconds, 3),
                "agreement": converged.report.agreement,
                "rss_mb_per_router": round(_mean(m[0] for m in memory.values()) / 1e6, 1),
                "pss_mb_per_router": round(_mean(m[1] for m in memory.values()) / 1e6, 1)}

    doc = asyncio.run(bring_up())
    _print(args, doc, [
        f"lab {args.lab_id}: {doc['routers']} routers, {doc['links']} links ({args.igp})",
        f"built in {doc['built_s']} s; RIBs {'agree' if doc['converged'] else 'DISAGREE'} "
        f"({doc['agreement']:.1%}) after {doc['converged_s']} s",
        f"memory per router: {doc['rss_mb_per_router']} MB RSS, "
        f"{doc['pss_mb_per_router']} MB PSS",
        f"reach a router with: ip netns exec {args.lab_id}-ROUTER ... / "
        f"vtysh -N {args.lab_id}-ROUTER"])
    return 0 if doc["converged"] else 1


def _fidelity(args: argparse.Namespace) -> int:
    lab, state = Lab.attach(args.lab_id)
    report = asyncio.run(lab.fidelity(next_hop_links(Engine(state)), state.lsn))
    _print(args, msgspec.to_builtins(report) | {"agreement": report.agreement},
           _fidelity_lines(report))
    return 0 if report.agreement == 1.0 else 1


def _fidelity_lines(report: FidelityReport) -> list[str]:
    lines = [f"{report.agreeing}/{report.routes} routes agree ({report.agreement:.1%})"]
    for diff in report.differences[:20]:
        lines.append(f"  {diff.router} -> {diff.destination}: model {diff.model or '-'}, "
                     f"lab {diff.lab or '-'}")
    if len(report.differences) > 20:
        lines.append(f"  ... and {len(report.differences) - 20} more")
    return lines


def _status(args: argparse.Namespace) -> int:
    found = cleanup.leftovers(args.lab_id)
    doc = {"lab_id": args.lab_id, "recorded": cleanup.record_path(args.lab_id).exists(),
           **{k: len(v) for k, v in found.items()}}
    _print(args, doc, [f"lab {args.lab_id}: {doc['namespaces']} namespaces, "
                       f"{doc['processes']} processes, {doc['run_dirs']} FRR run dirs"])
    return 0


def _down(args: argparse.Namespace) -> int:
    found = asyncio.run(cleanup.purge(args.lab_id))
    doc = {"lab_id": args.lab_id, **{k: len(v) for k, v in found.items()}}
    _print(args, doc, [f"lab {args.lab_id}: removed {doc['namespaces']} namespaces, "
                       f"stopped {doc['processes']} processes"])
    return 0


def _mean(values: Any) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _print(args: argparse.Namespace, doc: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        json.dump(doc, sys.stdout, indent=1)
        print()
    else:
        print("\n".join(lines))

