"""``shadowd``: the daemon and its offline tools, one argparse tree.

Each command's parser is filled in by its own module (``configure(parser)``), imported
only when that command runs (or the whole tree is wanted: completion scripts, tests): the
offline tools pull in numpy, rustworkx and pyroute2, and ``shadowd --help`` should not wait
for them. A leaf parser sets ``func(args) -> exit code``. Errors that a user can fix print
one line and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, NamedTuple

from shadowd.cli import completion
from shadowd.core.errors import ShadowdError


class Command(NamedTuple):
    """A subcommand whose arguments its own module's ``configure(parser)`` adds."""

    name: str
    module: str
    help: str


COMMANDS: Final = (
    Command("log", "shadowd.cli.log", "inspect the event log, replay it to any lsn"),
    Command("analyze", "shadowd.cli.analyze",
            "route demands over a topology; loads, failure sweeps, worst case"),
    Command("trace", "shadowd.cli.trace", "telemetry traces for the replay source"),
    Command("agent", "shadowd.cli.agent",
            "publish production telemetry to shadowd (Kafka/MQTT)"),
    Command("lab", "shadowd.cli.lab", "the FRR lab: up, fidelity, status, down"),
    Command("backtest", "shadowd.cli.backtest", "score spike forecasts against a trace"),
)
EVERY: Final = "*"
DAEMON_UMASK: Final = 0o027  # files 0640, directories 0750: nothing for other users


def build_parser(only: str = EVERY) -> argparse.ArgumentParser:
    """The whole tree; or, given a command's name, that command's parser in full and the
    others as their one-line entries (what ``--help`` and a usage error list)."""
    parser = argparse.ArgumentParser(
        prog="shadowd", description="A live shadow of a production IP network."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon until SIGTERM / Ctrl-C")
    run.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    run.add_argument("--state-dir", help="override [daemon] state_dir")
    run.add_argument("--socket", help="override [control] socket")
    run.add_argument("--guided", action="store_true",
                     help="narrate the loop (ingest, predict, scenarios, policy, dry-run "
                          "rollout), then write a report and a summary (what `make run` does)")
    run.set_defaults(func=_run)
    for command in COMMANDS:
        leaf = sub.add_parser(command.name, help=command.help, description=command.help)
        if only in (EVERY, command.name):
            importlib.import_module(command.module).configure(leaf)
    completion.add_command(sub, "shadowd", build_parser)
    return parser


def _command_of(argv: Sequence[str]) -> str:
    """The subcommand ``argv`` names: its first word that is not an option."""
    return next((word for word in argv if not word.startswith("-")), "")


def _run(args: argparse.Namespace) -> int:
    import uvloop  # noqa: PLC0415 - only the daemon needs the event loop

    from shadowd import logs  # noqa: PLC0415 - keeps offline commands light
    from shadowd.config import load_config  # noqa: PLC0415
    from shadowd.daemon import serve  # noqa: PLC0415

    os.umask(DAEMON_UMASK)  # whatever started it: the state is the daemon's and its group's
    config = load_config(args.config).with_overrides(state_dir=args.state_dir, socket=args.socket)
    logs.configure(config.logging.level, config.logging.format)
    uvloop.run(serve(config, config_path=args.config, guided=args.guided))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command_of(argv)).parse_args(argv)
    from shadowd import logs  # noqa: PLC0415 - structlog is not needed to print usage

    logs.configure("info", "auto")
    code = 0
    try:
        code = args.func(args)
    except ShadowdError as err:
        print(f"shadowd {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `shadowd analyze ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
