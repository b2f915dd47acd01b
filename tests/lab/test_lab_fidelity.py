"""Real networks as real FRR labs: every RIB next hop agrees with the model, with OSPF
and with IS-IS, at bring-up and after each of 5 link failures and 2 router failures and
their repairs (``failure_drill``), each step converging back to 100%.

A small network with asymmetric metrics and parallel links checks what the big ones
cannot: per-direction costs and ECMP over parallel links, and metric, capacity and
topology changes mirrored into the running lab.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowd.core.events import LinkAdded, LinkCapacity, LinkMetric, LinkRemoved
from shadowd.core.igp import Igp
from shadowd.core.state import fold
from shadowd.services.drill import Step, failure_drill, run_steps
from shadowd.shell import run
from shadowd.topology import load_topology, topohub_topology
from tests.lab.labs import needs_lab, running_lab

pytestmark = needs_lab

DATA = Path(__file__).parent.parent / "data" / "topologies"


@pytest.mark.slow
@pytest.mark.parametrize("igp", ["ospf", "isis"])
@pytest.mark.parametrize("network", ["sndlib/geant", "sndlib/germany50"])
async def test_real_networks_agree_with_the_model_through_failures(network: str,
                                                                  igp: Igp) -> None:
    state = fold(topohub_topology(network))
    async with running_lab(state, "tfid", igp) as lab:
        results = await run_steps(lab, state, failure_drill(state, links=5, routers=2),
                                  timeout_s=90.0)
        assert len(results) == 14
        for result in results:
            assert result.changes, result.name  # the lab did something
            assert result.converged, (result.name, result.differences)
            assert result.agreement == 1.0
        n = len(state.routers)
        assert results[0].routes == n * (n - 1)  # every router to every other


@pytest.mark.parametrize("igp", ["ospf", "isis"])
async def test_metric_capacity_and_topology_changes_are_mirrored(igp: Igp) -> None:
    state = fold(load_topology(DATA / "example.toml"))
    async with running_lab(state, "tmir", igp) as lab:
        assert lab.plan is not None
        steps = [
            Step(name="fra--ams costs 30 from fra", events=[LinkMetric(
                source="t", seq=1, ts=1.0, link="fra--ams", metric=30, reverse_metric=12)]),
            Step(name="fra--ams#2 at 1G", events=[LinkCapacity(
                source="t", seq=2, ts=2.0, link="fra--ams#2", capacity_bps=1e9)]),
            Step(name="par--fra added", events=[LinkAdded(
                source="t", seq=3, ts=3.0, link="par--fra", a="par", b="fra", metric=5,
                capacity_bps=10e9)]),
            Step(name="lon-par removed", events=[LinkRemoved(
                source="t", seq=4, ts=4.0, link="lon-par")]),
        ]
        results = await run_steps(lab, state, steps)
        for result in results:
            assert result.converged, (result.name, result.differences)
        assert results[0].changes == ["link fra--ams cost at fra 30"]
        assert results[1].changes == ["link fra--ams#2 rate 1000000 bit/s"]
        assert results[2].changes == ["link par--fra added"]
        assert results[3].changes == ["link lon-par removed"]
        link = lab.plan.links["fra--ams#2"]
        qdisc = await run(["tc", "-n", lab.plan.routers["fra"].ns, "qdisc", "show", "dev",
                           link.ifname])
        assert "rate 1Mbit" in qdisc

