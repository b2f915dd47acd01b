"""Probes see the lab's network: on a ring of four routers, r1 reaches r2 over r1--r2
(cost 1) or the long way through r4 and r3 (cost 3). Lowering r1--r2's capacity in the
state (mirrored as a lower tc rate) lowers the throughput a flow gets across it and
raises the round trip; taking it down moves the flow to the long way, which the
interface counters on r1's side of r4--r1 show, and the flow gets the full rate again.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shadowd.core.events import LinkCapacity, LinkStatus
from shadowd.core.state import fold
from shadowd.lab.lab import Lab
from shadowd.lab.probe import rtt, throughput
from shadowd.services.drill import Step, run_steps
from shadowd.topology import load_topology
from tests.lab.labs import needs_lab, running_lab

pytestmark = [*needs_lab, pytest.mark.skipif(shutil.which("iperf3") is None,
                                             reason="needs iperf3")]

SQUARE = Path(__file__).parent.parent / "data" / "topologies" / "square.toml"
BIG_ECHO = 8_000  # more than the 2 Mbit/s bucket, less than its queue: the rate shows


async def flow(lab: Lab) -> tuple[float, dict[str, int]]:
    """A 2 s TCP flow r1 -> r2's loopback: its rate, and the bytes r1 sent per link."""
    assert lab.plan is not None
    r1, r2 = lab.plan.routers["r1"], lab.plan.routers["r2"]
    before = await lab.counters("r1")
    result = await throughput(r1.ns, r2.ns, r2.loopback, seconds=2)
    after = await lab.counters("r1")
    return result.bps, {link: after[link][0] - before[link][0] for link in after}


async def round_trip_ms(lab: Lab) -> float:
    assert lab.plan is not None
    result = await rtt(lab.plan.routers["r1"].ns, lab.plan.routers["r2"].loopback,
                       count=5, interval_s=0.2, size=BIG_ECHO)
    assert result.received == result.sent
    assert result.avg_ms is not None
    return result.avg_ms


async def test_probes_follow_shaping_and_rerouting() -> None:
    state = fold(load_topology(SQUARE))  # 10G links, shaped at 1e-3: 10 Mbit/s
    async with running_lab(state, "tprb") as lab:
        fast_bps, sent = await flow(lab)
        fast_ms = await round_trip_ms(lab)
        assert sent["r1--r2"] > 0.9 * fast_bps * 2 / 8  # the flow took the direct link
        assert sent["r4--r1"] < 0.05 * sent["r1--r2"]

        slower = Step(name="r1--r2 at 2G", events=[LinkCapacity(
            source="t", seq=1, ts=1.0, link="r1--r2", capacity_bps=2e9)])
        [shaped] = await run_steps(lab, state, [slower])
        assert shaped.changes == ["link r1--r2 rate 2000000 bit/s"]
        slow_bps, _ = await flow(lab)
        slow_ms = await round_trip_ms(lab)
        assert slow_bps < 0.5 * fast_bps
        assert slow_ms > 2 * fast_ms

        cut = Step(name="r1--r2 down", events=[LinkStatus(
            source="t", seq=2, ts=2.0, link="r1--r2", up=False)])
        [down] = await run_steps(lab, state, [cut])
        assert down.converged
        detour_bps, sent = await flow(lab)
        assert sent["r4--r1"] > 0.9 * detour_bps * 2 / 8  # now the long way round
        assert sent["r1--r2"] == 0
        assert detour_bps > 2 * slow_bps  # the long way is not shaped down
