"""The weight optimiser never makes the worst case worse, and finds the obvious fix."""

from __future__ import annotations

import numpy as np

from shadowd.engine.network import Network, demand_matrix
from shadowd.engine.optimize import _assess, _objective, compare_schemes, optimise, table
from tests.fakes.engine import L, build


def thin_direct_link() -> tuple[Network, np.ndarray]:
    # A->C direct (metric 1) is thin; A->B->C (2) and A->D->C (10) are fat. Whichever
    # link fails, the thin one must not take all the traffic: its metric must exceed 10.
    state = build(
        [L("ac", "A", "C", 1, capacity=10.0), L("ab", "A", "B", 1, capacity=100.0),
         L("bc", "B", "C", 1, capacity=100.0), L("ad", "A", "D", 5, capacity=100.0),
         L("dc", "D", "C", 5, capacity=100.0)],
        [("A", "C", 20.0)],
    )
    net = Network.from_state(state)
    return net, demand_matrix(state, net)


def test_optimise_moves_traffic_off_the_thin_link() -> None:
    net, demand = thin_direct_link()
    start = net.metric.copy()
    before = _objective(_assess(net, demand, start)[1])
    best, evals = optimise(net, demand, start, budget=40, seed=1)
    after = _objective(_assess(net, demand, best)[1])
    assert after < before
    assert after[0] <= 0.2 + 1e-12
    assert best[int(net.edges_of_link("ac")[0])] > 10
    assert evals <= 40 + 9


def test_compare_schemes_gives_four_rows() -> None:
    state = build(
        [L("ab", "A", "B", capacity=10.0, delay_ms=1.0), L("bc", "B", "C", capacity=40.0),
         L("ca", "C", "A", capacity=40.0, delay_ms=3.0), L("cd", "C", "D", capacity=10.0)],
        [("A", "C", 3.0), ("B", "D", 2.0), ("D", "A", 1.0)],
    )
    scores = compare_schemes(state, budget=10)
    assert [s.name for s in scores[:3]] == ["hop", "inverse-capacity", "latency"]
    assert scores[3].name.startswith("optimised")
    assert scores[3].wc_max_util <= min(s.wc_max_util for s in scores[:3])
    assert table(scores).count("\n") == 5
    assert demand_matrix(state, Network.from_state(state)).sum() == 6.0
