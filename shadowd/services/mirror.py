"""The lab mirror: the daemon's FRR lab, following the log.

The daemon tells the mirror about every batch the log accepts (``note``); batches that can
change the lab (routers and links, not counters or demands) wake it. Woken, the mirror
reads the model once, a private copy of its state with its next-hop tables at one lsn
(``model_view``), and reconciles the lab to that state (``Lab.apply``): a burst of events
costs one apply, which is correct because ``apply`` reconciles to a state rather than
replaying events. After a change it waits, bounded by ``converge_timeout_s``, until every
RIB agrees with the model at that lsn, and keeps the last convergences for
``shadowctl lab status``. One log line per apply; a ``lab_divergence`` alert when the lab
still disagrees after the timeout.

``run`` is one task of the daemon's root TaskGroup. When it is cancelled (the daemon
stops) it takes the lab down, shielded, so no namespace or FRR process outlives the
daemon; what a SIGKILL leaves behind, the next ``Lab.up`` of the same lab id removes.
Nothing here ever raises out of ``run``: a lab that cannot be built or changed is
reported (``last_error``, logs) while the model tier keeps serving.

The lab's I/O runs on a loop of its own (``shadowd.services.labloop``). The mirror builds it
with ``lab_route_maps``, so the BGP policies deployed to production are
route-map settings on the lab's egress routers as well, set and cleared by ``apply`` as
policies complete their rollouts or are rolled back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final, TypeVar

import msgspec

from shadowd import logs
from shadowd.core.events import RECORD_TYPES, AnyEvent, DemandSet, LinkUtilization
from shadowd.core.igp import Igp
from shadowd.core.state import State
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab.availability import LabUnavailable, check_available
from shadowd.lab.fidelity import FidelityReport, Table
from shadowd.lab.lab import Lab, LabStatus
from shadowd.lab.plan import LabPlan, LabSettings
from shadowd.lab.route_maps import RouteMapSync
from shadowd.policy.bgp import PeerPolicy
from shadowd.policy.deployed import edit_lines, edits, route_maps
from shadowd.services.lab_target import LabTarget
from shadowd.services.labloop import LabLike, LabLoop, OnLoop

log = logs.get_logger()
T = TypeVar("T")

KEEP_CONVERGENCES: Final = 10
DIVERGENCE_EXAMPLES: Final = 3
# counters, demands and shadowd's own records: nothing to build
_LAB_BLIND: Final = (LinkUtilization, DemandSet, *RECORD_TYPES)


class ModelView(msgspec.Struct, frozen=True, kw_only=True):
    """The model at one lsn: a private copy of its state and its next hops."""

    lsn: int
    state: State
    tables: dict[str, Table]


def model_view(engine: Engine) -> ModelView:
    """For ``ModelShadow.read``: the caught-up engine's state (copied) and tables."""
    return ModelView(lsn=engine.state.lsn, state=engine.state.fork(),
                     tables=next_hop_links(engine))


class ConvergenceRecord(msgspec.Struct, frozen=True, kw_only=True):
    lsn: int  # the state the lab was changed to
    ts: float  # wall clock when the change began
    changes: list[str]  # as ``Lab.apply`` (or "lab up") said
    seconds: float  # from the start of the change until agreement, or the timeout
    converged: bool
    agreement: float
    routes: int
    polls: int


class UpResult(msgspec.Struct, frozen=True, kw_only=True):
    settings: LabSettings
    already_up: bool
    seconds: float  # from the request until converged (or the timeout)
    convergence: ConvergenceRecord | None
    removed: dict[str, list[str]]  # leftovers of an earlier run, removed first
    status: LabStatus


class MirrorStatus(msgspec.Struct, frozen=True, kw_only=True):
    lab: LabStatus
    enabled: bool
    lsn: int  # the state the lab mirrors (0: not up)
    pending: bool  # events are waiting to be mirrored
    unavailable: str  # why this machine cannot run the lab ("" if it can)
    last_error: str
    convergences: list[ConvergenceRecord]  # oldest first


class LabMirror:
    def __init__(
        self, settings: LabSettings, read: Callable[[], Awaitable[ModelView]], *,
        enabled: bool = False, converge_timeout_s: float = 60.0,
        make_lab: Callable[[LabSettings], LabLike] | None = None,
        check: Callable[[], None] = check_available,
        keep: int = KEEP_CONVERGENCES,
    ) -> None:
        self.settings = settings
        self._read = read
        self._enabled = enabled
        self._timeout = converge_timeout_s
        self._loop = LabLoop()
        self._make_lab = make_lab if make_lab is not None else self._lab_on_loop
        self._check = check
        self._lab: LabLike | None = None
        self._applied: ModelView | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()  # one change (up, apply + converge, down) at a time
        self.convergences: deque[ConvergenceRecord] = deque(maxlen=keep)
        self.last_error = ""

    # --- the daemon's side ------------------------------------------------------------

    def note(self, events: list[AnyEvent]) -> None:
        """Events the log just accepted: wake the mirror if they can change the lab."""
        if self._wake.is_set():
            return
        if any(not isinstance(e, _LAB_BLIND) for e in events):
            self._wake.set()

    async def run(self) -> None:
        """Bring the lab up if enabled, then follow the log until cancelled; then take
        the lab down, whatever the cancellation interrupted."""
        try:
            if self._enabled:
                await self._boot()
            while True:
                await self._wake.wait()
                async with self._lock:
                    if self._lab is not None and self._wake.is_set():
                        await self._follow(self._lab)
                    else:
                        self._wake.clear()
        finally:
            await asyncio.shield(self._final_down())
            self._loop.close()

    def _lab_on_loop(self, settings: LabSettings) -> LabLike:
        return OnLoop(Lab(settings, route_maps=lab_route_maps()), self._loop)

    async def _boot(self) -> None:
        try:
            await self.up()
        except LabUnavailable as err:
            logs.alert(log, "lab_unavailable", "warning",
                       "the lab is enabled but cannot run here; the model tier runs alone",
                       lab_id=self.settings.lab_id, reason=str(err))
        except Exception:  # logged by ``up``; a lab that fails must not stop the daemon
            log.warning("the model tier runs without the lab", lab_id=self.settings.lab_id)

    async def _final_down(self) -> None:
        async with self._lock:
            if self._lab is None:
                return
            try:
                await self._take_down(self._lab)
            except Exception as err:  # stopping anyway: say what is left
                self._failed("lab down failed; `shadowctl lab down` or the next start "
                             "removes what is left", err)

    # --- control requests -------------------------------------------------------------

    async def up(self, igp: Igp | None = None) -> UpResult:
        """Build the lab for the model's current state (with another IGP: rebuild it) and
        wait until it agrees with the model. Raises ``LabUnavailable`` without root or
        FRR, and whatever building failed with (a lab that failed to build is down)."""
        settings = dataclasses.replace(self.settings, igp=igp) if igp else self.settings
        self._check()
        start = time.monotonic()
        async with self._lock:
            if self._lab is not None and self._lab.settings == settings:
                return self._up_result(self._lab, start, already_up=True)
            try:
                if self._lab is not None:
                    await self._take_down(self._lab)
                lab, removed, record = await self._bring_up(settings, start)
            except Exception as err:
                self._failed("lab up failed", err)
                raise
            return self._up_result(lab, start, record=record, removed=removed)

    async def down(self) -> tuple[bool, dict[str, list[str]]]:
        """Take the lab down (and anything an earlier run of its id left); whether it
        was up, and what was removed."""
        async with self._lock:
            if self._lab is not None:
                return True, await self._take_down(self._lab)
            if self._unavailable():  # nothing of a lab can exist here
                return False, {}
            return False, await self._take_down(self._make_lab(self.settings))

    async def fidelity(self) -> FidelityReport | None:
        """The lab's RIBs against the model at the state the lab mirrors; ``None`` when
        the lab is not up. Takes no lock: a change never waits for a reader."""
        lab, view = self._lab, self._applied
        if lab is None or view is None:
            return None
        return await lab.fidelity(view.tables, view.lsn)

    async def run_exclusive(self, use: Callable[[Any], Coroutine[Any, Any, T]]) -> T | None:
        """``use(lab)`` with the running lab to itself (no apply runs meanwhile), on the
        lab's own loop, then re-apply the latest state; ``None`` when the lab is not up.
        For what-if runs (``shadowd.services.labrun.run_lab`` with the ``Lab``), which
        change the lab and put it back as the state they were given says."""
        async with self._lock:
            lab = self._lab
            if lab is None:
                return None
            try:
                if isinstance(lab, OnLoop):
                    return await self._loop.run(use(lab._lab))
                return await use(lab)
            finally:
                self._wake.set()  # the log moved on meanwhile: follow it again

    def status(self) -> MirrorStatus:
        lab = self._lab
        return MirrorStatus(
            lab=lab.status() if lab is not None else LabStatus(
                lab_id=self.settings.lab_id, igp=self.settings.igp, up=False),
            enabled=self._enabled,
            lsn=self._applied.lsn if lab is not None and self._applied is not None else 0,
            pending=lab is not None and self._wake.is_set(),
            unavailable=self._unavailable(), last_error=self.last_error,
            convergences=list(self.convergences))

    def _unavailable(self) -> str:
        try:
            self._check()
        except LabUnavailable as err:
            return str(err)
        return ""

    # --- changes (under the lock) -----------------------------------------------------

    async def _bring_up(self, settings: LabSettings, start: float
                        ) -> tuple[LabLike, dict[str, list[str]], ConvergenceRecord]:
        self._wake.clear()  # events from here on wake the mirror again
        view = await self._read()
        lab = self._make_lab(settings)
        removed = await lab.up(view.state)  # on failure the lab removes itself
        self._lab, self._applied, self.settings = lab, view, settings
        self.last_error = ""
        if any(removed.values()):
            log.warning("lab leftovers removed", lab_id=settings.lab_id,
                        **{k: len(v) for k, v in removed.items()})
        return lab, removed, await self._converge(lab, view, ["lab up"], start)

    async def _follow(self, lab: LabLike) -> None:
        """Reconcile the lab to the model's current state; on failure, rebuild it."""
        self._wake.clear()
        try:
            view = await self._read()
            start = time.monotonic()
            changes = await lab.apply(view.state)
            self._applied = view
            if changes:
                await self._converge(lab, view, changes, start)
            else:
                log.debug("lab unchanged", lab_id=lab.settings.lab_id, seq=view.lsn)
        except Exception as err:  # reported; the lab is rebuilt from the state
            self._failed("lab apply failed; rebuilding the lab", err)
            await self._rebuild(lab)

    async def _rebuild(self, lab: LabLike) -> None:
        try:
            await self._take_down(lab)
            await self._bring_up(lab.settings, time.monotonic())
        except Exception as err:  # the lab stays down; status says why
            self._failed("lab rebuild failed; the lab is down", err)

    async def _converge(self, lab: LabLike, view: ModelView, changes: list[str],
                        start: float) -> ConvergenceRecord:
        ts = time.time() - (time.monotonic() - start)
        result = await lab.converge(view.tables, timeout_s=self._timeout, since=start,
                                    lsn=view.lsn)
        report = result.report
        record = ConvergenceRecord(
            lsn=view.lsn, ts=ts, changes=changes, seconds=result.seconds,
            converged=result.converged, agreement=report.agreement, routes=report.routes,
            polls=result.polls)
        self.convergences.append(record)
        log.info("lab applied", lab_id=lab.settings.lab_id, seq=view.lsn, changes=changes,
                 converged=result.converged, seconds=round(result.seconds, 3),
                 agreement=round(report.agreement, 4), routes=report.routes,
                 polls=result.polls)
        if not result.converged:
            _divergence(lab.settings.lab_id, report, self._timeout)
        return record

    async def _take_down(self, lab: LabLike) -> dict[str, list[str]]:
        self._lab, self._applied = None, None
        removed = await lab.down()
        log.info("lab down", lab_id=lab.settings.lab_id,
                 **{k: len(v) for k, v in removed.items()})
        return removed

    def _failed(self, message: str, err: Exception) -> None:
        self.last_error = f"{type(err).__name__}: {err}"
        log.error(message, lab_id=self.settings.lab_id, error=self.last_error)

    def _up_result(self, lab: LabLike, start: float, *, already_up: bool = False,
                   record: ConvergenceRecord | None = None,
                   removed: dict[str, list[str]] | None = None) -> UpResult:
        return UpResult(settings=lab.settings, already_up=already_up,
                        seconds=time.monotonic() - start, convergence=record,
                        removed=removed or {}, status=lab.status())


def _divergence(lab_id: str, report: FidelityReport, timeout_s: float) -> None:
    examples = [f"{d.router}->{d.destination}: model {','.join(d.model) or '-'} "
                f"lab {','.join(d.lab) or '-'}" for d in report.differences[:DIVERGENCE_EXAMPLES]]
    logs.alert(log, "lab_divergence", "warning",
               f"the lab disagrees with the model on {len(report.differences)} of "
               f"{report.routes} routes after {timeout_s:g} s",
               lab_id=lab_id, seq=report.lsn, differing=len(report.differences),
               routes=report.routes, agreement=round(report.agreement, 4), examples=examples)


def lab_lines(have: Mapping[tuple[str, str], PeerPolicy],
              want: Mapping[tuple[str, str], PeerPolicy], lab: LabPlan) -> dict[str, list[str]]:
    """The vtysh lines, per lab router, from one map of route-map settings to another."""
    return edit_lines(edits(have, want), LabTarget(lab), lab.igp)


def lab_route_maps() -> RouteMapSync[PeerPolicy]:
    """The lab's route-map reconciler for the deployed BGP policies of a state."""
    return RouteMapSync(route_maps, lab_lines)
