"""Failure sweeps: every single link, router, SRLG, or link pair; worst case per link.

Each failure is a what-if scenario for ``delta.reweigh`` (its edges get weight ``inf``):
only the routing trees that used a failed edge are touched, and failures are evaluated
in batches of scenarios (as many as fit ``memory_bytes`` of scratch), which on small
networks is what makes a sweep cheap.

Worst case (WAE's *WC util* / *WC failure*): per directed edge, the highest load over the
failure set *including the no-failure case*, its utilisation, and the failure causing it
(the first one, in sweep order, on ties). Per failure: the demands it disconnects.

Link pairs: exhaustive while the number of pairs is within ``pair_budget``. Beyond it,
pairs are pruned: each link is paired with the ``K`` links that carry the most traffic
*after* it has failed (``K = pair_budget // links``). A second failure moves exactly the
traffic its link carries, so these are the second failures that can push the most load
onto any other link. It is a heuristic, not a bound: ``SweepResult.mode`` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations
from typing import Final, Literal, NamedTuple

import numpy as np

from shadowd.engine.delta import Change, Workspace, loads_after, reweigh
from shadowd.engine.loads import Routing
from shadowd.engine.network import INF, FloatArray, IntArray, Network

FailureKind = Literal["none", "link", "router", "srlg", "links2"]
SweepKind = Literal["none", "links", "nodes", "srlg", "links2"]
SWEEP_KINDS: Final[tuple[str, ...]] = ("none", "links", "nodes", "srlg", "links2")

DEFAULT_MEMORY_BYTES: Final = 64 * 2**20
DEFAULT_PAIR_BUDGET: Final = 20_000
MAX_BATCH: Final = 128

Progress = Callable[[int, int], None]
OnScenario = Callable[["Scenario"], None]
Lost = list[tuple[str, str, float]]  # (src, dst, rate) of the demands a failure disconnects


@dataclass(frozen=True, slots=True)
class Failure:
    """What fails in a scenario: nothing, a link, a router, an SRLG, or two links."""

    kind: FailureKind
    items: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{'+'.join(self.items)}"

    def edges(self, net: Network) -> IntArray:
        if self.kind == "router":
            return net.edges_of_router(net.index[self.items[0]])
        links = self.items
        if self.kind == "srlg":
            links = tuple(net.link_ids[k] for k in net.srlgs.get(self.items[0], ()))
        if not links:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([net.edges_of_link(link) for link in links])


NO_FAILURE: Final = Failure("none")


class Scenario(NamedTuple):
    """One failure's outcome, handed to ``sweep``'s ``on_scenario`` as it is evaluated.
    ``loads`` is a view into the batch's scratch: copy it to keep it."""

    failure: Failure
    loads: FloatArray
    max_util: float
    max_edge: int  # the directed edge at max_util; -1 when no edge carries anything
    disconnected: Lost


@dataclass(eq=False)
class SweepResult:
    """Worst case per directed edge, and per failure its max utilisation and losses."""

    net: Network
    failures: list[Failure]
    mode: str
    max_util: FloatArray
    max_edge: IntArray  # per failure, the directed edge at its max_util (-1: none loaded)
    wc_load: FloatArray
    wc_failure: IntArray
    disconnected: list[Lost] = field(default_factory=list)

    @property
    def wc_util(self) -> FloatArray:
        util: FloatArray = self.wc_load / self.net.capacity
        return util

    def wc_failure_of(self, edge: int) -> Failure:
        return self.failures[int(self.wc_failure[edge])]


def single_links(net: Network) -> list[Failure]:
    present = zip(net.link_ids, net.link_present, strict=True)
    return [Failure("link", (k,)) for k, ok in present if ok]


def single_routers(net: Network) -> list[Failure]:
    return [Failure("router", (r,)) for r in net.routers]


def srlgs(net: Network) -> list[Failure]:
    return [Failure("srlg", (g,)) for g in sorted(net.srlgs) if net.srlgs[g]]


def batch_size(net: Network, memory_bytes: int = DEFAULT_MEMORY_BYTES) -> int:
    """Scenarios per batch: scratch dist (8 B) and fan (4 B) per (router, destination)."""
    per_scenario = 12 * max(net.size, 1) ** 2
    return max(1, min(MAX_BATCH, memory_bytes // per_scenario))


def _chunks(items: list[Failure], size: int) -> Iterator[tuple[int, list[Failure]]]:
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def evaluate(
    routing: Routing, ws: Workspace, failures: list[Failure]
) -> tuple[Change, FloatArray]:
    """One batch: the change and the (len(failures), edges) loads with each failure."""
    net = routing.net
    parts = [f.edges(net) for f in failures]
    scen = np.repeat(np.arange(len(parts)), [p.size for p in parts]).astype(np.int64)
    edges = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    change = reweigh(routing, ws, scen, edges, np.full(edges.size, INF))
    return change, loads_after(routing, change)[: len(failures)]


def _disconnected(routing: Routing, change: Change, count: int) -> list[Lost]:
    net, nn = routing.net, routing.dist.size
    lost = change.dist_keys[np.isinf(change.dist_values)]
    lost = lost[routing.demand.reshape(-1)[lost % nn] > 0.0]
    out: list[Lost] = [[] for _ in range(count)]
    for key in lost.tolist():
        s, pair = divmod(key, nn)
        src, dst = divmod(pair, net.size)
        out[s].append((net.routers[src], net.routers[dst], float(routing.demand[src, dst])))
    return out


def sweep(
    routing: Routing,
    failures: Iterable[Failure],
    *,
    mode: str = "exhaustive",
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    progress: Progress | None = None,
    on_scenario: OnScenario | None = None,
) -> SweepResult:
    """Evaluate every failure; worst case per edge over them and the no-failure case."""
    net = routing.net
    todo = [NO_FAILURE, *(f for f in failures if f.kind != "none")]
    result = SweepResult(
        net=net, failures=todo, mode=mode, max_util=np.zeros(len(todo)),
        max_edge=np.full(len(todo), -1, dtype=np.int64),
        wc_load=routing.load.copy(), wc_failure=np.zeros(net.edge_count, dtype=np.int64),
        disconnected=[[] for _ in todo],
    )
    _record(result, routing.load[None], 0, on_scenario)
    ws = Workspace.of(routing, min(batch_size(net, memory_bytes), max(len(todo) - 1, 1)))
    done = 0
    for start, chunk in _chunks(todo[1:], ws.scenarios):
        change, loads = evaluate(routing, ws, chunk)
        _fold_worst(result, loads, start + 1)
        result.disconnected[start + 1 : start + 1 + len(chunk)] = _disconnected(
            routing, change, len(chunk)
        )
        _record(result, loads, start + 1, on_scenario)
        done += len(chunk)
        if progress is not None:
            progress(done, len(todo) - 1)
    return result


def _record(result: SweepResult, loads: FloatArray, first: int,
            on_scenario: OnScenario | None) -> None:
    """A batch's max utilisation and where, per failure; then each to ``on_scenario``."""
    rows = np.arange(len(loads))
    util = loads / result.net.capacity
    edge = util.argmax(axis=1) if util.shape[1] else np.zeros(len(loads), dtype=np.int64)
    peak = util[rows, edge] if util.shape[1] else np.zeros(len(loads))
    span = slice(first, first + len(loads))
    result.max_util[span] = np.maximum(peak, 0.0)
    result.max_edge[span] = np.where(peak > 0.0, edge, -1)
    if on_scenario is None:
        return
    for i, row in enumerate(loads, start=first):
        on_scenario(Scenario(result.failures[i], row, float(result.max_util[i]),
                             int(result.max_edge[i]), result.disconnected[i]))


def _fold_worst(result: SweepResult, loads: FloatArray, first: int) -> None:
    """Merge a batch's loads into the running worst case (earlier failures win ties)."""
    best = np.argmax(loads, axis=0)
    peak = loads[best, np.arange(loads.shape[1])]
    higher = peak > result.wc_load
    result.wc_load[higher] = peak[higher]
    result.wc_failure[higher] = first + best[higher]


def link_pairs(
    routing: Routing,
    budget: int = DEFAULT_PAIR_BUDGET,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> tuple[list[Failure], str]:
    """The link-pair failure set and how it was chosen (see the module docstring)."""
    links = single_links(routing.net)
    names = [f.items[0] for f in links]
    if len(names) * (len(names) - 1) // 2 <= budget:
        return [Failure("links2", p) for p in combinations(names, 2)], "exhaustive"
    k = max(1, budget // max(len(names), 1))
    heavy: dict[str, list[str]] = {}

    def keep_heaviest(scenario: Scenario) -> None:
        if scenario.failure.kind == "link":
            per_link = scenario.loads[0::2] + scenario.loads[1::2]
            top = np.argsort(-per_link, kind="stable")[: k + 1]
            heavy[scenario.failure.items[0]] = [routing.net.link_ids[i] for i in top.tolist()]

    sweep(routing, links, memory_bytes=memory_bytes, on_scenario=keep_heaviest)
    pairs = {
        tuple(sorted((first, second)))
        for first, seconds in heavy.items()
        for second in [s for s in seconds if s != first][:k]
    }
    chosen = [Failure("links2", (a, b)) for a, b in sorted(pairs)]
    return chosen, f"pruned: each link with the {k} links most loaded after it fails"


def failure_set(
    routing: Routing, kind: SweepKind, pair_budget: int = DEFAULT_PAIR_BUDGET
) -> tuple[list[Failure], str]:
    """The failures of a sweep kind (``links``, ``nodes``, ``srlg``, ``links2``)."""
    net = routing.net
    if kind == "links":
        return single_links(net), "exhaustive"
    if kind == "nodes":
        return single_routers(net), "exhaustive"
    if kind == "srlg":
        return srlgs(net), "exhaustive"
    if kind == "links2":
        return link_pairs(routing, pair_budget)
    return [], "exhaustive"
