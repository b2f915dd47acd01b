"""The numerical parts of an estimate: priors, and fits of a prior to the equations.

A *prior* is a first guess of every unknown pair; a *fit* moves it until the routing
matrix maps it onto the measured counters and totals (``inputs.Equations``):

- ``gravity``: traffic from ``i`` to ``j`` in proportion to what enters at ``i`` times
  what leaves at ``j``;
- ``affinity``: how the measured pairs deviate from gravity, carried over to pairs that
  resemble them (the same two routers the other way round; paths of the same length);
- ``tomogravity_fit``: the least-squares correction of Zhang, Roughan, Duffield and
  Greenberg (2003): the smallest change, weighted by the prior (``sum (x - p)^2 / p``),
  that fits the equations, by ``scipy.sparse.linalg.lsqr``; negatives clipped to zero;
- ``least_squares_fit``: the same correction as a regularised, bounded least-squares
  problem (``scipy.optimize.lsq_linear``, ``x >= 0``);
- ``kl_fit``: the fit closest to the prior in Kullback-Leibler divergence
  (``sum x log(x / p) - x + p``), the maximum-entropy correction: each pair is the prior
  times ``exp`` of the sum of one factor per equation it appears in. It stays
  non-negative and keeps the prior's zeros; it is solved in its dual (one unknown per
  equation) by scipy's L-BFGS-B, each step two products with the sparse matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import lsq_linear, minimize
from scipy.sparse.linalg import lsqr

from shadowd.engine.network import BoolArray, FloatArray, IntArray
from shadowd.estimate.inputs import Checked, Equations
from shadowd.estimate.routing_matrix import RoutingMatrix

LOG_STEP_LIMIT = 50.0  # how far (in e-folds) the KL fit may scale a pair of the prior


def masses(routing: RoutingMatrix, seen: Checked) -> tuple[FloatArray, FloatArray]:
    """What enters and what leaves the network at each router: its totals where given;
    else what its links carry away from it (entering) and towards it (leaving), which
    overstates by the transit but ranks routers by size."""
    n = len(routing.routers)
    away = np.bincount(routing.tail[seen.rows], seen.counters, minlength=n)
    towards = np.bincount(routing.head[seen.rows], seen.counters, minlength=n)
    ingress = np.where(np.isnan(seen.ingress), away, seen.ingress)
    egress = np.where(np.isnan(seen.egress), towards, seen.egress)
    return ingress, egress


def unmeasured_masses(routing: RoutingMatrix, seen: Checked) -> tuple[FloatArray, FloatArray]:
    """``masses`` less the measured pairs' traffic: what the unknown pairs share."""
    ingress, egress = masses(routing, seen)
    n, known = len(routing.routers), seen.known
    ingress = ingress - np.bincount(routing.src[known], seen.measured[known], minlength=n)
    egress = egress - np.bincount(routing.dst[known], seen.measured[known], minlength=n)
    return np.maximum(ingress, 0.0), np.maximum(egress, 0.0)


def gravity(ingress: FloatArray, egress: FloatArray, src: IntArray, dst: IntArray) -> FloatArray:
    """The gravity model: ``ingress[i] * egress[j] / total`` for each pair (i, j)."""
    total = float(ingress.sum())
    if total <= 0.0:
        return np.zeros(src.size)
    return np.asarray(ingress[src] * egress[dst] / total)


def affinity(routing: RoutingMatrix, seen: Checked, *, reverse: float,
             path: float) -> FloatArray:
    """Per pair, a log factor for its prior learnt from the measured pairs: ``reverse``
    times the log ratio measured / gravity of its reverse pair (when measured), plus
    ``path`` times the mean log ratio of measured pairs whose paths are as long."""
    known = seen.known
    factor = np.zeros(routing.pair_count)
    if not known.any():
        return factor
    ratio = _log_ratio_to_gravity(routing, seen)
    back = routing.reverse
    mirrored = (back >= 0) & known[np.maximum(back, 0)]
    factor[mirrored] += reverse * ratio[back[mirrored]]
    length = np.rint(routing.hops).astype(np.int64)
    seen_count = np.bincount(length[known], minlength=length.max() + 1)
    summed = np.bincount(length[known], ratio[known], minlength=length.max() + 1)
    mean = np.divide(summed, seen_count, out=np.zeros(summed.size), where=seen_count > 0)
    return factor + path * mean[length]


def _log_ratio_to_gravity(routing: RoutingMatrix, seen: Checked) -> FloatArray:
    """log(measured / gravity) for measured pairs (0 elsewhere), softened near zero."""
    ingress, egress = masses(routing, seen)
    model = gravity(ingress, egress, routing.src, routing.dst)
    floor = 1e-6 * max(float(model.max(initial=0.0)), 1e-300)
    measured = np.nan_to_num(seen.measured)
    out: FloatArray = np.where(seen.known, np.log((measured + floor) / (model + floor)), 0.0)
    return out


def tomogravity_fit(eq: Equations, prior: FloatArray, *, iterations: int = 500) -> FloatArray:
    """The prior-weighted least-squares correction (see the module docstring)."""
    if eq.target.size == 0:
        return prior.copy()
    scale = np.sqrt(prior)
    scaled = eq.matrix @ sp.diags_array(scale)
    step = lsqr(scaled, eq.target - eq.matrix @ prior, atol=1e-10, btol=1e-10,
                iter_lim=iterations)[0]
    return np.maximum(prior + scale * step, 0.0)


def least_squares_fit(eq: Equations, prior: FloatArray, *, weight: float = 1e-3) -> FloatArray:
    """min ||A x - y||^2 + weight^2 max(p) sum (x - p)^2 / p subject to x >= 0: the
    weight is relative to the largest prior, so it does not depend on the units."""
    if eq.target.size == 0:
        return prior.copy()
    scale = np.sqrt(prior)
    damp = weight * float(np.sqrt(prior.max(initial=0.0)))
    stacked = sp.vstack([eq.matrix @ sp.diags_array(scale),
                         damp * sp.eye_array(prior.size)], format="csr")
    rhs = np.concatenate([eq.target - eq.matrix @ prior, np.zeros(prior.size)])
    lower = np.where(scale > 0, -scale, -1e-12)
    step = lsq_linear(stacked, rhs, bounds=(lower, np.inf), lsmr_tol="auto").x
    return np.maximum(prior + scale * step, 0.0)


def kl_fit(eq: Equations, prior: FloatArray, *, iterations: int = 2000,
           tolerance: float = 1e-4, slack: float = 1e-6) -> FloatArray:
    """The fit nearest the prior in KL divergence (see the module docstring).

    Solved in its dual, by ``scipy.optimize.minimize`` (L-BFGS-B): ``x = p * exp(A^T l)``
    with ``l`` minimising ``sum(x) - y.l + slack/2 |l|^2`` (in units of ``|y|``). The
    ``slack`` term keeps equations that contradict each other (counters never agree
    exactly) from driving ``l`` to infinity. Equations measuring zero force their pairs
    to zero; equations no pair of the prior can meet are left out.
    """
    x = np.where(_on_zero_rows(eq), 0.0, prior)
    live = np.flatnonzero((eq.target > 0) & (eq.matrix @ x > 0))
    if live.size == 0:
        return x
    matrix = eq.matrix[live]
    transposed, scale = matrix.T.tocsr(), float(np.linalg.norm(eq.target[live]))
    target, start = eq.target[live] / scale, x / scale

    def fitted(dual: FloatArray) -> FloatArray:
        exponent = np.clip(transposed @ dual, -LOG_STEP_LIMIT, LOG_STEP_LIMIT)
        return np.asarray(start * np.exp(exponent))

    def objective(dual: FloatArray) -> tuple[float, FloatArray]:
        x = fitted(dual)
        value = x.sum() - target @ dual + 0.5 * slack * dual @ dual
        return float(value), np.asarray(matrix @ x - target + slack * dual)

    found = minimize(objective, np.zeros(live.size), jac=True, method="L-BFGS-B",
                     options={"maxiter": iterations, "gtol": tolerance, "ftol": 0.0})
    return fitted(found.x) * scale


def _on_zero_rows(eq: Equations) -> BoolArray:
    """Pairs that cross an equation whose target is zero."""
    zero = np.flatnonzero(eq.target <= 0)
    crossing: BoolArray = np.asarray(abs(eq.matrix[zero]).sum(axis=0)).reshape(-1) > 0
    return crossing
