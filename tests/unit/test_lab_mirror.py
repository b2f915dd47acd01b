"""The lab mirror against a fake of our ``Lab`` adapter (no FRR, no namespaces): it
coalesces bursts into one apply of the latest state, takes the lab down when cancelled
(even mid-change), and reports an unavailable or diverging lab without stopping."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, MutableMapping
from typing import Any

import pytest
import structlog

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    LinkAdded,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    SpikePredicted,
)
from shadowd.core.state import State, apply, fold
from shadowd.lab.availability import LabUnavailable
from shadowd.lab.fidelity import FidelityReport, RouteDiff, Table
from shadowd.lab.lab import Convergence, LabStatus
from shadowd.lab.plan import LabError, LabSettings
from shadowd.services.labloop import LabLoop, OnLoop
from shadowd.services.mirror import LabMirror, ModelView, model_view
from shadowd.services.model import ModelShadow
from tests.alerts import assert_alert

LOOP_TURNS = 10_000


def _topology() -> list[AnyEvent]:
    routers: list[AnyEvent] = [RouterAdded(source="t", seq=i + 1, ts=0.0, router=r)
                               for i, r in enumerate(("a", "b", "c"))]
    links: list[AnyEvent] = [
        LinkAdded(source="t", seq=4 + i, ts=0.0, link=f"{x}-{y}", a=x, b=y, metric=10,
                  capacity_bps=1e9)
        for i, (x, y) in enumerate((("a", "b"), ("b", "c"), ("a", "c")))]
    return routers + links


class World:
    """What the fake labs did, across every lab the mirror made."""

    def __init__(self) -> None:
        self.ups: list[int] = []  # lsn of each state brought up
        self.applies: list[int] = []  # lsn of each state applied
        self.downs = 0
        self.hold_apply: asyncio.Event | None = None  # set: applies wait for it
        self.applying = asyncio.Event()
        self.fail_apply: list[Exception] = []  # raised by the next applies, in order
        self.fail_up: list[Exception] = []  # raised by the next ups, in order
        self.differences: list[RouteDiff] = []  # what converge reports (none: agreement)


class FakeLab:
    def __init__(self, settings: LabSettings, world: World) -> None:
        self.settings, self.world = settings, world
        self.state: State | None = None

    async def up(self, state: State) -> dict[str, list[str]]:
        if self.world.fail_up:
            raise self.world.fail_up.pop(0)
        self.world.ups.append(state.lsn)
        self.state = state
        return {"namespaces": [], "processes": [], "run_dirs": []}

    async def apply(self, state: State) -> list[str]:
        self.world.applying.set()
        if self.world.hold_apply is not None:
            await self.world.hold_apply.wait()
        if self.world.fail_apply:
            raise self.world.fail_apply.pop(0)
        self.world.applies.append(state.lsn)
        changed = self.state is not None and self.state.lsn != state.lsn
        self.state = state
        return [f"state {state.lsn}"] if changed else []

    async def fidelity(self, model: Mapping[str, Table], lsn: int = 0) -> FidelityReport:
        routes = max(len(self.world.differences), 6)
        return FidelityReport(routes=routes, agreeing=routes - len(self.world.differences),
                              differences=list(self.world.differences), lsn=lsn)

    async def converge(self, model: Mapping[str, Table], *, timeout_s: float = 60.0,
                       since: float | None = None, lsn: int = 0) -> Convergence:
        report = await self.fidelity(model, lsn)
        ok = report.agreement == 1.0
        return Convergence(converged=ok, seconds=0.5 if ok else timeout_s, polls=1,
                           report=report)

    def status(self) -> LabStatus:
        routers = len(self.state.routers) if self.state else 0
        return LabStatus(lab_id=self.settings.lab_id, igp=self.settings.igp, up=True,
                         routers=routers, running=routers,
                         namespaces=[f"{self.settings.lab_id}-{n}" for n in range(routers)])

    async def down(self) -> dict[str, list[str]]:
        self.world.downs += 1
        return {"namespaces": ["x-a"], "processes": [], "run_dirs": []}


class Model:
    """The daemon's side: a live state that events change, read as a ``ModelView``."""

    def __init__(self) -> None:
        self.state = fold(_topology())
        self.seq = len(_topology())

    async def read(self) -> ModelView:
        return ModelView(lsn=self.state.lsn, state=self.state.fork(), tables={})

    def link(self, link: str, up: bool) -> list[AnyEvent]:
        self.seq += 1
        event = LinkStatus(source="t", seq=self.seq, ts=0.0, link=link, up=up)
        apply(self.state, event)
        return [event]


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def model() -> Model:
    return Model()


@pytest.fixture
def logs() -> Iterator[list[MutableMapping[str, Any]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


def _mirror(world: World, model: Model, *, enabled: bool = True,
            check: Callable[[], None] = lambda: None) -> LabMirror:
    return LabMirror(LabSettings(lab_id="t"), model.read, enabled=enabled,
                     converge_timeout_s=7.0, make_lab=lambda s: FakeLab(s, world), check=check)


async def until(what: str, probe: Callable[[], bool]) -> None:
    """Let the loop run until ``probe`` holds: the fake lab never waits on anything
    outside the loop, so a bounded number of turns always suffices."""
    for _ in range(LOOP_TURNS):
        if probe():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
async def running(world: World,
                  model: Model) -> AsyncIterator[tuple[LabMirror, asyncio.Task[None]]]:
    mirror = _mirror(world, model)
    task = asyncio.create_task(mirror.run(), name="lab")
    await until("the lab up", lambda: mirror.status().lab.up)
    yield mirror, task
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_burst_is_one_apply_of_the_latest_state(
        running: tuple[LabMirror, asyncio.Task[None]], world: World, model: Model) -> None:
    mirror, _ = running
    world.hold_apply = asyncio.Event()
    mirror.note(model.link("a-b", up=False))
    await until("the first apply to start", world.applying.is_set)
    first = model.state.lsn
    for up in (True, False, True):  # while the lab is busy: three more changes
        mirror.note(model.link("b-c", up=up))
    world.hold_apply.set()
    await until("the second apply", lambda: len(world.applies) == 2)
    assert world.applies == [first, model.state.lsn]
    assert mirror.status().lsn == model.state.lsn
    assert [c.changes for c in mirror.status().convergences] == [
        ["lab up"], [f"state {first}"], [f"state {model.state.lsn}"]]


async def test_counters_demands_and_shadowds_records_do_not_wake_it(
        running: tuple[LabMirror, asyncio.Task[None]]) -> None:
    mirror, _ = running
    mirror.note([LinkUtilization(source="t", seq=99, ts=0.0, link="a-b", ab_bps=1.0,
                                 ba_bps=2.0),
                 SpikePredicted(source=DAEMON_SOURCE, seq=1, ts=0.0, link="a-b",
                                direction="ab", peak_ts=1.0, predicted_bps=1.0,
                                threshold_bps=1.0, predicted_util=1.0, made_at=0.0)])
    assert not mirror.status().pending


async def test_the_lab_is_taken_down_when_the_task_is_cancelled(
        running: tuple[LabMirror, asyncio.Task[None]], world: World) -> None:
    mirror, task = running
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert world.downs == 1
    assert not mirror.status().lab.up


async def test_a_cancel_in_the_middle_of_a_change_still_takes_the_lab_down(
        running: tuple[LabMirror, asyncio.Task[None]], world: World, model: Model) -> None:
    mirror, task = running
    world.hold_apply = asyncio.Event()  # never set: the apply hangs until cancelled
    mirror.note(model.link("a-b", up=False))
    await until("the apply to start", world.applying.is_set)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert world.downs == 1
    assert world.applies == []


async def test_down_and_up_again_with_another_igp(
        running: tuple[LabMirror, asyncio.Task[None]], world: World, model: Model) -> None:
    mirror, _ = running
    again = await mirror.up()
    assert again.already_up
    assert world.ups == [model.state.lsn]
    rebuilt = await mirror.up("isis")
    assert (rebuilt.already_up, rebuilt.settings.igp) == (False, "isis")
    assert rebuilt.convergence is not None
    assert rebuilt.convergence.converged
    assert (world.ups, world.downs) == ([model.state.lsn] * 2, 1)
    was_up, removed = await mirror.down()
    assert was_up
    assert removed["namespaces"] == ["x-a"]
    assert not mirror.status().lab.up
    assert await mirror.fidelity() is None
    mirror.note(model.link("a-b", up=False))  # a lab that is down follows nothing
    await until("the wake to be consumed", lambda: not mirror.status().pending)
    assert world.applies == []


async def test_unavailable_is_an_alert_and_the_mirror_keeps_going(
        world: World, model: Model, logs: list[MutableMapping[str, Any]]) -> None:
    def no_root() -> None:
        raise LabUnavailable("the lab needs root")

    mirror = _mirror(world, model, check=no_root)
    task = asyncio.create_task(mirror.run(), name="lab")
    await until("the alert", lambda: any(e.get("kind") == "lab_unavailable" for e in logs))
    alert = assert_alert(logs, "lab_unavailable", lab_id="t")
    assert (alert["severity"], alert["reason"]) == ("warning", "the lab needs root")
    with pytest.raises(LabUnavailable, match="needs root"):
        await mirror.up()
    assert mirror.status().unavailable == "the lab needs root"
    assert await mirror.down() == (False, {})
    assert not task.done()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert (world.ups, world.downs) == ([], 0)


async def test_divergence_after_the_timeout_is_an_alert_naming_examples(
        running: tuple[LabMirror, asyncio.Task[None]], world: World, model: Model,
        logs: list[MutableMapping[str, Any]]) -> None:
    mirror, _ = running
    world.differences = [RouteDiff(router="a", destination=d, model=["a-b"], lab=[])
                         for d in ("b", "c", "d", "e")]
    mirror.note(model.link("a-c", up=False))
    await until("the alert", lambda: any(e.get("kind") == "lab_divergence" for e in logs))
    alert = assert_alert(logs, "lab_divergence", lab_id="t", routes=6)
    assert (alert["severity"], alert["differing"], alert["seq"]) == ("warning", 4,
                                                                     model.state.lsn)
    assert alert["examples"] == [f"a->{d}: model a-b lab -" for d in ("b", "c", "d")]
    last = mirror.status().convergences[-1]
    assert (last.converged, last.seconds, last.routes) == (False, 7.0, 6)
    assert last.agreement == pytest.approx(2 / 6)
    applied = next(e for e in logs if e["event"] == "lab applied" and not e["converged"])
    assert applied["changes"] == [f"state {model.state.lsn}"]


async def test_a_failed_apply_rebuilds_the_lab_from_the_state(
        running: tuple[LabMirror, asyncio.Task[None]], world: World, model: Model) -> None:
    mirror, _ = running
    world.fail_apply = [LabError("metric 70000 is outside OSPF's 1..65535")]
    mirror.note(model.link("a-b", up=False))
    await until("the rebuild", lambda: len(world.ups) == 2)
    assert world.ups[-1] == model.state.lsn
    assert world.downs == 1
    status = mirror.status()
    assert status.lab.up
    assert status.last_error == ""  # the rebuild worked


async def test_a_failed_rebuild_leaves_the_lab_down_saying_why(
        running: tuple[LabMirror, asyncio.Task[None]], world: World, model: Model) -> None:
    mirror, task = running
    world.fail_apply = [LabError("apply failed")]
    world.fail_up = [LabError("metric 70000 is outside OSPF's 1..65535")]
    mirror.note(model.link("a-b", up=False))
    await until("the lab down", lambda: not mirror.status().lab.up)
    assert "outside OSPF" in mirror.status().last_error
    assert not task.done()
    assert (await mirror.up()).status.up  # asked again, it comes up


def _applied(world: World, count: int) -> Callable[[], bool]:
    return lambda: len(world.applies) == count


async def test_records_keep_the_last_few(world: World, model: Model) -> None:
    mirror = LabMirror(LabSettings(lab_id="t"), model.read, enabled=False, keep=2,
                       make_lab=lambda s: FakeLab(s, world), check=lambda: None)
    await mirror.up()
    task = asyncio.create_task(mirror.run(), name="lab")
    for i in range(3):
        mirror.note(model.link("a-b", up=i % 2 == 1))
        await until("the apply", _applied(world, i + 1))
    assert [c.lsn for c in mirror.status().convergences] == world.applies[1:]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert world.downs == 1


async def test_model_view_is_one_lsn_of_the_model() -> None:
    state = fold(_topology())
    shadow = ModelShadow(state)
    event = LinkStatus(source="t", seq=99, ts=0.0, link="a-c", up=False)
    apply(state, event)
    shadow.note([event])
    view = await shadow.read(model_view)
    assert view.lsn == view.state.lsn == state.lsn
    assert view.state is not state
    assert view.tables["a"] == {"b": frozenset({"a-b"}), "c": frozenset({"a-b"})}
    assert not view.state.links["a-c"].up


async def test_the_lab_loop_runs_calls_on_its_own_thread_and_waits_out_a_cancel(
        world: World) -> None:
    loop = LabLoop()
    try:
        lab = OnLoop(FakeLab(LabSettings(lab_id="t"), world), loop)
        await lab.up(fold(_topology()))
        assert lab.status().routers == 3
        world.fail_apply = [LabError("no")]
        with pytest.raises(LabError, match="no"):
            await lab.apply(fold(_topology()))
        assert await loop.run(_thread_name()) == "lab-loop"

        entered, release, cleaned = threading.Event(), threading.Event(), list[bool]()

        async def slow() -> None:
            entered.set()
            try:
                await asyncio.sleep(3600)
            finally:  # a clean-up that takes its time (say, stopping FRR)
                await asyncio.to_thread(release.wait)
                cleaned.append(True)

        task = asyncio.create_task(loop.run(slow()))
        await asyncio.to_thread(entered.wait)
        task.cancel()
        for _ in range(100):
            await asyncio.sleep(0)
        assert not task.done()  # still waiting for the clean-up on the lab's loop
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cleaned == [True]
    finally:
        loop.close()


async def _thread_name() -> str:
    return threading.current_thread().name
