"""``shadowctl policies ...`` answered from a policy book: the daemon's and the fake's alike.

``PolicyBook`` is what the control side needs from the daemon's policy service
(``shadowd.services.policy``): its entries, their rendering, and the commands that propose,
deploy, approve and roll back. The ``answer_*`` functions turn one request into its reply,
or raise what the operator can act on (answered from ``control.errors.REPLY_CODES``): an
unknown id is ``NotFound`` and lists the known ones; a command the book refuses is a
``PolicyRefusal`` with the book's reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from shadowd.control.errors import PolicyFailed, PolicyRefusal
from shadowd.control.protocol import (
    PolicyApproveRequest,
    PolicyDeployRequest,
    PolicyHistoryRequest,
    PolicyListRequest,
    PolicyProposeRequest,
    PolicyRollbackRequest,
    PolicyShowRequest,
)
from shadowd.control.replies import (
    PolicyApproveReply,
    PolicyDeployReply,
    PolicyHistoryReply,
    PolicyListReply,
    PolicyProposeReply,
    PolicyRollbackReply,
    PolicyShowReply,
)
from shadowd.core.errors import NotFound, ShadowdError
from shadowd.core.events import RolloutStep
from shadowd.core.state import PolicyEntry

KNOWN_SHOWN: Final = 10  # the latest ids an unknown-id error lists


class Rendered(Protocol):
    """A policy as configuration: per router ``frr.conf`` snippets and diffs against the
    running config, and the vendor-neutral JSON."""

    @property
    def frr(self) -> Mapping[str, str]: ...
    @property
    def json(self) -> Mapping[str, Any]: ...
    @property
    def diffs(self) -> Mapping[str, str]: ...


class PolicyBook(Protocol):
    """The daemon's policies (``shadowd.services.policy.Policies``); errors are ``ShadowdError``s
    (``NotFound``, ``PolicyRefused``)."""

    def entries(self) -> Sequence[PolicyEntry]: ...  # oldest first
    def entry(self, policy_id: str, /) -> PolicyEntry: ...
    async def rendered(self, policy_id: str, /) -> Rendered: ...  # reads running configs
    async def propose(self, reason: str = "manual",
                      metrics: Sequence[tuple[str, str, int]] = ()) -> PolicyEntry | None: ...
    async def deploy(self, policy_id: str, /, segment: str | None,
                     rollout_percentage: float | None, monitoring_interval_s: float | None,
                     dry_run: bool) -> str: ...  # the rollout id; it runs in the background
    def approve(self, policy_id: str, /) -> str: ...
    def rollback(self, policy_id: str, /) -> str: ...
    def history(self, policy_id: str | None, /) -> Sequence[RolloutStep]: ...  # oldest first


def require_known(book: PolicyBook, policy_id: str) -> None:
    """``NotFound`` naming the latest known ids, unless the book knows ``policy_id``."""
    ids = [e.proposal.policy_id for e in book.entries()]
    if policy_id in ids:
        return
    latest = ", ".join(ids[-KNOWN_SHOWN:]) + (" ..." if len(ids) > KNOWN_SHOWN else "")
    hint = (f"known: {latest} (`shadowctl policies list`)" if ids
            else "none proposed yet (`shadowctl policies propose` makes one)")
    raise NotFound(f"no policy {policy_id!r}; {hint}")


def answer_list(book: PolicyBook, request: PolicyListRequest) -> PolicyListReply:
    entries = list(book.entries())
    shown = entries[-request.count:]
    return PolicyListReply(policies=shown, more=len(entries) - len(shown))


async def answer_show(book: PolicyBook, request: PolicyShowRequest) -> PolicyShowReply:
    require_known(book, request.policy_id)
    entry = book.entry(request.policy_id)
    try:
        r = await book.rendered(request.policy_id)
    except ShadowdError as err:  # e.g. a running config that cannot be read
        return PolicyShowReply(entry=entry, render_error=str(err))
    return PolicyShowReply(entry=entry, frr=dict(r.frr), json=dict(r.json), diffs=dict(r.diffs))


async def answer_propose(book: PolicyBook, request: PolicyProposeRequest) -> PolicyProposeReply:
    try:
        entry = await book.propose(reason=request.reason, metrics=[
            (m.router, m.link, m.metric) for m in request.metrics])
    except ShadowdError as err:
        raise PolicyFailed(f"no policy could be proposed: {err}") from err
    if entry is None:
        return PolicyProposeReply(message="nothing to do: every link's worst case is under "
                                          "the target")
    return PolicyProposeReply(entry=entry)


async def answer_deploy(book: PolicyBook, request: PolicyDeployRequest) -> PolicyDeployReply:
    pid = request.policy_id
    require_known(book, pid)
    try:
        rollout_id = await book.deploy(
            pid, segment=request.segment, rollout_percentage=request.rollout_percentage,
            monitoring_interval_s=request.monitoring_interval_s, dry_run=request.dry_run)
    except ShadowdError as err:
        raise _refused(pid, "deployed", err) from err
    return PolicyDeployReply(policy_id=pid, rollout_id=rollout_id,
                             segment=request.segment or "", dry_run=request.dry_run)


def answer_approve(book: PolicyBook, request: PolicyApproveRequest) -> PolicyApproveReply:
    said = _operator(book, request.policy_id, book.approve, "approved")
    return PolicyApproveReply(policy_id=request.policy_id, message=said)


def answer_rollback(book: PolicyBook, request: PolicyRollbackRequest) -> PolicyRollbackReply:
    said = _operator(book, request.policy_id, book.rollback, "rolled back")
    return PolicyRollbackReply(policy_id=request.policy_id, message=said)


def _operator(book: PolicyBook, pid: str, command: Callable[[str], str], what: str) -> str:
    """An operator's command on a running rollout: its message, or why not."""
    require_known(book, pid)
    try:
        return command(pid)
    except ShadowdError as err:
        raise _refused(pid, what, err) from err


def answer_history(book: PolicyBook, request: PolicyHistoryRequest) -> PolicyHistoryReply:
    if request.policy_id is not None:
        require_known(book, request.policy_id)
    steps = list(book.history(request.policy_id))
    shown = steps[-request.count:]
    return PolicyHistoryReply(policy_id=request.policy_id, steps=shown,
                              more=len(steps) - len(shown))


def _refused(policy_id: str, what: str, err: ShadowdError) -> PolicyRefusal:
    return PolicyRefusal(f"policy {policy_id} cannot be {what}: {err} "
                         f"(`shadowctl policies show {policy_id}` shows where it stands)")
