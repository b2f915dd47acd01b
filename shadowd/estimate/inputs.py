"""What one interval measured, checked, and turned into the equations an estimate fits.

Every rate is in bit/s. Link counters come per link direction, under the routing
matrix's row names; edge totals per router (what enters the network there, what leaves
it there); measured demands per pair (flow export from some routers). Any of them may
be missing for some links, routers or pairs; none may be NaN, infinite or negative, or
name a link direction, router or pair the routing matrix does not have.

The equations: one per link direction with a counter (its row of the routing matrix)
and one per router total given (the pairs it starts or ends). Measured pairs are fixed:
their traffic is taken out of every equation before anything is fitted, and the
unknowns are the remaining pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from shadowd.core.errors import BadEstimateInput
from shadowd.engine.network import BoolArray, FloatArray, IntArray
from shadowd.estimate.routing_matrix import Pair, RoutingMatrix


@dataclass(frozen=True)
class Observed:
    """One interval's measurements, in bit/s (see the module docstring)."""

    counters: Mapping[str, float]
    ingress: Mapping[str, float] = field(default_factory=dict)
    egress: Mapping[str, float] = field(default_factory=dict)
    measured: Mapping[Pair, float] = field(default_factory=dict)


def _rate(value: float, what: str, subject: str) -> float:
    if not math.isfinite(value):
        raise BadEstimateInput(f"{what} is {value}, not a number of bit/s", subject=subject)
    if value < 0.0:
        raise BadEstimateInput(f"{what} is negative ({value} bit/s)", subject=subject)
    return float(value)


def _indexed(values: Mapping[str, float], index: Mapping[str, int], what: str,
             missing: str) -> tuple[IntArray, FloatArray]:
    """Positions and checked rates of ``values``; a name not in ``index`` is refused."""
    positions, rates = [], []
    for name, value in values.items():
        if name not in index:
            raise BadEstimateInput(missing, subject=name)
        positions.append(index[name])
        rates.append(_rate(value, what, name))
    return np.array(positions, dtype=np.int64), np.array(rates, dtype=np.float64)


def _per_router(values: Mapping[str, float], routing: RoutingMatrix, what: str) -> FloatArray:
    """A rate per router, NaN where ``values`` has none."""
    at, rates = _indexed(values, routing.router_index, what, "no such router in the routing")
    out = np.full(len(routing.routers), np.nan)
    out[at] = rates
    return out


def _measured(values: Mapping[Pair, float], routing: RoutingMatrix) -> FloatArray:
    """The measured rate per pair, NaN where it was not measured."""
    out = np.full(routing.pair_count, np.nan)
    for pair, value in values.items():
        column = routing.pair_index.get(pair)
        if column is None:
            raise BadEstimateInput("no such pair in the routing", subject="->".join(pair))
        out[column] = _rate(value, "measured demand", "->".join(pair))
    return out


@dataclass(frozen=True, eq=False)
class Checked:
    """``Observed`` as arrays over the routing matrix: counters at ``rows``; totals and
    measured rates NaN where not given."""

    rows: IntArray
    counters: FloatArray
    ingress: FloatArray
    egress: FloatArray
    measured: FloatArray

    @property
    def known(self) -> BoolArray:
        return ~np.isnan(self.measured)


def check(routing: RoutingMatrix, observed: Observed) -> Checked:
    """``observed`` checked against ``routing``; the first fault raises
    ``BadEstimateInput`` naming its link direction, router or pair."""
    rows, counters = _indexed(observed.counters, routing.row_index, "counter",
                              "no such link direction in the routing")
    order = np.argsort(rows)
    return Checked(rows=rows[order], counters=counters[order],
                   ingress=_per_router(observed.ingress, routing, "ingress total"),
                   egress=_per_router(observed.egress, routing, "egress total"),
                   measured=_measured(observed.measured, routing))


def totals_matrix(routing: RoutingMatrix, ends: IntArray) -> sp.csr_array:
    """Router x pair incidence: row ``r`` sums the pairs whose ``ends`` (src or dst) is r."""
    shape = (len(routing.routers), routing.pair_count)
    ones = np.ones(routing.pair_count)
    return sp.csr_array((ones, (ends, np.arange(routing.pair_count))), shape=shape)


@dataclass(frozen=True, eq=False)
class Equations:
    """``matrix @ x == target`` over the unknown pairs ``unknown``: link counters first
    (``links`` of them), then the totals given; measured traffic already taken out."""

    matrix: sp.csr_array
    target: FloatArray
    links: int
    unknown: IntArray


def equations(routing: RoutingMatrix, seen: Checked) -> Equations:
    """The equations of ``seen`` (see ``Equations``); targets below zero after the measured
    traffic is taken out (counters and flows disagree a little) are held at zero."""
    given_in, given_out = ~np.isnan(seen.ingress), ~np.isnan(seen.egress)
    full = sp.vstack([routing.matrix[seen.rows],
                      totals_matrix(routing, routing.src)[np.flatnonzero(given_in)],
                      totals_matrix(routing, routing.dst)[np.flatnonzero(given_out)]],
                     format="csc")
    target = np.concatenate([seen.counters, seen.ingress[given_in], seen.egress[given_out]])
    known = seen.known
    target = target - full[:, np.flatnonzero(known)] @ seen.measured[known]
    unknown = np.flatnonzero(~known)
    return Equations(matrix=full[:, unknown].tocsr(), target=np.maximum(target, 0.0),
                     links=int(seen.rows.size), unknown=unknown)
