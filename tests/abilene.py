"""The vendored Abilene week (``tests/data/abilene-week``, its README says where it comes
from) as the estimator sees a network: a routing matrix over its 30 link directions, and
per interval the link counters, edge totals and, from chosen routers, measured pairs.

Its units are the source's (bytes per interval, scaled); an estimate's error is a ratio,
so they are used as they are, as if bit/s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from shadowd.engine.network import FloatArray
from shadowd.estimate.inputs import Observed
from shadowd.estimate.routing_matrix import RoutingMatrix

DATA = Path(__file__).resolve().parent / "data" / "abilene-week" / "abilene_week.npz"
LINK_ROWS = 30  # the first rows of A_full; then 12 "*_R" (leaving) and 12 "R_*" (entering)


@dataclass(frozen=True, eq=False)
class Week:
    """The week: ``routing``; ``truth`` (interval x pair), ``counters`` (interval x link
    direction), ``ingress``/``egress`` (interval x router)."""

    routing: RoutingMatrix
    truth: FloatArray
    counters: FloatArray
    ingress: FloatArray
    egress: FloatArray

    @property
    def intervals(self) -> int:
        return int(self.truth.shape[0])

    @cached_property
    def by_volume(self) -> list[str]:
        """Routers by the traffic entering the network there over the week, largest first."""
        order = np.argsort(-self.ingress.sum(axis=0), kind="stable")
        return [self.routing.routers[i] for i in order.tolist()]

    def observed(self, t: int, flows_at: Sequence[str] = (), *,
                 totals: bool = True) -> Observed:
        """Interval ``t``'s counters (and totals), with the pairs entering at ``flows_at``
        measured."""
        rm = self.routing
        counters = dict(zip(rm.rows, self.counters[t].tolist(), strict=True))
        ingress = dict(zip(rm.routers, self.ingress[t].tolist(), strict=True)) if totals else {}
        egress = dict(zip(rm.routers, self.egress[t].tolist(), strict=True)) if totals else {}
        at = [rm.router_index[r] for r in flows_at]
        pairs = np.flatnonzero(np.isin(rm.src, at)).tolist()
        measured = {rm.pair(p): float(self.truth[t, p]) for p in pairs}
        return Observed(counters=counters, ingress=ingress, egress=egress, measured=measured)


def _router_pair(name: str) -> tuple[str, str]:
    a, _, b = name.partition("_")
    return a, b


def load(path: Path = DATA) -> Week:
    data = np.load(path)
    a_full, rows = data["A_full"], [str(r) for r in data["A_full__dim_0"]]
    pairs = [_router_pair(str(c)) for c in data["X__dim_1"]]
    routers = sorted({r for pair in pairs for r in pair})
    index = {r: i for i, r in enumerate(routers)}
    ends = np.array([[index[r] for r in _router_pair(rows[k])] for k in range(LINK_ROWS)])
    routing = RoutingMatrix(
        matrix=sp.csr_array(a_full[:LINK_ROWS]), rows=rows[:LINK_ROWS],
        tail=ends[:, 0], head=ends[:, 1], routers=routers,
        src=np.array([index[s] for s, _ in pairs]), dst=np.array([index[d] for _, d in pairs]))
    y = data["Y_full"]
    return Week(routing=routing, truth=data["X"], counters=y[:, :LINK_ROWS],
                ingress=y[:, [rows.index(f"{r}_*") for r in routers]],
                egress=y[:, [rows.index(f"*_{r}") for r in routers]])


def relative_error(estimate: FloatArray, truth: FloatArray) -> float:
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))
