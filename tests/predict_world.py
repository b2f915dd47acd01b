"""The small network the predictor's tests forecast: three routers in a triangle of 1G
links, on a one-hour season so a forecaster warms up in two hours of samples."""

from __future__ import annotations

from shadowd.core.events import AnyEvent, DemandSet, LinkAdded, RouterAdded
from shadowd.predict.forecast import ForecastParams

T0 = 1_767_571_200.0  # a Monday 00:00 UTC
STEP = 300.0
SHORT = ForecastParams(season_s=3600, step_s=300, deviation_slot_s=900)  # an hour's season


def triangle(*, demands: bool = False) -> list[AnyEvent]:
    """Routers a, b, c; links a--b, b--c, a--c (metric 10, 1 Gbit/s); with ``demands``,
    a->b at 0.3 and c->b at 0.1 Gbit/s."""
    out: list[AnyEvent] = [RouterAdded(source="topo", seq=i + 1, ts=T0, router=r)
                           for i, r in enumerate("abc")]
    for i, (a, b) in enumerate((("a", "b"), ("b", "c"), ("a", "c"))):
        out.append(LinkAdded(source="topo", seq=4 + i, ts=T0, link=f"{a}--{b}", a=a, b=b,
                             metric=10, capacity_bps=1e9))
    if demands:
        out += [DemandSet(source="topo", seq=7, ts=T0, src="a", dst="b", rate_bps=0.3e9),
                DemandSet(source="topo", seq=8, ts=T0, src="c", dst="b", rate_bps=0.1e9)]
    return out
