"""What an operator reads when a request fails: the daemon's handlers over stand-in
services that fail, each failure's ``ErrorReply`` code and message, word for word; and
the one table that gives the codes (``control.errors.REPLY_CODES``), read against the
handlers' source and the protocol's codes."""

from __future__ import annotations

import ast
import inspect
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest

from shadowd import handlers as daemon_handlers
from shadowd.control import policybook
from shadowd.control import protocol as p
from shadowd.control.errors import REPLY_CODES, FrameTooLarge, TruncatedFrame, reply_code
from shadowd.control.replies import ErrorReply, Reply
from shadowd.control.service import Peer
from shadowd.core.errors import NotFound, ShadowdError
from shadowd.core.state import fold
from shadowd.handlers import DaemonHandlers
from shadowd.lab.availability import LabUnavailable
from shadowd.lab.plan import LabError
from shadowd.scenario.errors import ScenarioError
from shadowd.services.predictor import NoLibrary
from tests.unit.samples import SAMPLES

_PEER = Peer(pid=1, uid=0, gid=0)


def handlers(**parts: Any) -> DaemonHandlers:
    return DaemonHandlers(cast(Any, SimpleNamespace(**parts)))


def raising(err: BaseException) -> Any:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise err
    return fail


async def ask(h: DaemonHandlers, request: p.AnyRequest) -> Reply:
    return await h.handle(request, _PEER)


# --- the model ---------------------------------------------------------------------------


async def test_an_unknown_router_is_not_found() -> None:
    h = handlers(ingest=SimpleNamespace(state=fold(SAMPLES)))
    assert await ask(h, p.RoutesRequest(router="atlantis")) == ErrorReply(
        code=p.NOT_FOUND, message="unknown router 'atlantis'; `shadowctl topology` lists them")


# --- the lab -----------------------------------------------------------------------------


def lab(**methods: Any) -> SimpleNamespace:
    return SimpleNamespace(settings=SimpleNamespace(lab_id="l1"), **methods)


async def test_a_lab_that_cannot_run_here_is_unavailable() -> None:
    h = handlers(lab=lab(up=raising(LabUnavailable("the lab needs root"))))
    assert await ask(h, p.LabUpRequest()) == ErrorReply(
        code=p.UNAVAILABLE, message="the lab needs root")


@pytest.mark.parametrize("err", [LabError("no FRR daemon answered on r1"),
                                 ShadowdError("no FRR daemon answered on r1")])
async def test_a_lab_that_failed_to_build_says_why(err: ShadowdError) -> None:
    h = handlers(lab=lab(up=raising(err)))
    assert await ask(h, p.LabUpRequest()) == ErrorReply(
        code=p.LAB_FAILED, message="the lab could not be built: no FRR daemon answered on r1")


async def test_a_failed_read_of_the_lab_says_why() -> None:
    h = handlers(lab=lab(fidelity=raising(ShadowdError("vtysh -N r1 exited 1"))))
    assert await ask(h, p.LabFidelityRequest()) == ErrorReply(
        code=p.LAB_FAILED, message="reading the lab's RIBs failed: vtysh -N r1 exited 1")


async def test_the_fidelity_of_a_lab_that_is_not_up_is_lab_down() -> None:
    async def not_up() -> None:
        return None

    h = handlers(lab=lab(fidelity=not_up))
    assert await ask(h, p.LabFidelityRequest()) == ErrorReply(
        code=p.LAB_DOWN, message="lab l1 is not up; `shadowctl lab up` builds it")


# --- predictions and scenarios -----------------------------------------------------------

NO_LIBRARY = NoLibrary("the scenario library /nowhere is not a directory ([predict] "
                       "scenarios_dir)")
NO_SCENARIO = NotFound("no scenario 'storm' in /s; known: cut")
MISFIT = ScenarioError("unknown link 'x--y'", file="/s/cut.toml", line=3, key="$.link")


def predictor(**methods: Any) -> SimpleNamespace:
    return SimpleNamespace(scenarios_dir=Path("/s"), **methods)


async def test_a_forecast_of_an_unknown_link_is_not_found() -> None:
    message = "unknown link 'x--y'; `shadowctl topology` lists them"
    h = handlers(predictor=predictor(forecast=raising(NotFound(message))))
    assert await ask(h, p.ForecastRequest(link="x--y")) == ErrorReply(
        code=p.NOT_FOUND, message=message)


async def test_without_a_library_the_scenarios_are_unavailable() -> None:
    h = handlers(predictor=predictor(library=raising(NO_LIBRARY),
                                     scenario=raising(NO_LIBRARY),
                                     run_manual=raising(NO_LIBRARY)))
    expected = ErrorReply(code=p.UNAVAILABLE, message=str(NO_LIBRARY))
    assert await ask(h, p.ScenarioListRequest()) == expected
    assert await ask(h, p.ScenarioShowRequest(name="storm")) == expected
    assert await ask(h, p.ScenarioRunRequest(name="storm")) == expected


async def test_an_unknown_scenario_is_not_found() -> None:
    h = handlers(predictor=predictor(scenario=raising(NO_SCENARIO),
                                     run_manual=raising(NO_SCENARIO)))
    expected = ErrorReply(code=p.NOT_FOUND, message="no scenario 'storm' in /s; known: cut")
    assert await ask(h, p.ScenarioShowRequest(name="storm")) == expected
    assert await ask(h, p.ScenarioRunRequest(name="storm")) == expected


async def test_a_scenario_that_does_not_fit_is_invalid() -> None:
    h = handlers(predictor=predictor(run_manual=raising(MISFIT)))
    assert await ask(h, p.ScenarioRunRequest(name="cut")) == ErrorReply(
        code=p.INVALID_SCENARIO, message="/s/cut.toml:3: $.link: unknown link 'x--y'")


# --- policies ----------------------------------------------------------------------------


class Book:
    """A policy book that knows "p1" and refuses or fails everything asked of it."""

    def entries(self) -> Sequence[Any]:
        return [SimpleNamespace(proposal=SimpleNamespace(policy_id="p1"))]

    async def propose(self, reason: str = "manual",
                      metrics: Sequence[tuple[str, str, int]] = ()) -> Any:
        raise ShadowdError("the sweep found no feasible metric")

    async def deploy(self, policy_id: str, /, segment: str | None,
                     rollout_percentage: float | None, monitoring_interval_s: float | None,
                     dry_run: bool) -> str:
        raise ShadowdError("it is proposed, not validated")

    def approve(self, policy_id: str, /) -> str:
        raise ShadowdError("nothing to approve: the rollout is done")

    def rollback(self, policy_id: str, /) -> str:
        raise ShadowdError("no rollout running")


def refused(what: str, why: str) -> ErrorReply:
    return ErrorReply(code=p.POLICY_REFUSED, message=(
        f"policy p1 cannot be {what}: {why} (`shadowctl policies show p1` shows where it "
        "stands)"))


async def test_the_policy_books_refusals_and_failures_are_named() -> None:
    h = handlers(policies=Book())
    assert await ask(h, p.PolicyProposeRequest()) == ErrorReply(
        code=p.POLICY_FAILED, message="no policy could be proposed: the sweep found no "
        "feasible metric")
    assert await ask(h, p.PolicyDeployRequest(policy_id="p1")) == refused(
        "deployed", "it is proposed, not validated")
    assert await ask(h, p.PolicyApproveRequest(policy_id="p1")) == refused(
        "approved", "nothing to approve: the rollout is done")
    assert await ask(h, p.PolicyRollbackRequest(policy_id="p1")) == refused(
        "rolled back", "no rollout running")


@pytest.mark.parametrize("request_", [
    p.PolicyShowRequest(policy_id="p9"), p.PolicyDeployRequest(policy_id="p9"),
    p.PolicyApproveRequest(policy_id="p9"), p.PolicyRollbackRequest(policy_id="p9"),
    p.PolicyHistoryRequest(policy_id="p9"),
])
async def test_an_unknown_policy_is_not_found_naming_the_known_ones(
        request_: p.AnyRequest) -> None:
    assert await ask(handlers(policies=Book()), request_) == ErrorReply(
        code=p.NOT_FOUND, message="no policy 'p9'; known: p1 (`shadowctl policies list`)")


# --- what is not the operator's to act on --------------------------------------------------


@pytest.mark.parametrize("err", [ShadowdError("a bug"), RuntimeError("a bug")])
async def test_any_other_failure_is_left_to_the_server_which_answers_internal(
        err: Exception) -> None:
    h = handlers(predictor=predictor(forecast=raising(err)))
    with pytest.raises(type(err), match="a bug"):
        await ask(h, p.ForecastRequest())


# --- the table ---------------------------------------------------------------------------

# Where the handlers raise the errors the dispatcher answers (the fake service,
# shadowd.control.fake, still writes its ErrorReplys by hand).
HANDLER_MODULES = (daemon_handlers, policybook)
# Codes no error class has: the server's and the dispatcher's own situations.
SITUATIONS = {p.FORBIDDEN, p.BUSY, p.INTERNAL, p.UNSUPPORTED}


def raised(module: ModuleType) -> Iterator[tuple[int, type[BaseException]]]:
    """What each ``raise X(...)`` in ``module``'s source raises (``X`` a class, or a
    function whose return annotation is one), with its line."""
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue  # a bare ``raise`` passes on what the handler was given
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        assert isinstance(target, ast.Name), ast.unparse(node)
        thing = getattr(module, target.id)
        if not isinstance(thing, type):
            thing = typing.get_type_hints(thing)["return"]
        assert issubclass(thing, BaseException), ast.unparse(node)
        yield node.lineno, thing


@pytest.mark.parametrize("module", HANDLER_MODULES, ids=lambda m: m.__name__)
def test_every_error_a_handler_raises_has_a_reply_code(module: ModuleType) -> None:
    found = list(raised(module))
    assert found, "the scan sees no raise: it reads the wrong thing"
    missing = [(line, kind.__name__) for line, kind in found if reply_code(kind) is None]
    assert missing == [], f"{module.__name__}: raised without a code in REPLY_CODES"


@pytest.mark.parametrize("module", HANDLER_MODULES, ids=lambda m: m.__name__)
def test_handlers_leave_the_codes_to_the_table(module: ModuleType) -> None:
    names = {n.id for n in ast.walk(ast.parse(inspect.getsource(module)))
             if isinstance(n, ast.Name)}
    codes = {k for k, v in vars(p).items() if k.isupper() and isinstance(v, str)}
    assert names & ({"ErrorReply"} | codes) == set()


def test_every_code_of_the_protocol_is_the_table_s_or_a_situation_s() -> None:
    codes = {v for k, v in vars(p).items() if k.isupper() and isinstance(v, str)}
    assert set(REPLY_CODES.values()) <= codes
    assert codes - set(REPLY_CODES.values()) == SITUATIONS


def test_an_error_takes_the_code_of_its_nearest_class_in_the_table() -> None:
    assert reply_code(NoLibrary) == p.UNAVAILABLE
    assert reply_code(TruncatedFrame) == p.BAD_REQUEST
    assert reply_code(FrameTooLarge) == p.TOO_LARGE
    assert reply_code(ShadowdError) is None  # a bug is not the operator's to act on
    assert reply_code(LabUnavailable) is None  # a LabError: on_lab_up makes it Unavailable
