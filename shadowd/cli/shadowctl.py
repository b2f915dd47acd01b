"""``shadowctl``: talk to a running shadowd over its control socket.

Every command is one ``Command`` in ``COMMANDS``: the words that name it, how to build
its request from the parsed arguments (its options are in ``shadowctl_arguments``), and
how to render its reply for humans (``--json`` prints the reply as JSON instead, for
every command).

Exit status: 0 on success, 1 when shadowd answers with an error, 2 when it cannot be
reached or the command line is wrong; errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeAlias

from shadowd.cli import completion, tables, tables_policies, tables_scenarios
from shadowd.cli.shadowctl_arguments import (
    deploy_arguments,
    fidelity_arguments,
    forecast_arguments,
    history_arguments,
    igp_argument,
    policy_argument,
    policy_list_arguments,
    propose_arguments,
    report_arguments,
    router_argument,
    run_arguments,
    runs_arguments,
    scenario_argument,
    tail_arguments,
    top_arguments,
    worst_case_arguments,
)
from shadowd.control.blocking import call_sync
from shadowd.control.endpoint import DEFAULT_TIMEOUT_S, SOCKET_ENV, default_socket
from shadowd.control.errors import DaemonUnavailable, ProtocolError, RemoteError
from shadowd.control.protocol import (
    ForecastRequest,
    LabDownRequest,
    LabFidelityRequest,
    LabStatusRequest,
    LabUpRequest,
    LoadsRequest,
    LogTailRequest,
    MetricsRequest,
    PolicyApproveRequest,
    PolicyDeployRequest,
    PolicyHistoryRequest,
    PolicyListRequest,
    PolicyProposeRequest,
    PolicyRollbackRequest,
    PolicyShowRequest,
    R,
    ReportRequest,
    Request,
    RoutesRequest,
    ScenarioListRequest,
    ScenarioRunRequest,
    ScenarioRunsRequest,
    ScenarioShowRequest,
    SnapshotRequest,
    StatusRequest,
    TopologyRequest,
    WorstCaseRequest,
)
from shadowd.control.replies import ErrorReply, MetricsReply, ReportReply

EXIT_OK: Final = 0
EXIT_ERROR_REPLY: Final = 1
EXIT_UNAVAILABLE: Final = 2
LAB_UP_TIMEOUT_S: Final = 900.0  # building a big lab and waiting for FRR takes minutes
LAB_DOWN_TIMEOUT_S: Final = 300.0  # may wait for a convergence in progress to end
SCENARIO_TIMEOUT_S: Final = 120.0  # a sweep of a big network takes a while
PROPOSE_TIMEOUT_S: Final = 900.0  # sweeps, then validation in the lab (steps x convergence)


# The type argparse gives no public name.
_Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True, slots=True)
class Command(Generic[R]):
    words: tuple[str, ...]  # ("log", "tail") is ``shadowctl log tail``
    help: str
    request: Callable[[argparse.Namespace], Request[R]]
    render: Callable[[R], str]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments
    timeout_s: float = DEFAULT_TIMEOUT_S  # unless --timeout says otherwise
    # Instead of ``render``: acts on the arguments too (writes the files they name), and
    # returns what to print; runs with --json as well.
    output: Callable[[R, argparse.Namespace], str] | None = None


def _propose_request(args: argparse.Namespace) -> PolicyProposeRequest:
    return PolicyProposeRequest(reason=args.reason, metrics=args.metric)


def _deploy_request(args: argparse.Namespace) -> PolicyDeployRequest:
    return PolicyDeployRequest(policy_id=args.policy_id, segment=args.segment,
                               rollout_percentage=args.percentage,
                               monitoring_interval_s=args.interval, dry_run=args.dry_run)


def _report_summary(reply: ReportReply) -> str:
    d = reply.data
    over = sum(lk.wc_util >= 1.0 for lk in d.links)
    return (f"{len(d.routers)} routers, {len(d.links)} link directions ({over} overloaded in "
            f"their worst case), {len(d.forecasts)} forecast plots, {len(d.runs)} scenario "
            f"runs, {len(d.policies)} policies\n")


def _write_report(reply: ReportReply, args: argparse.Namespace) -> str:
    from pathlib import Path  # noqa: PLC0415 - shadowctl's other commands need neither

    from shadowd.report.write import write_report  # noqa: PLC0415 - numpy, for this command

    path = write_report(reply.data, Path(args.out))
    return f"{path.resolve()}\n" + _report_summary(reply)


def _metrics_text(reply: MetricsReply) -> str:
    return reply.text


COMMANDS: Final[tuple[Command[Any], ...]] = (
    Command(("status",), "log position, digest, sources and uptime of the shadow",
            lambda args: StatusRequest(), tables.status),
    Command(("topology",), "routers and links as the shadow sees them",
            lambda args: TopologyRequest(), tables.topology),
    Command(("log", "tail"), "the latest events of the log",
            lambda args: LogTailRequest(count=args.count), tables.log_tail, tail_arguments),
    Command(("snapshot",), "write a snapshot of the shadow now",
            lambda args: SnapshotRequest(), tables.snapshot),
    Command(("routes",), "a router's next-hop table (ECMP) in the model",
            lambda args: RoutesRequest(router=args.router), tables.routes, router_argument),
    Command(("loads",), "the most utilised links in the model",
            lambda args: LoadsRequest(top=args.top), tables.loads, top_arguments),
    Command(("worst-case",), "each link's worst case (WC util / WC failure) over a failure set",
            lambda args: WorstCaseRequest(failures=args.failures, top=args.top),
            tables.worst_case, worst_case_arguments),
    Command(("lab", "up"), "build the FRR lab from the shadow; returns once it agrees with "
            "the model", lambda args: LabUpRequest(igp=args.igp), tables.lab_up,
            igp_argument, LAB_UP_TIMEOUT_S),
    Command(("lab", "down"), "stop the lab's routers and remove its namespaces",
            lambda args: LabDownRequest(), tables.lab_down, timeout_s=LAB_DOWN_TIMEOUT_S),
    Command(("lab", "status"), "whether the lab is up, what runs, and its last convergences",
            lambda args: LabStatusRequest(), tables.lab_status),
    Command(("lab", "fidelity"), "the lab's routes against the model's, and where they differ",
            lambda args: LabFidelityRequest(differences=args.differences),
            tables.lab_fidelity, fidelity_arguments),
    Command(("forecast",), "per link direction: load now and recent max, the forecast at the "
            "next peak, and the extreme case (worst failure at that level)",
            lambda args: ForecastRequest(link=args.link, top=args.top), tables_scenarios.forecast,
            forecast_arguments, SCENARIO_TIMEOUT_S),
    Command(("scenarios", "list"), "the scenario library, and the files that cannot be used",
            lambda args: ScenarioListRequest(), tables_scenarios.scenario_list),
    Command(("scenarios", "show"), "one scenario: its keys, and its timeline on the network now",
            lambda args: ScenarioShowRequest(name=args.name), tables_scenarios.scenario_show,
            scenario_argument),
    Command(("scenarios", "run"), "run a scenario now in the shadow (the model; --lab: the lab "
            "too), never in production", lambda args: ScenarioRunRequest(
                name=args.name, lab=args.lab), tables_scenarios.scenario_run, run_arguments,
            LAB_UP_TIMEOUT_S),
    Command(("scenarios", "runs"), "the latest scenario runs, predictive and manual",
            lambda args: ScenarioRunsRequest(count=args.count), tables_scenarios.scenario_runs,
            runs_arguments),
    Command(("policies", "list"), "the route policies shadowd proposed and where each stands",
            lambda args: PolicyListRequest(count=args.count), tables_policies.policy_list,
            policy_list_arguments),
    Command(("policies", "show"), "one policy: predicted effect, changes, validation, FRR "
            "config and diff, rollout journal, feedback",
            lambda args: PolicyShowRequest(policy_id=args.policy_id),
            tables_policies.policy_show, policy_argument, SCENARIO_TIMEOUT_S),
    Command(("policies", "propose"), "generate a policy from the shadow now and validate it "
            "(in the lab when it is up)", _propose_request,
            tables_policies.policy_propose, propose_arguments, PROPOSE_TIMEOUT_S),
    Command(("policies", "deploy"), "roll a validated policy out to production in "
            "metric-gated phases (in the background)", _deploy_request,
            tables_policies.policy_deploy, deploy_arguments, SCENARIO_TIMEOUT_S),
    Command(("policies", "approve"), "let a rollout held for manual approval go on",
            lambda args: PolicyApproveRequest(policy_id=args.policy_id),
            tables_policies.policy_approve, policy_argument),
    Command(("policies", "rollback"), "roll a policy's rollout back, restoring the previous "
            "configuration exactly", lambda args: PolicyRollbackRequest(policy_id=args.policy_id),
            tables_policies.policy_rollback, policy_argument, SCENARIO_TIMEOUT_S),
    Command(("policies", "history"), "the rollout journal: every step, before and after it acts",
            lambda args: PolicyHistoryRequest(policy_id=args.policy_id, count=args.count),
            tables_policies.policy_history, history_arguments),
    Command(("report",), "write a self-contained HTML report: the network map coloured by "
            "utilisation now and in the worst case, the worst-case table, forecasts against "
            "actual, scenario runs, policies and rollouts",
            lambda args: ReportRequest(title=args.title, forecasts=args.forecasts),
            _report_summary, report_arguments, SCENARIO_TIMEOUT_S, _write_report),
    Command(("metrics",), "the Prometheus text metrics, as GET /metrics serves them (for a "
            "textfile collector: shadowctl metrics > DIR/shadowd.prom.tmp, then mv)",
            lambda args: MetricsRequest(), _metrics_text),
)

GROUP_HELP: Final = {"log": "look into the event log",
                     "lab": "the FRR lab that mirrors the shadow",
                     "scenarios": "the scenario library and its runs in the shadow",
                     "policies": "route policies: propose, validate, deploy, roll back"}


# --- the command line ----------------------------------------------------------------


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole tree; or, given a command line, only the command it names (argparse's
    parsers cost shadowctl's start about half a millisecond each), or, when it names none
    (``--help``, a typo), every command as its one-line entry."""
    parser = argparse.ArgumentParser(
        prog="shadowctl", description="Talk to a running shadowd over its control socket."
    )
    parser.add_argument(
        "--socket", default=default_socket(), metavar="PATH",
        help=f"shadowd's control socket (default: ${SOCKET_ENV} or %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print replies as JSON")
    parser.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS",
        help=f"give up on shadowd after this long (default: {DEFAULT_TIMEOUT_S:g}; "
             f"lab up {LAB_UP_TIMEOUT_S:g}, lab down {LAB_DOWN_TIMEOUT_S:g})",
    )
    # Subcommands take --json too; SUPPRESS keeps them from resetting the global one.
    json_too = argparse.ArgumentParser(add_help=False)
    json_too.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                          help="print the reply as JSON")
    groups: dict[tuple[str, ...], _Subparsers] = {}
    chosen = _named(argv) if argv is not None else None
    for command in COMMANDS:
        if chosen is None and argv is not None:
            _subparsers(parser, groups, command.words[:-1]).add_parser(
                command.words[-1], help=command.help)
        elif command is chosen or argv is None:
            _add_command(parser, groups, command, json_too)
    if chosen is None:
        completion.add_command(_subparsers(parser, groups, ()), "shadowctl", build_parser)
    return parser


GLOBAL_OPTIONS_WITH_VALUES: Final = ("--socket", "--timeout")


def _named(argv: Sequence[str]) -> Command[Any] | None:
    """The command whose words lead ``argv`` once the global options are set aside."""
    words: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg in GLOBAL_OPTIONS_WITH_VALUES:
            next(rest, None)
        elif arg.startswith("-"):
            if words:
                break
        else:
            words.append(arg)
    return next((c for c in COMMANDS if tuple(words[: len(c.words)]) == c.words), None)


def _add_command(
    root: argparse.ArgumentParser,
    groups: dict[tuple[str, ...], _Subparsers],
    command: Command[Any],
    json_too: argparse.ArgumentParser,
) -> None:
    sub = _subparsers(root, groups, command.words[:-1]).add_parser(
        command.words[-1], help=command.help, description=command.help, parents=[json_too]
    )
    command.arguments(sub)
    sub.set_defaults(command=command)


def _subparsers(
    root: argparse.ArgumentParser, groups: dict[tuple[str, ...], _Subparsers],
    prefix: tuple[str, ...],
) -> _Subparsers:
    """The subcommand group under ``prefix`` (``("log",)`` holds ``tail``), made on demand."""
    if prefix not in groups:
        parser = root
        if prefix:
            word = prefix[-1]
            parser = _subparsers(root, groups, prefix[:-1]).add_parser(
                word, help=GROUP_HELP.get(word, f"{word} commands")
            )
        groups[prefix] = parser.add_subparsers(
            dest=f"word{len(prefix)}", required=True, metavar="COMMAND"
        )
    return groups[prefix]


# --- running -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_UNAVAILABLE
    offline: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if offline is not None:  # `completion`: needs no daemon
        return offline(args)
    return run(args.command, args)


def run(command: Command[Any], args: argparse.Namespace) -> int:
    try:
        timeout_s = args.timeout if args.timeout is not None else command.timeout_s
        reply = call_sync(command.request(args), args.socket, timeout_s=timeout_s)
    except RemoteError as err:
        if args.json:
            sys.stdout.write(tables.as_json(ErrorReply(code=err.code, message=err.message)))
        return _fail(f"shadowd refused: {err.code}: {err.message}", EXIT_ERROR_REPLY)
    except (DaemonUnavailable, ProtocolError) as err:
        return _fail(str(err), EXIT_UNAVAILABLE)
    try:
        text = command.output(reply, args) if command.output is not None else ""
    except OSError as err:
        return _fail(f"cannot write: {err}", EXIT_UNAVAILABLE)
    if args.json or not text:
        text = tables.as_json(reply) if args.json else command.render(reply)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `shadowctl log tail | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


def _fail(message: str, code: int) -> int:
    print(f"shadowctl: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
