"""One sample of every event type, shared by the schema tests and the golden file."""

from __future__ import annotations

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkCapacity,
    LinkMetric,
    LinkRemoved,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
    RouterRemoved,
)

_S = "golden"

SAMPLES: list[AnyEvent] = [
    RouterAdded(source=_S, seq=1, ts=1.0, router="fra", pos=(8.68, 50.11), loopback="10.0.0.1"),
    RouterAdded(source=_S, seq=2, ts=1.0, router="ams"),
    RouterAdded(source=_S, seq=3, ts=1.0, router="lon"),
    LinkAdded(source=_S, seq=4, ts=2.0, link="fra--ams", a="fra", b="ams", metric=10,
              capacity_bps=100e9, reverse_metric=12, delay_ms=2.5, srlgs=("duct-7",)),
    LinkAdded(source=_S, seq=5, ts=2.0, link="ams--lon", a="ams", b="lon", metric=10,
              capacity_bps=10e9),
    RouterHealth(source=_S, seq=6, ts=3.0, router="fra", up=True, cpu_pct=12.5, mem_pct=40.0),
    LinkStatus(source=_S, seq=7, ts=4.0, link="fra--ams", up=False),
    LinkMetric(source=_S, seq=8, ts=5.0, link="fra--ams", metric=20),
    LinkCapacity(source=_S, seq=9, ts=6.0, link="ams--lon", capacity_bps=40e9),
    LinkUtilization(source=_S, seq=10, ts=7.0, link="ams--lon", ab_bps=3.2e9, ba_bps=1.1e9,
                    drops=4, errors=1),
    DemandSet(source=_S, seq=11, ts=8.0, src="fra", dst="lon", rate_bps=2.5e9),
    LinkRemoved(source=_S, seq=12, ts=9.0, link="ams--lon"),
    RouterRemoved(source=_S, seq=13, ts=10.0, router="lon"),
]
