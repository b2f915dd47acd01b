"""Hand-checkable estimates: networks whose counters (and totals) determine the matrix,
measured pairs, provenance, residuals, and inputs refused with the culprit named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shadowd.core.errors import BadEstimateInput
from shadowd.engine.incremental import Engine
from shadowd.estimate.estimator import Estimate, Method, Recipe, estimate
from shadowd.estimate.inputs import Observed
from shadowd.estimate.routing_matrix import Pair, RoutingMatrix, routing_matrix
from tests.fakes.engine import L, build

FITTED: tuple[Method, ...] = ("tomogravity", "shadowd")

TRIANGLE = [L("ab", "A", "B"), L("bc", "B", "C"), L("ca", "C", "A")]
# A ring of four whose metrics make every pair take one way round: counters alone leave
# four degrees of freedom, the edge totals remove them.
RING = [L("ab", "A", "B"), L("bc", "B", "C", 1, 3), L("cd", "C", "D"), L("da", "D", "A", 1, 3)]
LINE = [L("ab", "A", "B"), L("bc", "B", "C")]


def matrix_of(links: list[L]) -> RoutingMatrix:
    return routing_matrix(Engine(build(links)).routing)


def truth_of(matrix: RoutingMatrix, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 10.0, matrix.pair_count)


def observe(matrix: RoutingMatrix, truth: np.ndarray, *, totals: bool = True,
            measured: dict[Pair, float] | None = None) -> Observed:
    n = len(matrix.routers)
    ingress = np.bincount(matrix.src, truth, minlength=n).tolist()
    egress = np.bincount(matrix.dst, truth, minlength=n).tolist()
    return Observed(counters=dict(zip(matrix.rows, (matrix.matrix @ truth).tolist(),
                                      strict=True)),
                    ingress=dict(zip(matrix.routers, ingress, strict=True)) if totals else {},
                    egress=dict(zip(matrix.routers, egress, strict=True)) if totals else {},
                    measured=measured or {})


@pytest.mark.parametrize("method", FITTED)
def test_direct_routes_are_read_off_the_counters(method: Method) -> None:
    matrix = matrix_of(TRIANGLE)
    truth = truth_of(matrix)
    found = estimate(matrix, observe(matrix, truth, totals=False), method)
    np.testing.assert_allclose(found.rates, truth, rtol=2e-3)


@pytest.mark.parametrize("method", FITTED)
def test_counters_and_totals_together_determine_the_ring(method: Method) -> None:
    matrix = matrix_of(RING)
    truth = truth_of(matrix)
    found = estimate(matrix, observe(matrix, truth), method)
    np.testing.assert_allclose(found.rates, truth, rtol=5e-3)
    assert found.unexplained < 1e-3


def test_gravity_is_ingress_times_egress_over_the_total() -> None:
    matrix = matrix_of(LINE)
    seen = Observed(counters={}, ingress={"A": 6.0, "B": 0.0, "C": 4.0},
                    egress={"A": 2.0, "B": 5.0, "C": 3.0})
    found = estimate(matrix, seen, "gravity").demands()
    assert found[("A", "B")] == pytest.approx(6.0 * 5.0 / 10.0)
    assert found[("C", "A")] == pytest.approx(4.0 * 2.0 / 10.0)
    assert found[("B", "C")] == 0.0


def test_without_totals_gravity_sizes_routers_by_their_link_counters() -> None:
    matrix = matrix_of(LINE)
    counters = {"ab A->B": 3.0, "bc B->C": 1.0, "bc C->B": 2.0, "ab B->A": 2.0}
    found = estimate(matrix, Observed(counters=counters), "gravity").demands()
    # entering: A 3, B 1 + 2, C 2; leaving: A 2, B 3 + 2, C 1; total entering 8
    assert found[("A", "B")] == pytest.approx(3.0 * 5.0 / 8.0)
    assert found[("C", "A")] == pytest.approx(2.0 * 2.0 / 8.0)


@pytest.mark.parametrize("method", ["gravity", *FITTED])
def test_measured_pairs_win_and_are_taken_out_before_fitting(method: Method) -> None:
    matrix = matrix_of(LINE)
    truth = truth_of(matrix)
    pair = ("A", "C")
    told = truth[matrix.pair_index[pair]] + 2.0  # the flows say more than the counters
    found = estimate(matrix, observe(matrix, truth, measured={pair: told}), method)
    assert found.demands()[pair] == told
    assert found.provenance(pair) == "measured"
    assert found.provenance(("A", "B")) == "estimated"
    assert found.measured.sum() == 1
    if method != "gravity":  # A->B carries A->C too, and the fit saw 2 less left for A->B
        assert found.demands()[("A", "B")] == pytest.approx(
            max(truth[matrix.pair_index[("A", "B")]] - 2.0, 0.0), rel=1e-2, abs=1e-2)


def test_residuals_are_counter_minus_estimated_load_per_link_direction() -> None:
    matrix = matrix_of(LINE)
    counters = {"ab A->B": 4.0, "bc B->C": 1.0}
    totals = {"A": 2.0, "B": 2.0, "C": 0.0}
    found = estimate(matrix, Observed(counters=counters, ingress=totals, egress=totals),
                     "gravity")
    # gravity: A->B = 2*2/4 = 1, A->C = 0, B->A = 1, B->C = 0
    assert found.link_residuals() == {"ab A->B": 3.0, "bc B->C": 1.0}
    assert found.unexplained == pytest.approx(math.hypot(3.0, 1.0) / math.hypot(4.0, 1.0))


def test_a_zero_counter_forces_every_pair_across_it_to_zero() -> None:
    matrix = matrix_of(LINE)
    truth = truth_of(matrix)
    truth[[matrix.pair_index[("A", "C")], matrix.pair_index[("B", "C")]]] = 0.0
    found = estimate(matrix, observe(matrix, truth), "shadowd").demands()
    assert found[("A", "C")] == 0.0
    assert found[("B", "C")] == 0.0


def test_the_previous_estimate_is_carried_only_when_the_recipe_says() -> None:
    matrix = matrix_of(LINE)
    truth = truth_of(matrix)
    seen = observe(matrix, truth)
    previous = Estimate(routing=matrix, method="shadowd", rates=truth, measured=np.zeros(
        matrix.pair_count, dtype=bool), rows=np.zeros(0, dtype=np.int64),
        residual=np.zeros(0), counters=np.zeros(0))
    plain = estimate(matrix, seen, recipe=Recipe(carry=0.0), previous=previous)
    carried = estimate(matrix, seen, recipe=Recipe(carry=1.0), previous=previous)
    np.testing.assert_array_equal(plain.rates, estimate(matrix, seen).rates)
    np.testing.assert_allclose(carried.rates, truth, rtol=1e-3)  # truth fits: kept


BAD_INPUTS = [
    (Observed(counters={"ab A->B": math.nan}), "ab A->B", "not a number"),
    (Observed(counters={"ab A->B": -1.0}), "ab A->B", "negative"),
    (Observed(counters={"zz A->Z": 1.0}), "zz A->Z", "no such link direction"),
    (Observed(counters={}, ingress={"Q": 1.0}), "Q", "no such router"),
    (Observed(counters={}, egress={"A": math.inf}), "A", "egress total is inf"),
    (Observed(counters={}, measured={("A", "Q"): 1.0}), "A->Q", "no such pair"),
    (Observed(counters={}, measured={("A", "C"): -2.0}), "A->C", "negative"),
]


@pytest.mark.parametrize(("seen", "subject", "reason"), BAD_INPUTS)
def test_bad_input_is_refused_naming_the_culprit(seen: Observed, subject: str,
                                                 reason: str) -> None:
    with pytest.raises(BadEstimateInput, match=reason) as caught:
        estimate(matrix_of(LINE), seen)
    assert caught.value.subject == subject
    assert str(caught.value).startswith(subject)


def test_a_previous_estimate_of_another_network_is_refused() -> None:
    line, ring = matrix_of(LINE), matrix_of(RING)
    previous = estimate(ring, observe(ring, truth_of(ring)))
    with pytest.raises(BadEstimateInput, match="previous estimate has 12 pairs"):
        estimate(line, observe(line, truth_of(line)), recipe=Recipe(carry=0.5),
                 previous=previous)
