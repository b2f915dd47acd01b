"""Walking forwarding tables: ECMP splits, loops and black holes are found."""

from __future__ import annotations

import pytest

from shadowd.policy.forwarding import walk

ENDS = {"ab": ("a", "b"), "bc": ("b", "c"), "ad": ("a", "d"), "dc": ("d", "c")}


def test_ecmp_splits_evenly_and_loads_each_direction() -> None:
    tables = {"a": {"c": frozenset({"ab", "ad"})}, "b": {"c": frozenset({"bc"})},
              "d": {"c": frozenset({"dc"})}, "c": {}}
    out = walk(tables, ENDS, {"a": {"c": 10.0}})
    assert out.loads == {("ab", "a", "b"): 5.0, ("bc", "b", "c"): 5.0,
                         ("ad", "a", "d"): 5.0, ("dc", "d", "c"): 5.0}
    assert out.loops == []
    assert out.unreachable == []
    assert out.utilisation({"ab": 10.0, "bc": 10.0, "ad": 10.0, "dc": 10.0})[
        ("ab", "a", "b")] == pytest.approx(0.5)


def test_a_loop_is_found() -> None:
    tables = {"a": {"c": frozenset({"ab"})}, "b": {"c": frozenset({"ab"})}, "c": {}}
    out = walk(tables, ENDS, {"a": {"c": 1.0}})
    assert out.loops == [("a", "c")]


def test_a_black_hole_is_unreachable() -> None:
    tables = {"a": {"c": frozenset({"ab"})}, "b": {}, "c": {}}
    assert walk(tables, ENDS, {"a": {"c": 1.0}}).unreachable == [("a", "c")]


def test_a_down_source_is_unreachable() -> None:
    tables = {"b": {"c": frozenset({"bc"})}, "c": {}}
    assert walk(tables, ENDS, {"a": {"c": 1.0}}).unreachable == [("a", "c")]
