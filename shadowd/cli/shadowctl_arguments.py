"""``shadowctl``'s arguments: each command's options, and the checks on their values
(counts within the protocol's limits, ``--metric ROUTER LINK COST``) that make a bad
value a usage error before anything is sent."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from shadowd.control.protocol import (
    MAX_DIFFERENCES,
    MAX_FORECAST_PLOTS,
    MAX_LOG_TAIL,
    MAX_POLICIES,
    MAX_RUNS,
    MAX_TOP,
)
from shadowd.control.rows import MetricSetting


def _tail_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_LOG_TAIL:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LOG_TAIL}")
    return count


def tail_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n", "--count", type=_tail_count, default=20, metavar="N",
        help=f"how many of the latest events (1..{MAX_LOG_TAIL}, default 20)",
    )


def router_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("router", metavar="ROUTER", help="a router name, as `topology` lists")


def top_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top", "-n", type=_top_count, default=10, metavar="N",
                        help="how many links, most utilised first (default 10)")


def _top_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_TOP:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TOP}")
    return count


def worst_case_arguments(parser: argparse.ArgumentParser) -> None:
    top_arguments(parser)
    parser.add_argument("--failures", choices=("links", "nodes", "srlg", "links2"),
                        default="links", help="the failure set to sweep (default links)")


def igp_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--igp", choices=("ospf", "isis"), default=None,
                        help="build with this IGP instead of the configured one "
                             "(a lab up with another IGP is rebuilt)")


def _differences_count(text: str) -> int:
    count = int(text)
    if not 0 <= count <= MAX_DIFFERENCES:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_DIFFERENCES}")
    return count


def fidelity_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--differences", type=_differences_count, default=20,
                        metavar="N", help="list the first N differing routes (default 20)")


def forecast_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--link", default=None, metavar="LINK",
                        help="only this link (both directions)")
    parser.add_argument("--top", "-n", type=_top_count, default=10, metavar="N",
                        help="how many link directions, highest extreme case first (default 10)")


def scenario_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="a scenario name, as `scenarios list` shows")


def run_arguments(parser: argparse.ArgumentParser) -> None:
    scenario_argument(parser)
    parser.add_argument("--lab", action="store_true",
                        help="run it in the FRR lab too (when the lab is up)")


def _runs_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= MAX_RUNS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_RUNS}")
    return count


def runs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--count", type=_runs_count, default=20, metavar="N",
                        help="the latest N runs (default 20)")


def _bounded(low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: a number in (low, high]."""

    def parse(text: str) -> float:
        value = float(text)
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be over {low:g} and at most {high:g}")
        return value

    return parse


def policy_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy_id", metavar="ID", help="a policy id, as `policies list` shows")


def policy_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--count", type=_bounded_count(MAX_POLICIES), default=50,
                        metavar="N", help="the latest N policies (default 50)")


def _bounded_count(high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        count = int(text)
        if not 1 <= count <= high:
            raise argparse.ArgumentTypeError(f"must be between 1 and {high}")
        return count

    return parse


MAX_IGP_COST = 16_777_214  # IS-IS wide metrics; OSPF stops at 65535 (the driver says so)


def propose_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", default="manual", metavar="TEXT",
                        help="why, as the proposal records it (default manual)")
    parser.add_argument("--metric", nargs=3, action=_MetricAction, default=[],
                        metavar=("ROUTER", "LINK", "COST"),
                        help="propose this change of your own instead of generating one: "
                             "ROUTER's outgoing cost on LINK (repeatable); it is assessed, "
                             "validated and rolled out like a generated one")


class _MetricAction(argparse.Action):
    """``--metric ROUTER LINK COST``, repeatable; a cost that is no whole number in the
    IGP's range is a usage error."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        router, link, cost = values
        if not cost.isdigit() or not 1 <= int(cost) <= MAX_IGP_COST:
            parser.error(f"--metric {router} {link} {cost}: the cost must be a whole number "
                         f"from 1 to {MAX_IGP_COST}")
        setting = MetricSetting(router=router, link=link, metric=int(cost))
        setattr(namespace, self.dest, [*getattr(namespace, self.dest), setting])


def deploy_arguments(parser: argparse.ArgumentParser) -> None:
    policy_argument(parser)
    parser.add_argument("--segment", default=None, metavar="NAME",
                        help="the [[policy.segments]] to roll out over (default: configured)")
    parser.add_argument("--percentage", type=_bounded(0.0, 100.0, "the percentage"),
                        default=None, metavar="P",
                        help="the share of the segment each step adds, in %% (default: "
                             "configured)")
    parser.add_argument("--interval", type=_bounded(0.0, 86_400.0, "the interval"),
                        default=None, metavar="SECONDS",
                        help="how long each gate watches production (default: configured)")
    parser.add_argument("--dry-run", action="store_true",
                        help="write what would be applied; change nothing in production")


def history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy_id", metavar="ID", nargs="?", default=None,
                        help="only this policy's rollouts (default: every policy's)")
    parser.add_argument("-n", "--count", type=_bounded_count(MAX_LOG_TAIL), default=200,
                        metavar="N", help="the latest N journal entries (default 200)")


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", required=True, metavar="DIR",
                        help="write DIR/index.html (the page) and DIR/report.json (its data)")
    parser.add_argument("--title", default="shadowd report", help="the page's title")
    parser.add_argument("--forecasts", type=_forecast_plots, default=8, metavar="N",
                        help="forecast-against-actual plots for the top N link directions "
                             f"(0..{MAX_FORECAST_PLOTS}, default 8)")


def _forecast_plots(text: str) -> int:
    count = int(text)
    if not 0 <= count <= MAX_FORECAST_PLOTS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_FORECAST_PLOTS}")
    return count
