"""Rates, metrics and delays: the unit conventions every importer shares."""

from __future__ import annotations

import pytest

from shadowd.topology import TopologyError
from shadowd.topology.units import (
    FIBRE_MS_PER_KM,
    fibre_delay_ms,
    geo_pos,
    great_circle_km,
    parse_metric,
    parse_rate,
)


@pytest.mark.parametrize(("text", "bps"), [
    (1500, 1500.0), (2.5e9, 2.5e9), ("10G", 10e9), ("100M", 100e6), ("100m", 100e6),
    ("64k", 64e3), ("1.5T", 1.5e12), ("2.5 Gbps", 2.5e9), ("40Gbit/s", 40e9), ("1e3", 1e3),
    ("7", 7.0), ("0", 0.0),
])
def test_parse_rate(text: object, bps: float) -> None:
    assert parse_rate(text) == pytest.approx(bps)


@pytest.mark.parametrize("text", ["fast", "10X", "-1G", -1, True, None, [], "nan", "1e999"])
def test_parse_rate_rejects(text: object) -> None:
    with pytest.raises(TopologyError):
        parse_rate(text)


@pytest.mark.parametrize(("value", "metric"), [(1, 1), (10.0, 10), ("20", 20),
                                               (16_777_214, 16_777_214)])
def test_parse_metric(value: object, metric: int) -> None:
    assert parse_metric(value) == metric


@pytest.mark.parametrize("value", [0, -1, 2.5, "x", True, 16_777_215, float("inf")])
def test_parse_metric_rejects(value: object) -> None:
    with pytest.raises(TopologyError, match="metric"):
        parse_metric(value)


def test_great_circle_and_fibre_delay() -> None:
    berlin, paris = (13.405, 52.52), (2.352, 48.857)
    assert great_circle_km(berlin, paris) == pytest.approx(878, abs=3)
    assert great_circle_km(berlin, berlin) == 0.0
    assert fibre_delay_ms(1000.0) == 1000.0 * FIBRE_MS_PER_KM == 5.0


def test_geo_pos_only_on_the_globe() -> None:
    assert geo_pos(13.4, 52.5) == (13.4, 52.5)
    assert geo_pos(400.0, 10.0) is None
    assert geo_pos(None, 1.0) is None
