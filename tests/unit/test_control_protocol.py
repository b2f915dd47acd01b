"""The control protocol, pure: encodings, tags, reply types, and errors that name the problem."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from shadowd.control import protocol as p
from shadowd.control.replies import (
    ErrorReply,
    ForecastReply,
    LabDownReply,
    LabFidelityReply,
    LabStatusReply,
    LabUpReply,
    LoadsReply,
    LogTailReply,
    MetricsReply,
    PolicyApproveReply,
    PolicyDeployReply,
    PolicyHistoryReply,
    PolicyListReply,
    PolicyProposeReply,
    PolicyRollbackReply,
    PolicyShowReply,
    Reply,
    ReportReply,
    RoutesReply,
    ScenarioListReply,
    ScenarioRunReply,
    ScenarioRunsReply,
    ScenarioShowReply,
    SnapshotReply,
    StatusReply,
    TopologyReply,
    WorstCaseReply,
)
from shadowd.control.rows import (
    LabConvergence,
    LabRouteDiff,
    LinkForecast,
    LinkLoad,
    LoggedEvent,
    NextHopInfo,
    ScenarioInfo,
    ScenarioProblem,
    SourceStatus,
    WorstCase,
)
from shadowd.core.events import (
    PolicyChange,
    PolicyFeedback,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
    ScenarioRan,
)
from shadowd.core.state import PolicyEntry, fold
from shadowd.report.data import (
    ForecastPoint,
    ForecastSeries,
    ReportData,
    ReportLink,
    ReportRouter,
)
from tests.unit.samples import SAMPLES

_STATE = fold(SAMPLES)

REQUESTS: list[p.Request[Any]] = [
    p.StatusRequest(),
    p.TopologyRequest(),
    p.LogTailRequest(count=5),
    p.SnapshotRequest(),
    p.RoutesRequest(router="fra"),
    p.LoadsRequest(top=3),
    p.WorstCaseRequest(failures="srlg", top=5),
    p.LabUpRequest(igp="isis"),
    p.LabDownRequest(),
    p.LabStatusRequest(),
    p.LabFidelityRequest(differences=3),
    p.ForecastRequest(link="fra--ams", top=4),
    p.ScenarioListRequest(),
    p.ScenarioShowRequest(name="geant-ch-fr-cut"),
    p.ScenarioRunRequest(name="geant-ch-fr-cut", lab=True),
    p.ScenarioRunsRequest(count=7),
    p.PolicyListRequest(count=3),
    p.PolicyShowRequest(policy_id="p-1"),
    p.PolicyProposeRequest(reason="manual"),
    p.PolicyDeployRequest(policy_id="p-1", segment="core", rollout_percentage=50.0,
                          monitoring_interval_s=30.0, dry_run=True),
    p.PolicyApproveRequest(policy_id="p-1"),
    p.PolicyRollbackRequest(policy_id="p-1"),
    p.PolicyHistoryRequest(policy_id=None, count=9),
    p.ReportRequest(title="weekly", forecasts=3, runs=5),
    p.MetricsRequest(),
]

_RUN = ScenarioRan(source="shadowd", seq=3, ts=20.0, run_id="run-3", scenario="cut",
                   kind="link_cut", trigger="spike:fra--ams ab", tier="model", injected_ts=19.0,
                   spike_ts=30.0, spike_seq=2, factor=1.4, worst_link="fra--ams fra->ams",
                   worst_util=1.1, newly_overloaded=1, at_lsn=12)

_POLICY = PolicyProposed(
    source="shadowd", seq=4, ts=21.0, policy_id="p-1", kind="igp_metric", reason="manual",
    changes=(PolicyChange(router="fra", target="fra--ams", attr="metric", old=20, new=40),),
    target_util=0.8, wc_before=1.1, wc_after=0.7, demands_moved=2, at_lsn=12)
_STEP = RolloutStep(source="shadowd", seq=6, ts=23.0, rollout_id="r-1", policy_id="p-1",
                    segment="all", phase="measured", step=1, routers=("fra",), share=1.0,
                    verdict="success", loss_pct=0.1, max_util=0.7)
_ENTRY = PolicyEntry(
    proposal=_POLICY, status="deployed", steps=[_STEP],
    validation=PolicyValidated(source="shadowd", seq=5, ts=22.0, policy_id="p-1", tier="lab",
                               ok=True, wc_after=0.71, steps=3),
    feedback=PolicyFeedback(source="shadowd", seq=7, ts=90.0, policy_id="p-1",
                            predicted_util=0.7, observed_util=0.75, error=0.0714, links=2))

REPLIES: list[Reply] = [
    ErrorReply(code=p.FORBIDDEN, message="no"),
    StatusReply(seq=13, digest="ab" * 16, uptime_s=1.5,
                sources={"golden": SourceStatus(seq=13, ts=10.0, accepted=13)},
                routers=2, links=1, demands=0, version="0.1.0"),
    TopologyReply(seq=13, routers=list(_STATE.routers.values()),
                  links=list(_STATE.links.values())),
    LogTailReply(events=[LoggedEvent(lsn=i + 1, event=e) for i, e in enumerate(SAMPLES)]),
    SnapshotReply(lsn=13, path="/var/lib/shadowd/snapshots/13.snap"),
    RoutesReply(seq=13, router="fra", unreachable=["lon"], routes={
        "ams": [NextHopInfo(link="fra--ams", neighbor="ams", metric=20.0)]}),
    LoadsReply(seq=13, loads=[LinkLoad(link="fra--ams", src="fra", dst="ams",
                                       load_bps=1e9, capacity_bps=1e10, utilization=0.1)]),
    WorstCaseReply(seq=13, failures="links", scenarios=1, mode="exhaustive", worst=[
        WorstCase(link="fra--ams", src="fra", dst="ams", wc_load_bps=2e9, wc_util=0.2,
                  wc_failure="link:ams--lon")]),
    LabUpReply(lab_id="shadow", igp="ospf", lsn=13, seconds=4.2, converged=True,
               agreement=1.0, routes=2, routers=2, links=1,
               removed={"namespaces": ["shadow-fra"], "processes": ["42"], "run_dirs": []}),
    LabDownReply(lab_id="shadow", was_up=True, removed={"namespaces": ["shadow-fra"]}),
    LabStatusReply(lab_id="shadow", igp="isis", up=True, enabled=True, lsn=13, routers=2,
                   running=2, links=1, links_up=0, namespaces=2, convergences=[
                         LabConvergence(lsn=13, ts=10.0, changes=["link fra--ams down"],
                                        seconds=1.5, converged=True, agreement=1.0,
                                        routes=2, polls=9)]),
    LabFidelityReply(lab_id="shadow", lsn=13, routes=2, agreeing=1, agreement=0.5,
                     differences=[LabRouteDiff(router="fra", destination="ams",
                                               model=["fra--ams"], lab=[])], more=0),
    ForecastReply(seq=13, log_ts=10.0, threshold_util=0.8, horizon_s=1800.0, links=[
        LinkForecast(link="fra--ams", direction="ab", src="fra", dst="ams",
                     capacity_bps=1e11, observed_bps=4e10, recent_max_bps=5e10,
                     peak_ts=1810.0, normal_bps=6e10, upper_bps=8.5e10, ready=True,
                     factor=2.125, wc_load_bps=5e10, wc_failure="link:ams--lon",
                     extreme_bps=1.0625e11, extreme_util=1.0625)]),
    ScenarioListReply(directory="scenarios", scenarios=[
        ScenarioInfo(name="cut", kind="link_cut", description="d", file="scenarios/cut.toml")],
        errors=[ScenarioProblem(file="scenarios/x.toml", line=3, key="$.link",
                                reason="unknown link 'x'",
                                message="scenarios/x.toml:3: $.link: unknown link 'x'")]),
    ScenarioShowReply(scenario=ScenarioInfo(name="cut", kind="link_cut"),
                      spec={"kind": "link_cut", "name": "cut", "link": "fra--ams",
                            "duration_s": 600.0}, timeline=["+0s: link fra--ams down"]),
    ScenarioRunReply(run=_RUN, lab_error="the lab is not up"),
    ScenarioRunsReply(runs=[_RUN], spikes=2, pending=1),
    PolicyListReply(policies=[_ENTRY], more=1),
    PolicyShowReply(entry=_ENTRY, frr={"fra": "interface e0\n ip ospf cost 40\nexit\n!\n"},
                    json={"policy_id": "p-1", "routers": {"fra": []}},
                    diffs={"fra": "-a\n+b\n"}),
    PolicyProposeReply(entry=_ENTRY),
    PolicyProposeReply(message="nothing to do"),
    PolicyDeployReply(policy_id="p-1", rollout_id="r-1", segment="core", dry_run=True),
    PolicyApproveReply(policy_id="p-1", message="approve sent to rollout r-1"),
    PolicyRollbackReply(policy_id="p-1", message="rollback sent to rollout r-1"),
    PolicyHistoryReply(policy_id="p-1", steps=[_STEP]),
    ReportReply(data=ReportData(
        title="weekly", seq=13, log_ts=10.0, failures="single links",
        routers=[ReportRouter(name="fra", pos=(8.7, 50.1)), ReportRouter(name="ams", up=False)],
        links=[ReportLink(link="fra--ams", direction="ab", src="fra", dst="ams",
                          capacity_bps=1e10, load_bps=1e9, util=0.1, wc_load_bps=2e9,
                          wc_util=0.2, wc_failure="link:ams--lon")],
        forecasts=[ForecastSeries(link="fra--ams", direction="ab", src="fra", dst="ams",
                                  capacity_bps=1e10, ready=True,
                                  history=[ForecastPoint(ts=0.0, observed_bps=1e9)],
                                  ahead=[ForecastPoint(ts=300.0, mean_bps=1e9, upper_bps=2e9)])],
        runs=[_RUN], spikes=2, policies=[_ENTRY])),
    MetricsReply(text='# TYPE shadowd_log_seq gauge\nshadowd_log_seq 13\n'),
]


def test_every_request_type_is_covered_here() -> None:
    assert {type(r) for r in REQUESTS} == set(p.REQUEST_TYPES)


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.tag())
def test_requests_round_trip(request_: p.Request[Any]) -> None:
    assert p.decode_request(p.encode(request_)) == request_


@pytest.mark.parametrize("reply", REPLIES, ids=lambda r: type(r).__name__)
def test_replies_round_trip(reply: Reply) -> None:
    assert p.decode_reply(p.encode(reply)) == reply


def test_each_request_names_its_reply_type() -> None:
    assert p.StatusRequest.reply_type is StatusReply
    assert p.TopologyRequest.reply_type is TopologyReply
    assert p.LogTailRequest.reply_type is LogTailReply
    assert p.SnapshotRequest.reply_type is SnapshotReply
    assert p.RoutesRequest.reply_type is RoutesReply
    assert p.LoadsRequest.reply_type is LoadsReply
    assert p.WorstCaseRequest.reply_type is WorstCaseReply
    assert p.LabUpRequest.reply_type is LabUpReply
    assert p.LabDownRequest.reply_type is LabDownReply
    assert p.LabStatusRequest.reply_type is LabStatusReply
    assert p.LabFidelityRequest.reply_type is LabFidelityReply
    assert p.ForecastRequest.reply_type is ForecastReply
    assert p.ScenarioListRequest.reply_type is ScenarioListReply
    assert p.ScenarioShowRequest.reply_type is ScenarioShowReply
    assert p.ScenarioRunRequest.reply_type is ScenarioRunReply
    assert p.ScenarioRunsRequest.reply_type is ScenarioRunsReply
    assert p.PolicyListRequest.reply_type is PolicyListReply
    assert p.PolicyShowRequest.reply_type is PolicyShowReply
    assert p.PolicyProposeRequest.reply_type is PolicyProposeReply
    assert p.PolicyDeployRequest.reply_type is PolicyDeployReply
    assert p.PolicyApproveRequest.reply_type is PolicyApproveReply
    assert p.PolicyRollbackRequest.reply_type is PolicyRollbackReply
    assert p.PolicyHistoryRequest.reply_type is PolicyHistoryReply


def test_wire_encoding_is_pinned() -> None:
    # The schema only grows: these bytes must keep decoding to the same requests.
    assert p.encode(p.StatusRequest()) == b"\x81\xa4type\xa6status"
    assert p.decode_request(b"\x82\xa4type\xa8log_tail\xa5count\x07") == p.LogTailRequest(count=7)


def test_an_older_reply_without_newer_fields_still_decodes() -> None:
    old = msgspec.msgpack.encode({"type": "status", "seq": 1, "digest": "d", "uptime_s": 0.0})
    reply = p.decode_reply(old)
    assert isinstance(reply, StatusReply)
    assert reply.sources == {}


def test_frames_carry_a_big_endian_length() -> None:
    framed = p.frame(b"abc")
    assert framed == b"\x00\x00\x00\x03abc"
    assert p.frame_length(framed[:4]) == 3


def test_unknown_request_type_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown request type 'teleport'.*protocol 1"):
        p.decode_request(msgspec.msgpack.encode({"type": "teleport"}))


def test_non_msgpack_is_named() -> None:
    with pytest.raises(ValueError, match="not valid msgpack"):
        p.decode_request(b"\xc1garbage")


def test_a_message_that_is_not_a_request_is_named() -> None:
    with pytest.raises(ValueError, match="not a control request"):
        p.decode_request(msgspec.msgpack.encode([1, 2, 3]))


def test_out_of_range_field_names_the_request_and_field() -> None:
    body = msgspec.msgpack.encode({"type": "log_tail", "count": 0})
    with pytest.raises(ValueError, match=r"invalid 'log_tail' request.*\$\.count"):
        p.decode_request(body)


def test_lab_up_without_igp_keeps_the_configured_one() -> None:
    assert p.decode_request(msgspec.msgpack.encode({"type": "lab_up"})) == p.LabUpRequest()
    assert p.LabUpRequest().igp is None
    with pytest.raises(ValueError, match=r"invalid 'lab_up' request.*\$\.igp"):
        p.decode_request(msgspec.msgpack.encode({"type": "lab_up", "igp": "rip"}))


def test_a_minimal_lab_status_reply_decodes_with_defaults() -> None:
    old = msgspec.msgpack.encode({"type": "lab_status", "lab_id": "x", "igp": "ospf"})
    reply = p.decode_reply(old)
    assert isinstance(reply, LabStatusReply)
    assert (reply.up, reply.convergences) == (False, [])
