"""The event schema: tagged, frozen, validated; golden samples decode forever."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from shadowd.core import events as ev
from shadowd.core.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkUtilization,
    ScenarioRan,
    SpikePredicted,
    decode_batch,
    encode_batch,
    tag_of,
)
from shadowd.core.state import fold, view_digest
from shadowd.engine.incremental import Engine
from tests.unit.samples import SAMPLES

GOLDEN = Path(__file__).parent.parent / "golden" / f"events-v{SCHEMA_VERSION}.msgpack"
# The records shadowd appends itself (issue 6), in a golden file of their own: the first
# one was written before they existed and never changes.
RECORDS_GOLDEN = GOLDEN.with_name(f"events-v{SCHEMA_VERSION}-records.msgpack")

RECORD_SAMPLES: list[AnyEvent] = [
    SpikePredicted(source="shadowd", seq=1, ts=1_767_600_000.0, link="fra--ams",
                   direction="ba", peak_ts=1_767_601_200.0, predicted_bps=85e9,
                   threshold_bps=80e9, predicted_util=0.85, made_at=1_767_600_000.0,
                   onset_ts=1_767_600_900.0, mean_bps=70e9, factor=1.7,
                   worst_failure="link:ams--lon", extreme_bps=120e9, extreme_util=1.2,
                   at_lsn=13),
    SpikePredicted(source="shadowd", seq=2, ts=1_767_600_300.0, link="ams--lon",
                   direction="ab", peak_ts=1_767_602_000.0, predicted_bps=9e9,
                   threshold_bps=8e9, predicted_util=0.9, made_at=1_767_600_300.0),
    ScenarioRan(source="shadowd", seq=3, ts=1_767_600_400.0, run_id="shadowd-3",
                scenario="wc-link-ams--lon", kind="link_cut", trigger="spike:fra--ams ba",
                tier="model", injected_ts=1_767_600_300.0, spike_ts=1_767_601_200.0,
                spike_seq=1, factor=1.7, worst_link="fra--ams ams->fra", worst_util=1.2,
                newly_overloaded=1, unreachable=0, max_loss_pct=3.5, latency_before_ms=8.0,
                latency_after_ms=11.5, routes_changed=4, steps=2, restored=True, at_lsn=14),
    ScenarioRan(source="shadowd", seq=4, ts=1_767_600_500.0, run_id="shadowd-4",
                scenario="geant-ch-fr-cut", kind="link_cut", trigger="manual", tier="lab",
                injected_ts=1_767_600_450.0, converged=False, converge_s=60.0,
                error="step 1 did not converge"),
]


# BGP peers and external demands, and the policy records (issue 7): a third golden file.
POLICY_GOLDEN = GOLDEN.with_name(f"events-v{SCHEMA_VERSION}-policy.msgpack")
_CHANGE = ev.PolicyChange(router="fra", target="fra--ams", attr="metric", old=10, new=25)
POLICY_SAMPLES: list[AnyEvent] = [
    ev.PeerAdded(source="golden", seq=14, ts=11.0, peer="isp1", router="fra", asn=64501,
                 prefixes=("203.0.113.0/24",), capacity_bps=10e9, as_path_len=2, med=5),
    ev.ExternalDemandSet(source="golden", seq=15, ts=11.0, src="ams",
                         prefix="203.0.113.0/24", rate_bps=2e9),
    ev.PeerRemoved(source="golden", seq=16, ts=12.0, peer="isp1"),
    ev.PolicyProposed(source="shadowd", seq=5, ts=1_767_600_600.0, policy_id="p5",
                      kind="igp_metric", reason="spike:fra--ams ba", changes=(_CHANGE,),
                      target_util=0.8, wc_before=1.2, wc_after=0.75,
                      wc_link_before="fra--ams ams->fra", wc_failure_before="link:ams--lon",
                      demands_moved=4, at_lsn=20),
    ev.PolicyValidated(source="shadowd", seq=6, ts=1_767_600_700.0, policy_id="p5",
                       tier="lab", ok=True, wc_after=0.75, agreement=1.0, steps=3),
    ev.RolloutStep(source="shadowd", seq=7, ts=1_767_600_800.0, rollout_id="r7",
                   policy_id="p5", segment="core", phase="measured", step=1,
                   routers=("fra",), share=0.5, verdict="success", latency_ms=4.0,
                   throughput_bps=9e6, loss_pct=0.1, max_util=0.6, driver="frr"),
    ev.PolicyFeedback(source="shadowd", seq=8, ts=1_767_601_000.0, policy_id="p5",
                      predicted_util=0.75, observed_util=0.81, error=0.08, links=12,
                      demand_scale=1.08),
]


def test_every_event_type_has_a_sample() -> None:
    assert {type(e) for e in SAMPLES + RECORD_SAMPLES + POLICY_SAMPLES} == set(EVENT_TYPES)


def test_golden_policy_samples_still_decode() -> None:
    assert decode_batch(POLICY_GOLDEN.read_bytes()) == POLICY_SAMPLES


def test_tags_are_unique() -> None:
    tags = [t.__struct_config__.tag for t in EVENT_TYPES]
    assert len(tags) == len(set(tags))


def test_golden_samples_still_decode() -> None:
    """Once written, a golden file never changes: old logs must stay readable."""
    assert decode_batch(GOLDEN.read_bytes()) == SAMPLES


def test_golden_records_still_decode() -> None:
    assert decode_batch(RECORDS_GOLDEN.read_bytes()) == RECORD_SAMPLES


def test_round_trip() -> None:
    assert decode_batch(encode_batch(SAMPLES)) == SAMPLES
    assert decode_batch(encode_batch(RECORD_SAMPLES)) == RECORD_SAMPLES


def test_an_out_of_range_record_field_is_named() -> None:
    raw = msgspec.to_builtins(RECORD_SAMPLES[2])
    raw["tier"] = "production"
    with pytest.raises(msgspec.ValidationError, match=r"\$\[0\]\.tier"):
        decode_batch(msgspec.msgpack.encode([raw]))


def test_events_are_frozen() -> None:
    with pytest.raises(AttributeError):
        SAMPLES[0].seq = 9  # type: ignore[misc]


def test_events_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        DemandSet("src", 1, 0.0, "a", "b", 1.0)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(
    ("patch", "complaint"),
    [
        ({"metric": -5}, "$[0].metric"),
        ({"metric": 0}, "$[0].metric"),
        ({"capacity_bps": 0}, "$[0].capacity_bps"),
        ({"seq": 0}, "$[0].seq"),
        ({"a": ""}, "$[0].a"),
        ({"type": "link_teleported"}, "Invalid value 'link_teleported'"),
    ],
)
def test_invalid_fields_are_rejected_with_their_path(
    patch: dict[str, object], complaint: str
) -> None:
    raw = msgspec.to_builtins(
        LinkAdded(source="s", seq=1, ts=0.0, link="l", a="a", b="b", metric=1, capacity_bps=1e9)
    )
    raw.update(patch)
    with pytest.raises(msgspec.ValidationError, match=complaint.replace("$", r"\$")
                       .replace("[", r"\[").replace("]", r"\]")):
        decode_batch(msgspec.msgpack.encode([raw]))


def test_new_fields_with_defaults_decode_old_messages() -> None:
    """Schema evolution: an older producer's message lacks optional fields."""
    old = {"type": "link_util", "source": "s", "seq": 3, "ts": 1.5, "link": "l",
           "ab_bps": 1.0, "ba_bps": 2.0}
    (event,) = decode_batch(msgspec.msgpack.encode([old]))
    assert event == LinkUtilization(source="s", seq=3, ts=1.5, link="l", ab_bps=1.0, ba_bps=2.0)


def test_tag_of_names_the_wire_tag() -> None:
    assert tag_of(SAMPLES[0]) == "router_added"
    assert ev.decode_event(ev.ENCODER.encode(SAMPLES[0])) == SAMPLES[0]


def test_records_change_nothing_in_the_view_but_advance_their_source() -> None:
    state = fold(SAMPLES)
    before = view_digest(state)
    engine = Engine(state)
    fold(RECORD_SAMPLES, state)
    assert view_digest(state) == before
    assert state.sources["shadowd"].seq == 4
    assert state.lsn == len(SAMPLES) + len(RECORD_SAMPLES)
    assert {engine.absorb(e).how for e in RECORD_SAMPLES} == {"none"}
