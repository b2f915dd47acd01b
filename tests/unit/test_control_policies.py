"""``shadowctl policies ...`` against a real control socket (the fake service and its small
policy book), the daemon's handlers over a book, and the policy renderers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
import structlog

from shadowd.cli import tables_policies
from shadowd.cli.shadowctl import main
from shadowd.control import protocol as p
from shadowd.control.replies import (
    ErrorReply,
    PolicyDeployReply,
    PolicyHistoryReply,
    PolicyListReply,
    PolicyProposeReply,
    PolicyShowReply,
)
from shadowd.control.service import Peer
from shadowd.core.errors import ShadowdError
from shadowd.core.events import (
    PolicyChange,
    PolicyFeedback,
    PolicyProposed,
    PolicyValidated,
    RolloutStep,
)
from shadowd.core.state import PolicyEntry
from shadowd.handlers import DaemonHandlers
from tests.fakes.control import FakeService, serving_in_thread
from tests.unit.samples import SAMPLES

_D = "shadowd"


def proposal(policy_id: str, seq: int, **fields: Any) -> PolicyProposed:
    values: dict[str, Any] = {
        "kind": "igp_metric", "reason": "spike:fra--ams ab", "target_util": 0.8,
        "wc_before": 1.1, "wc_after": 0.7, "wc_link_before": "fra--ams fra->ams",
        "wc_failure_before": "link:ams--lon", "wc_link_after": "fra--ams ams->fra",
        "wc_failure_after": "none", "demands_moved": 2, "at_lsn": 13,
        "changes": (PolicyChange(router="fra", target="fra--ams", attr="metric", old=20,
                                 new=40),),
    }
    values.update(fields)
    return PolicyProposed(source=_D, seq=seq, ts=20.0, policy_id=policy_id, **values)


GOOD = proposal("p-good", 1)
BAD = proposal("p-bad", 3, kind="bgp", reason="cycle", changes=(
    PolicyChange(router="ams", target="peer-b", attr="local_pref", old=100, new=200),))
EVENTS = [
    *SAMPLES, GOOD,
    PolicyValidated(source=_D, seq=2, ts=21.0, policy_id="p-good", tier="lab", ok=True,
                    wc_after=0.71, steps=3),
    BAD,
    PolicyValidated(source=_D, seq=4, ts=22.0, policy_id="p-bad", tier="model", ok=False,
                    unreachable=1, detail="1 demand left without a route"),
]


@pytest.fixture(autouse=True)
def _server_logs_kept_off_stdout() -> Iterator[None]:
    with structlog.testing.capture_logs():
        yield


@pytest.fixture
def service() -> FakeService:
    return FakeService(EVENTS)


@pytest.fixture
def sock(tmp_path: Path, service: FakeService) -> Iterator[str]:
    with serving_in_thread(tmp_path / "ctl.sock", service) as server:
        yield str(server.path)


def run(capsys: pytest.CaptureFixture[str], sock: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--socket", sock, "policies", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def reply_of(out: str) -> p.AnyReply:
    """``--json`` output decodes back into the reply the daemon sent, every field."""
    reply: p.AnyReply = msgspec.json.decode(out, type=p.AnyReply)
    return reply


# --- list and show -----------------------------------------------------------------------


def test_list_is_a_table_oldest_first(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "2 policies, oldest first"
    assert lines[1].split() == ["ID", "KIND", "STATUS", "REASON", "CHANGES", "WC", "BEFORE",
                                "->", "AFTER", "TARGET", "VALIDATED"]
    assert lines[2].split() == ["p-good", "igp_metric", "validated", "spike:fra--ams", "ab",
                                "1", "110.0%", "->", "70.0%", "80.0%", "lab", "ok"]
    assert lines[3].split() == ["p-bad", "bgp", "rejected", "cycle", "1", "110.0%", "->",
                                "70.0%", "80.0%", "model", "FAILED"]


def test_list_json_carries_the_whole_entries(sock: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "list", "--json", "-n", "1")
    assert code == 0
    reply = reply_of(out)
    assert isinstance(reply, PolicyListReply)
    assert reply.more == 1
    [entry] = reply.policies
    assert entry.proposal == BAD
    assert entry.validation is not None
    assert entry.validation.detail == "1 demand left without a route"


def test_an_empty_book_says_how_to_fill_it(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with serving_in_thread(tmp_path / "s", FakeService(SAMPLES)) as server:
        code, out, _ = run(capsys, str(server.path), "list")
        assert (code, out) == (0, "no policies yet; `shadowctl policies propose` makes one\n")
        code, _, err = run(capsys, str(server.path), "show", "p-1")
    assert code == 1
    assert err == ("shadowctl: shadowd refused: not_found: no policy 'p-1'; none proposed yet "
                   "(`shadowctl policies propose` makes one)\n")


def test_show_gives_effect_changes_validation_config_and_diff(
        sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "show", "p-good")
    assert code == 0
    assert out.startswith(
        "policy p-good (igp_metric): validated\n"
        "proposed    1970-01-01T00:00:20Z for spike:fra--ams ab, from the state at seq 13\n"
        "worst case  110.0% -> 70.0% (target 80.0%, over single links)\n"
        "before      fra--ams fra->ams under link:ams--lon\n"
        "after       fra--ams ams->fra under none\n"
        "demands     2 moved, 0 disconnected (demands scaled x1.00)\n")
    assert "ROUTER  TARGET    ATTR    OLD  NEW\nfra     fra--ams  metric   20   40\n" in out
    assert ("validation in the lab at 1970-01-01T00:00:21Z: ok; worst case 71.0%, RIB "
            "agreement 100.0%, 0 loops, 0 unreachable, 3 steps\n") in out
    assert "  fra:\n    interface to-fra--ams\n     ip ospf cost 40\n    exit\n" in out
    assert "    - ip ospf cost 20\n    + ip ospf cost 40\n" in out
    assert "rollout journal: no rollout yet\n" in out
    assert out.endswith("feedback: none yet (recorded a while after a deployment completes)\n")


def test_show_json_has_the_rendering(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "show", "p-good", "--json")
    assert code == 0
    reply = reply_of(out)
    assert isinstance(reply, PolicyShowReply)
    assert reply.entry.proposal == GOOD
    assert reply.frr == {"fra": "interface to-fra--ams\n ip ospf cost 40\nexit\n!\n"}
    assert reply.json["routers"] == {
        "fra": [{"kind": "igp_metric", "target": "fra--ams", "from": 20, "to": 40}]}
    assert reply.diffs["fra"].startswith("--- fra/running-config\n+++ fra/with-p-good\n")


@pytest.mark.parametrize("command", ["show", "deploy", "approve", "rollback", "history"])
def test_an_unknown_id_is_not_found_and_lists_the_known(
        command: str, sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, sock, command, "p-nope")
    assert (code, out) == (1, "")
    assert err == ("shadowctl: shadowd refused: not_found: no policy 'p-nope'; known: p-good, "
                   "p-bad (`shadowctl policies list`)\n")


def test_an_unknown_id_is_json_too(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "show", "p-nope", "--json")
    assert code == 1
    assert json.loads(out)["code"] == p.NOT_FOUND


@pytest.mark.parametrize("garbage", ["", "x" * 65])
def test_a_garbage_id_is_a_bad_request(garbage: str, sock: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, sock, "show", garbage)
    assert (code, out) == (1, "")
    assert err.startswith("shadowctl: shadowd refused: bad_request: invalid 'policy_show' "
                          "request: ")
    assert "$.policy_id" in err


def test_a_garbage_percentage_never_reaches_the_daemon() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$.rollout_percentage"):
        msgspec.msgpack.decode(
            msgspec.msgpack.encode({"type": "policy_deploy", "policy_id": "p",
                                    "rollout_percentage": 0.0}), type=p.AnyRequest)


# --- propose, deploy, approve, rollback, history -------------------------------------------


def test_propose_with_nothing_over_target(sock: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "propose")
    assert (code, out) == (0, "nothing to do: every link's worst case is under the target\n")


def test_propose_records_a_validated_policy(sock: str, service: FakeService,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    service.policies.next_proposal = proposal("p-new", 99)
    code, out, _ = run(capsys, sock, "propose", "--reason", "operator")
    assert code == 0
    assert out == ("proposed p-new (igp_metric, 1 changes) for operator: worst case 110.0% -> "
                   "70.0% (target 80.0%), 2 demands moved, 0 disconnected\n"
                   "validated in the model: worst case 70.0%\n"
                   "next: `shadowctl policies show p-new`, then `shadowctl policies deploy "
                   "p-new`\n")
    _, out, _ = run(capsys, sock, "list", "--json")
    reply = reply_of(out)
    assert isinstance(reply, PolicyListReply)
    assert [(e.proposal.policy_id, e.status) for e in reply.policies][-1] == ("p-new",
                                                                              "validated")


def test_propose_takes_the_operators_own_metrics(sock: str, service: FakeService,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    service.policies.next_proposal = proposal("p-own", 98)
    code, _, _ = run(capsys, sock, "propose", "--metric", "r1", "r1--r2", "30",
                     "--metric", "r2", "r1--r2", "5")
    assert code == 0
    assert service.policies.proposed_metrics == [("r1", "r1--r2", 30), ("r2", "r1--r2", 5)]


def test_deploy_then_history_then_rollback(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, sock, "deploy", "p-good", "--segment", "core", "--percentage",
                       "50", "--interval", "30", "--dry-run")
    assert code == 0
    assert out == ("rollout p-good-r1 of policy p-good started on segment core as a DRY RUN "
                   "(production is not touched)\n"
                   "follow it: `shadowctl policies history p-good`; stop it: `shadowctl "
                   "policies rollback p-good`\n")
    code, out, _ = run(capsys, sock, "history", "p-good")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "rollout journal of policy p-good: 1 entries"
    assert lines[2].split()[:6] == ["1970-01-01T00:00:22Z", "p-good-r1", "0", "started",
                                    "0.0%", "-"]
    assert lines[2].endswith(" fra      segment core: 50% per step, gates of 30s; DRY RUN; "
                             "driver fake")
    code, _, err = run(capsys, sock, "deploy", "p-good")
    assert code == 1
    assert err == ("shadowctl: shadowd refused: policy_refused: policy p-good cannot be "
                   "deployed: policy p-good is already deploying (`shadowctl policies show "
                   "p-good` shows where it stands)\n")
    code, out, _ = run(capsys, sock, "rollback", "p-good")
    assert (code, out) == (0, "p-good: rollback sent to rollout p-good-r1\n")
    code, out, _ = run(capsys, sock, "history", "p-good", "--json")
    reply = reply_of(out)
    assert isinstance(reply, PolicyHistoryReply)
    assert [s.phase for s in reply.steps] == ["started", "rolling_back", "rolled_back"]
    assert reply.steps[0].dry_run
    code, _, err = run(capsys, sock, "rollback", "p-good")
    assert code == 1
    assert "policy_refused: policy p-good cannot be rolled back: policy p-good has no " \
           "rollout running" in err


def test_a_rejected_policy_is_refused(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, sock, "deploy", "p-bad")
    assert (code, out) == (1, "")
    assert err == ("shadowctl: shadowd refused: policy_refused: policy p-bad cannot be deployed: "
                   "policy p-bad is rejected, not validated (`shadowctl policies show p-bad` "
                   "shows where it stands)\n")


def test_approve_lets_a_held_rollout_go_on(sock: str, service: FakeService,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, sock, "approve", "p-good")
    assert code == 1
    assert "nothing of policy p-good is held (it is validated)" in err
    service.policies.manual_approval = True
    assert run(capsys, sock, "deploy", "p-good")[0] == 0
    code, out, _ = run(capsys, sock, "list")
    assert out.splitlines()[2].split()[2] == "held"
    code, out, _ = run(capsys, sock, "approve", "p-good")
    assert (code, out) == (0, "p-good: approve sent to rollout p-good-r1\n")
    service.policies.complete("p-good")
    code, out, _ = run(capsys, sock, "history")
    lines = out.splitlines()
    assert lines[0] == "rollout journal of every policy: 6 entries"
    assert lines[1].split()[:3] == ["TIME", "POLICY", "ROLLOUT"]
    assert [line.split()[4] for line in lines[2:]] == [
        "started", "held", "approved", "applied", "measured", "completed"]
    assert ("success  latency 2.5ms, throughput 900.0M, loss 0.1%, util 70.0%  -        -"
            in lines[6])
    code, out, _ = run(capsys, sock, "history", "-n", "2")
    assert out.splitlines()[0] == "rollout journal of every policy: 2 entries (4 older not shown)"


@pytest.mark.parametrize("argv", [
    ["policies"], ["policies", "show"], ["policies", "deploy"],
    ["policies", "deploy", "p", "--percentage", "0"],
    ["policies", "deploy", "p", "--percentage", "101"],
    ["policies", "deploy", "p", "--interval", "-1"],
    ["policies", "deploy", "p", "--percentage", "lots"],
    ["policies", "history", "-n", "0"], ["policies", "list", "-n", "0"],
    ["policies", "propose", "--metric", "r1", "r1--r2"],
    ["policies", "propose", "--metric", "r1", "r1--r2", "ten"],
    ["policies", "propose", "--metric", "r1", "r1--r2", "0"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--socket", "/nonexistent", *argv])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "usage: shadowctl" in err


# --- the daemon's handlers -------------------------------------------------------------

_PEER = Peer(pid=1, uid=0, gid=0)


async def test_the_daemons_handlers_answer_from_its_book() -> None:
    book = FakeService(EVENTS).policies
    handlers = DaemonHandlers(cast(Any, SimpleNamespace(policies=book)))
    reply = await handlers.handle(p.PolicyListRequest(), _PEER)
    assert isinstance(reply, PolicyListReply)
    assert [e.proposal.policy_id for e in reply.policies] == ["p-good", "p-bad"]
    reply = await handlers.handle(p.PolicyDeployRequest(policy_id="p-good"), _PEER)
    assert reply == PolicyDeployReply(policy_id="p-good", rollout_id="p-good-r1")
    reply = await handlers.handle(p.PolicyApproveRequest(policy_id="p-good"), _PEER)
    assert isinstance(reply, ErrorReply)
    assert reply.code == p.POLICY_REFUSED
    reply = await handlers.handle(p.PolicyHistoryRequest(policy_id="p-nope"), _PEER)
    assert isinstance(reply, ErrorReply)
    assert reply.code == p.NOT_FOUND


async def test_a_failing_proposal_and_rendering_are_named() -> None:
    class Broken:
        def __init__(self) -> None:
            self.book = FakeService(EVENTS).policies

        def __getattr__(self, name: str) -> Any:
            return getattr(self.book, name)

        async def propose(self, reason: str = "manual",
                          metrics: Sequence[tuple[str, str, int]] = ()) -> PolicyEntry | None:
            raise ShadowdError("the sweep found no feasible metric")

        async def rendered(self, policy_id: str, /) -> Any:
            raise ShadowdError("vtysh -N fra exited 1")

    handlers = DaemonHandlers(cast(Any, SimpleNamespace(policies=Broken())))
    reply = await handlers.handle(p.PolicyProposeRequest(), _PEER)
    assert reply == ErrorReply(code=p.POLICY_FAILED, message="no policy could be proposed: "
                               "the sweep found no feasible metric")
    reply = await handlers.handle(p.PolicyShowRequest(policy_id="p-good"), _PEER)
    assert isinstance(reply, PolicyShowReply)
    assert (reply.render_error, reply.frr) == ("vtysh -N fra exited 1", {})
    assert "no rendering: vtysh -N fra exited 1\n" in tables_policies.policy_show(reply)


# --- renderers -----------------------------------------------------------------------------


def test_feedback_and_a_failed_validation_render() -> None:
    entry = PolicyEntry(
        proposal=BAD, status="deployed",
        validation=PolicyValidated(source=_D, seq=4, ts=22.0, policy_id="p-bad", tier="lab",
                                   ok=False, loops=1, detail="a loop through ams"),
        steps=[RolloutStep(source=_D, seq=5, ts=23.0, rollout_id="r", policy_id="p-bad",
                           segment="edge", phase="measured", step=2, routers=("ams",),
                           share=0.5, verdict="failure", failures=2, loss_pct=3.0)],
        feedback=PolicyFeedback(source=_D, seq=6, ts=90.0, policy_id="p-bad",
                                predicted_util=0.7, observed_util=0.77, error=0.1, links=4,
                                demand_scale=1.05))
    text = tables_policies.policy_show(PolicyShowReply(entry=entry))
    assert ("validation in the lab at 1970-01-01T00:00:22Z: FAILED: a loop through ams; "
            "worst case 0.0%, RIB agreement 100.0%, 1 loops, 0 unreachable, 0 steps\n") in text
    assert "FRR configuration (frr.conf):\n  (nothing)\n" in text
    assert "failure (2 failures)" in text
    assert text.endswith("feedback at 1970-01-01T00:01:30Z: predicted 70.0%, observed 77.0% "
                         "(error +10.0%) over 4 link directions; the next cycle scales "
                         "demands x1.05\n")
    propose = tables_policies.policy_propose(PolicyProposeReply(entry=entry))
    assert propose.endswith("validation in the lab FAILED: a loop through ams\n")
