"""A link cut on the four-router ring, in both tiers: the lab's routes agree with the
model's at every step, the probes see what the model predicts (r1 still reaches r2, the
long way round, nothing lost), and the lab ends as it began."""

from __future__ import annotations

import shutil
from pathlib import Path

from shadowd.core.events import DemandSet
from shadowd.core.state import State, fold
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.scenario.diff import diff
from shadowd.scenario.library import parse_text
from shadowd.scenario.run import run_model
from shadowd.services.labrun import ProbeSettings, run_lab
from shadowd.topology import load_topology
from tests.lab.labs import needs_lab, running_lab

pytestmark = needs_lab

SQUARE = Path(__file__).parent.parent / "data" / "topologies" / "square.toml"
CUT = 'name = "r1-r2-cut"\nkind = "link_cut"\nlink = "r1--r2"\nduration_s = 600\n'


def square_with_demands() -> State:
    state = fold(load_topology(SQUARE))  # 10G links, shaped at 1e-3: 10 Mbit/s
    return fold([DemandSet(source="t", seq=1, ts=0.0, src="r1", dst="r2", rate_bps=4e9),
                 DemandSet(source="t", seq=2, ts=0.0, src="r3", dst="r4", rate_bps=1e9)],
                state)


async def test_a_link_cut_agrees_in_both_tiers_and_the_lab_is_restored() -> None:
    state = square_with_demands()
    scenario = parse_text(CUT, "toml")
    model = run_model(scenario, state, ts=100.0)
    assert model.tracked_pairs[:2] == [("r1", "r2"), ("r3", "r4")]
    iperf = 1 if shutil.which("iperf3") else 0
    async with running_lab(state, "tscn") as lab:
        assert lab.plan is not None
        before = lab.plan
        lab_result = await run_lab(lab, scenario, state, ts=100.0, model=model,
                                   probes=ProbeSettings(pairs=2, iperf_s=iperf))
        assert [s.label for s in lab_result.steps] == ["link r1--r2 down", "link r1--r2 up"]
        assert lab_result.steps[0].changes == ["link r1--r2 down"]
        assert lab_result.steps[1].changes == ["link r1--r2 up"]

        tiers = diff(model, lab_result)
        assert tiers.routes_agree, tiers.findings
        assert tiers.counts["routes"] == {"agree": 2}
        assert tiers.counts["reachability"] == {"agree": 4}
        assert tiers.agree, tiers.findings
        cut = {(p.src, p.dst): p for p in lab_result.steps[0].probes}
        assert cut[("r1", "r2")].rtt_ms is not None  # the long way round still delivers
        if iperf:
            assert cut[("r1", "r2")].throughput_bps is not None

        assert lab_result.restored
        assert lab.plan == before
        report = await lab.fidelity(next_hop_links(Engine(state)))
        assert report.agreement == 1.0
