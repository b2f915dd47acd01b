"""``shadowd``: the daemon and its offline tools, one argparse tree.

Each area registers its own subcommands (``register(subparsers)``); a leaf parser sets
``func(args) -> exit code``. Errors that a user can fix print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from shadowd import completion, logs
from shadowd.agent import commands as agent_commands
from shadowd.config import load_config
from shadowd.core.errors import ShadowdError
from shadowd.engine import commands as engine_commands
from shadowd.ingest import commands as ingest_commands
from shadowd.lab import commands as lab_commands
from shadowd.predict import commands as predict_commands
from shadowd.store import commands as store_commands


def build_parser() -> argparse.ArgumentParser:
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
    store_commands.register(sub)
    engine_commands.register(sub)
    ingest_commands.register(sub)
    agent_commands.register(sub)
    lab_commands.register(sub)
    predict_commands.register(sub)
    completion.add_command(sub, "shadowd", build_parser)
    return parser


def _run(args: argparse.Namespace) -> int:
    import uvloop  # noqa: PLC0415 - only the daemon needs the event loop

    from shadowd.daemon import Daemon  # noqa: PLC0415 - keeps offline commands light

    config = load_config(args.config).with_overrides(state_dir=args.state_dir, socket=args.socket)
    logs.configure(config.logging.level, config.logging.format)
    daemon = Daemon(config, config_path=args.config, guided=args.guided)
    uvloop.run(daemon.run())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
