"""Which sources a feed may speak for: the rules, one by one."""

from __future__ import annotations

import pytest

from shadowd.core.events import RouterAdded, SpikePredicted
from shadowd.ingest.trust import refusal, topic_source

ROUTER = RouterAdded(source="edge1", seq=1, ts=0.0, router="r1")


def test_a_message_for_its_own_source_is_delivered() -> None:
    assert refusal("edge1", [ROUTER], claimed="edge1", allowed={"edge1"}) is None
    assert refusal("edge1", [ROUTER]) is None  # no binding, no list: any source


def test_nobody_speaks_for_shadowd() -> None:
    assert "shadowd's own" in str(refusal("shadowd", []))


def test_daemon_records_never_come_from_a_feed() -> None:
    spike = SpikePredicted(source="edge1", seq=2, ts=0.0, link="a--b", direction="ab",
                           peak_ts=1.0, predicted_bps=9e8, threshold_bps=8e8,
                           predicted_util=0.9, made_at=0.0)
    assert "spike_predicted is a record shadowd writes" in str(refusal("edge1", [ROUTER, spike]))


def test_the_topic_names_the_source() -> None:
    reason = refusal("adv1", [], claimed="mallory")
    assert reason is not None
    assert "speaks for 'adv1' but came as 'mallory'" in reason


def test_the_allow_list_is_enforced() -> None:
    assert "not one this feed may speak for (sources = ['edge1'])" in str(
        refusal("edge2", [], allowed={"edge1"}))


@pytest.mark.parametrize(("topic", "filters", "source"), [
    ("shadowd/telemetry/edge1", ["shadowd/telemetry/+"], "edge1"),
    ("site1/telemetry/edge1", ["+/telemetry/+"], "edge1"),
    ("shadowd/telemetry/edge1/x", ["shadowd/telemetry/+"], ""),
    ("shadowd/telemetry", ["shadowd/telemetry/+"], ""),
    ("shadowd/telemetry/edge1", ["shadowd/telemetry/#"], ""),
    ("other/telemetry/edge1", ["shadowd/telemetry/+", "other/telemetry/+"], "edge1"),
])
def test_a_trailing_plus_level_names_the_source(topic: str, filters: list[str],
                                                source: str) -> None:
    assert topic_source(topic, filters) == source
