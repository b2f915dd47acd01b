"""shadowd's estimator against a week of real traffic (the vendored Abilene week): on
every 24th interval, it beats tomogravity and gravity, by a clear margin once flows are
measured at the 3 routers with the most traffic entering (see ``bench/estimate_accuracy``
for the whole week)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from shadowd.estimate.estimator import Method, estimate
from tests.abilene import Week, load, relative_error

EVERY = 24


@pytest.fixture(scope="module")
def week() -> Week:
    return load()


def median_error(week: Week, method: Method, flows_at: Sequence[str] = ()) -> float:
    errors = [relative_error(estimate(week.routing, week.observed(t, flows_at), method).rates,
                             week.truth[t])
              for t in range(0, week.intervals, EVERY)]
    return float(np.median(errors))


def test_the_vendored_week_is_whole(week: Week) -> None:
    assert week.truth.shape == (2016, 144)
    np.testing.assert_allclose(week.routing.matrix @ week.truth.T, week.counters.T)
    np.testing.assert_allclose(week.truth.sum(axis=1), week.ingress.sum(axis=1))


def test_with_counters_and_totals_shadowd_is_best(week: Week) -> None:
    ours, tomogravity = median_error(week, "shadowd"), median_error(week, "tomogravity")
    assert ours < tomogravity
    assert ours < 0.6 * median_error(week, "gravity")


def test_with_flows_from_three_routers_shadowd_wins_clearly(week: Week) -> None:
    top3 = week.by_volume[:3]
    ours = median_error(week, "shadowd", top3)
    assert ours < 0.9 * median_error(week, "tomogravity", top3)
    assert ours < 0.5 * median_error(week, "gravity", top3)
