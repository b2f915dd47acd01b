"""The predictive-injection scheduler, pure: which scenarios a spike gets, and when."""

from __future__ import annotations

import pytest

from shadowd.predict.scheduler import (
    Scheduler,
    SchedulerSettings,
    SpikeFacts,
    SpikeKey,
    choose,
)
from shadowd.scenario.library import scenario_of
from shadowd.scenario.spec import (
    LinkCutScenario,
    RouterFailureScenario,
    SrlgCutScenario,
    SurgeScenario,
)

SETTINGS = SchedulerSettings(lead_s=900.0, max_runs=3, surge_factor=2.5, duration_s=600.0)


def _facts(worst: str = "link:ams--lon", srlgs: tuple[str, ...] = (),
           dst: str | None = "lon") -> SpikeFacts:
    return SpikeFacts(link="fra--ams", direction="ab", worst_failure=worst, srlgs=srlgs,
                      heaviest_dst=dst)


def test_a_spike_gets_its_worst_failure_its_srlgs_and_a_surge_toward_its_heaviest_destination(
) -> None:
    chosen = choose(_facts(srlgs=("duct-7",)), SETTINGS)
    assert [(s.name, s.kind) for s in chosen] == [
        ("wc-link-ams--lon", "link_cut"), ("srlg-duct-7", "srlg_cut"), ("surge-lon", "surge")]
    cut, srlg, surge = (s.spec for s in chosen)
    assert isinstance(cut, LinkCutScenario)
    assert cut.link == "ams--lon"
    assert cut.duration_s == 600.0
    assert isinstance(srlg, SrlgCutScenario)
    assert srlg.srlg == "duct-7"
    assert isinstance(surge, SurgeScenario)
    assert surge.target == "lon"
    assert surge.factor == 2.5
    assert surge.sources == "all"


@pytest.mark.parametrize(("worst", "kind", "field", "value"), [
    ("router:ams", "router_failure", "router", "ams"),
    ("srlg:duct-7", "srlg_cut", "srlg", "duct-7"),
    ("link:fra--lon", "link_cut", "link", "fra--lon"),
])
def test_the_worst_failure_becomes_a_scenario_of_its_kind(worst: str, kind: str, field: str,
                                                          value: str) -> None:
    first = choose(_facts(worst=worst, dst=None), SETTINGS)[0]
    assert first.kind == kind
    assert getattr(first.spec, field) == value


def test_no_failure_scenario_when_no_failure_adds_load() -> None:
    assert [s.kind for s in choose(_facts(worst="none"), SETTINGS)] == ["surge"]
    assert choose(_facts(worst="none", dst=None), SETTINGS) == []


def test_the_worst_srlg_is_not_run_twice_and_runs_are_capped() -> None:
    chosen = choose(_facts(worst="srlg:duct-7", srlgs=("duct-7", "duct-9", "pop-2")), SETTINGS)
    assert [s.name for s in chosen] == ["srlg-duct-7", "srlg-duct-9", "srlg-pop-2"]
    one = SchedulerSettings(max_runs=1)
    assert [s.name for s in choose(_facts(srlgs=("duct-7",)), one)] == ["wc-link-ams--lon"]


def test_names_are_valid_library_names_whatever_the_ids() -> None:
    chosen = choose(_facts(worst="router:pe 1/ams", dst="x" * 80), SETTINGS)
    assert chosen[0].name == "wc-router-pe_1_ams"
    assert isinstance(chosen[0].spec, RouterFailureScenario)
    assert chosen[0].spec.router == "pe 1/ams"  # the scenario still names the real router
    assert len(chosen[1].name) == 64
    assert scenario_of(chosen[1].spec) == chosen[1]


KEY: SpikeKey = ("fra--ams", "ab", 10_000.0)


def test_injection_is_the_lead_time_before_the_peak() -> None:
    s = Scheduler(SETTINGS)
    injection = s.expect(KEY, 10_000.0, now=5_000.0)
    assert injection is not None
    assert injection.inject_at == 9_100.0
    assert injection.trigger == "spike:fra--ams ab"
    assert s.next_deadline() == 9_100.0


def test_injection_is_never_before_now() -> None:
    s = Scheduler(SETTINGS)
    injection = s.expect(KEY, 10_000.0, now=9_500.0)
    assert injection is not None
    assert injection.inject_at == 9_500.0
    assert s.due(9_500.0) == [injection]


def test_a_spike_whose_peak_has_come_is_not_scheduled() -> None:
    s = Scheduler(SETTINGS)
    assert s.expect(KEY, 10_000.0, now=10_000.0) is None
    assert s.next_deadline() is None


def test_due_hands_out_each_injection_once_in_time_order() -> None:
    s = Scheduler(SETTINGS)
    late = s.expect(("b", "ba", 20_000.0), 20_000.0, now=0.0)
    early = s.expect(KEY, 10_000.0, now=0.0)
    assert s.pending == 2
    assert s.next_deadline() == 9_100.0
    assert s.due(9_099.0) == []
    assert s.due(9_100.0) == [early]
    assert s.due(9_100.0) == []
    assert s.next_deadline() == 19_100.0
    assert s.due(30_000.0) == [late]
    assert s.pending == 0
    assert s.next_deadline() is None


def test_a_spike_predicted_twice_is_injected_once() -> None:
    s = Scheduler(SETTINGS)
    assert s.expect(KEY, 10_000.0, now=0.0) is not None
    assert s.expect(KEY, 10_000.0, now=300.0) is None
    assert len(s.due(9_100.0)) == 1
    assert s.expect(KEY, 10_000.0, now=9_200.0) is None  # handed out, its peak still ahead
    assert s.due(20_000.0) == []


def test_the_same_link_may_spike_again_later() -> None:
    s = Scheduler(SETTINGS)
    s.expect(KEY, 10_000.0, now=0.0)
    s.due(11_000.0)
    again = s.expect(("fra--ams", "ab", 50_000.0), 50_000.0, now=40_000.0)
    assert again is not None
    assert again.inject_at == 49_100.0


def test_the_plan_is_chosen_once() -> None:
    s = Scheduler(SETTINGS)
    injection = s.expect(KEY, 10_000.0, now=0.0)
    assert injection is not None
    assert injection.scenarios is None
    first = s.plan(injection, _facts())
    assert s.plan(injection, _facts(worst="router:ams")) is first
    assert s.due(9_100.0)[0].scenarios == first
