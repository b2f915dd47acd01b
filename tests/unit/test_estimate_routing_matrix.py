"""The routing matrix against the engine: ``A @ demands`` is the engine's load on every
link direction, on hand-made networks (per-hop ECMP, parallel links, down links,
islands) and on real topohub networks."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shadowd.core.errors import BadEstimateInput
from shadowd.core.events import LinkStatus
from shadowd.core.state import State, fold
from shadowd.engine.incremental import Engine
from shadowd.engine.loads import Routing
from shadowd.estimate.routing_matrix import RoutingMatrix, column_of, routing_matrix
from shadowd.topology import topohub_topology
from tests.fakes.engine import SOURCE, L, build


def demands_of(routing: Routing, matrix: RoutingMatrix) -> np.ndarray:
    return np.asarray(routing.demand[matrix.src, matrix.dst])


def assert_loads_match(routing: Routing) -> RoutingMatrix:
    matrix = routing_matrix(routing)
    np.testing.assert_allclose(matrix.matrix @ demands_of(routing, matrix), routing.load,
                               rtol=1e-9, atol=1e-6 * max(1.0, float(routing.load.max())))
    return matrix


def test_per_hop_ecmp_shares_are_the_matrix_entries() -> None:
    # A splits over B and C; B splits again over D and E: 1/2 at A, 1/4 on B's two ways.
    state = build([L("ab", "A", "B"), L("ac", "A", "C"), L("bd", "B", "D", 2),
                   L("be", "B", "E"), L("ed", "E", "D"), L("cd", "C", "D", 2)],
                  [("A", "D", 12.0)])
    matrix = assert_loads_match(Engine(state).routing)
    column = matrix.pair_index[("A", "D")]
    shares = {matrix.rows[r]: matrix.matrix[r, column] for r in range(len(matrix.rows))
              if matrix.matrix[r, column]}
    assert shares == {"ab A->B": 0.5, "ac A->C": 0.5, "bd B->D": 0.25, "be B->E": 0.25,
                      "ed E->D": 0.25, "cd C->D": 0.5}


def test_parallel_links_each_take_a_share() -> None:
    state = build([L("ab1", "A", "B"), L("ab2", "A", "B"), L("bc", "B", "C")],
                  [("A", "C", 8.0), ("C", "A", 2.0)])
    matrix = assert_loads_match(Engine(state).routing)
    assert matrix.matrix[matrix.row_index["ab1 A->B"], matrix.pair_index[("A", "C")]] == 0.5


def test_a_down_link_has_an_empty_row_and_an_island_empty_columns() -> None:
    state = build([L("ab", "A", "B"), L("bc", "B", "C"), L("ac", "A", "C", 5)],
                  [("A", "C", 4.0), ("A", "Z", 1.0)], routers=["Z"])
    engine = Engine(state)
    engine.absorb(LinkStatus(source=SOURCE, seq=99, ts=1.0, link="ab", up=False))
    matrix = assert_loads_match(engine.routing)
    assert matrix.matrix[[matrix.row_index["ab A->B"]]].nnz == 0
    assert matrix.matrix[:, [matrix.pair_index[("A", "Z")]]].nnz == 0


def test_columns_are_every_ordered_pair_of_distinct_routers() -> None:
    matrix = routing_matrix(Engine(build([L("ab", "A", "B"), L("bc", "B", "C")])).routing)
    pairs = [matrix.pair(p) for p in range(matrix.pair_count)]
    assert pairs == [("A", "B"), ("A", "C"), ("B", "A"), ("B", "C"), ("C", "A"), ("C", "B")]
    assert column_of(3, matrix.src, matrix.dst).tolist() == list(range(6))
    assert [pairs[r] for r in matrix.reverse.tolist()] == [(b, a) for a, b in pairs]


def topohub(key: str) -> State:
    return fold(topohub_topology(key))


@pytest.mark.parametrize("key", ["sndlib/geant", "sndlib/abilene", "sndlib/germany50"])
def test_the_matrix_routes_real_networks_as_the_engine_does(key: str) -> None:
    matrix = assert_loads_match(Engine(topohub(key)).routing)
    assert matrix.matrix.nnz > matrix.pair_count  # most pairs cross more than one link


def test_shapes_that_disagree_are_refused_naming_what() -> None:
    with pytest.raises(BadEstimateInput, match="3 rows but 2 row names") as caught:
        RoutingMatrix(matrix=sp.csr_array(np.ones((3, 2))), rows=["x", "y"],
                      tail=np.zeros(3, dtype=np.int64), head=np.ones(3, dtype=np.int64),
                      routers=["A", "B"], src=np.array([0, 1]), dst=np.array([1, 0]))
    assert caught.value.subject == "routing matrix"
