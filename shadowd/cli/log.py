"""``shadowd log ...``: look into a state directory and time-travel through its log.

    shadowd log inspect --state-dir DIR [--json]
    shadowd log replay  --state-dir DIR [--until SEQ] [--from-zero] [--json]
    shadowd log replay-kafka --bootstrap HOST:PORT --topic TOPIC [--until SEQ] [--json]
    shadowd log repair  --state-dir DIR [--json]

All but ``repair`` only read. ``repair`` is the way out when the daemon refuses a state
dir whose snapshots prove events its log lost: it keeps the log as far as it is intact
(cutting a torn tail), renames the later snapshots ``*.orphan`` and says which lsns are
lost. Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from shadowd.core.errors import ShadowdError
from shadowd.core.state import State, digest
from shadowd.store.inspection import StateDirReport, inspect_state_dir
from shadowd.store.kafka_log import recover_from_kafka
from shadowd.store.recovery import RecoveryReport, recover
from shadowd.store.snapshot import ORPHAN

EXIT_ERROR = 2


def configure(log: argparse.ArgumentParser) -> None:
    """Fill in the ``shadowd log`` command group."""
    leaves = log.add_subparsers(dest="log_command", required=True, metavar="COMMAND")
    inspect = leaves.add_parser("inspect", help="segments, frames, lsn range, snapshots, damage")
    _common(inspect, _handling(_inspect))
    replay = leaves.add_parser("replay", help="the state at lsn SEQ (default: the log's end)")
    replay.add_argument("--until", type=_lsn, metavar="SEQ", help="stop after this lsn")
    replay.add_argument("--from-zero", action="store_true",
                        help="ignore snapshots: fold the whole log from its first event")
    _common(replay, _handling(_replay))
    repair = leaves.add_parser("repair", help="after damage the daemon refused: keep the log "
                               "as far as it is intact, set later snapshots aside, say what "
                               "is lost")
    _common(repair, _handling(_repair))
    kafka = leaves.add_parser("replay-kafka", help="the state folded from a Kafka log topic")
    kafka.add_argument("--bootstrap", required=True, metavar="HOST:PORT")
    kafka.add_argument("--topic", required=True)
    kafka.add_argument("--until", type=_lsn, metavar="SEQ", help="stop after this lsn")
    kafka.add_argument("--json", action="store_true", help="one JSON document on stdout")
    kafka.set_defaults(func=_handling(_replay_kafka))


def _common(parser: argparse.ArgumentParser, handler: Callable[[argparse.Namespace], int]) -> None:
    parser.add_argument("--state-dir", required=True, metavar="DIR", help="holds log/, snapshots/")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.set_defaults(func=handler)


def _lsn(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a log sequence number: {text!r}")
    return int(text)


def _handling(
    command: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (OSError, ShadowdError) as err:
            print(f"shadowd log {args.log_command}: error: {err}", file=sys.stderr)
            return EXIT_ERROR

    return handler


def _print_json(document: Any) -> None:
    sys.stdout.write(msgspec.json.encode(document).decode() + "\n")


# --- inspect ---------------------------------------------------------------------------


def _inspect(args: argparse.Namespace) -> int:
    report = inspect_state_dir(args.state_dir)
    if args.json:
        _print_json({**msgspec.structs.asdict(report), "events": report.events})
    else:
        print("\n".join(_inspect_lines(report)))
    if report.corruption:
        print(f"shadowd log inspect: error: corrupt log: {report.corruption[0]}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _inspect_lines(report: StateDirReport) -> list[str]:
    lines = [f"state dir {report.state_dir}: {report.events} events, "
             f"lsn {report.first_lsn}..{report.last_lsn}, {len(report.segments)} segments"]
    for seg in report.segments:
        lines.append(f"  {seg.name}  lsn {seg.first_lsn}..{seg.last_lsn}  "
                     f"{seg.frames} frames  {seg.bytes} bytes")
        if seg.damage is not None:
            kind = "torn tail" if seg.damage.torn_tail else "CORRUPT"
            lines.append(f"    {kind} at offset {seg.damage.offset}: {seg.damage.reason}")
    lines.append(f"{len(report.snapshots)} snapshots")
    for snap in report.snapshots:
        status = "ok" if snap.problem is None else f"BAD: {snap.problem}"
        lines.append(f"  {snap.name}  lsn {snap.lsn}  {snap.bytes} bytes  {status}")
    return lines


# --- replay ----------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    if not Path(args.state_dir).is_dir():
        raise FileNotFoundError(f"no state directory {args.state_dir}")
    state, report = recover(args.state_dir, until=args.until, use_snapshots=not args.from_zero)
    for problem in report.problems():
        print(f"shadowd log replay: warning: {problem.message}", file=sys.stderr)
    summary = state_summary(state)
    if args.json:
        _print_json({**summary, "snapshot_lsn": report.snapshot_lsn,
                     "replayed": report.replayed, "log_end": report.log_end})
    else:
        print("\n".join(_replay_lines(state, report, summary)))
    return 0


def _repair(args: argparse.Namespace) -> int:
    if not Path(args.state_dir).is_dir():
        raise FileNotFoundError(f"no state directory {args.state_dir}")
    state, report = recover(args.state_dir, repair=True, accept_loss=True)
    aside = [p for p in report.skipped_snapshots if p.lsn > report.log_end]
    proven = max((p.lsn for p in aside), default=report.log_end)
    doc = {"kept_to_lsn": report.log_end, "digest": digest(state),
           "torn_tail": str(report.truncation) if report.truncation else None,
           "set_aside": [f"{p.path}{ORPHAN}" for p in aside],
           "lost": [report.log_end + 1, proven] if proven > report.log_end else None}
    if args.json:
        _print_json(doc)
        return 0
    lines = [f"kept: the log to lsn {report.log_end} (digest {doc['digest']})"]
    if report.truncation is not None:
        lines.append(f"cut: {report.truncation}")
    lines += [f"set aside: snapshot at lsn {p.lsn}, now {p.path}{ORPHAN}" for p in aside]
    lines.append(f"lost: events {report.log_end + 1}..{proven} ({proven - report.log_end} "
                 "events), which the snapshots set aside prove were durable"
                 if proven > report.log_end else "lost: nothing a snapshot proves")
    print("\n".join(lines))
    return 0


def _replay_kafka(args: argparse.Namespace) -> int:
    state = asyncio.run(recover_from_kafka(args.bootstrap, args.topic, until=args.until))
    summary = state_summary(state)
    if args.json:
        _print_json({**summary, "topic": args.topic})
    else:
        print(f"{args.topic}: seq {summary['seq']}, digest {summary['digest']}, "
              f"{summary['routers']} routers, {summary['links']} links, "
              f"{summary['demands']} demands")
    return 0


def state_summary(state: State) -> dict[str, Any]:
    """The short description of a state that ``replay --json`` prints."""
    return {
        "seq": state.lsn,
        "digest": digest(state),
        "routers": len(state.routers),
        "links": len(state.links),
        "demands": state.demand_count(),
        "sources": {name: msgspec.structs.asdict(pos) for name, pos in state.sources.items()},
    }


def _replay_lines(state: State, report: RecoveryReport, summary: dict[str, Any]) -> list[str]:
    start = f"snapshot at lsn {report.snapshot_lsn}" if report.snapshot_lsn else "empty"
    up_routers = sum(r.up for r in state.routers.values())
    up_links = sum(link.up for link in state.links.values())
    sources = ", ".join(f"{name} seq {pos.seq}" for name, pos in sorted(state.sources.items()))
    return [
        f"state at lsn {state.lsn} (log ends at {report.log_end}; "
        f"{start} + {report.replayed} events replayed)",
        f"  digest   {summary['digest']}",
        f"  routers  {len(state.routers)} ({up_routers} up)",
        f"  links    {len(state.links)} ({up_links} up)",
        f"  demands  {summary['demands']}",
        f"  sources  {sources or '-'}",
    ]
