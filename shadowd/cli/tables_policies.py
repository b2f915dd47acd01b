"""Human output for ``shadowctl policies ...``: a policy's predicted effect, its changes,
validation, rendering, rollout journal and feedback. Pure functions from a reply to text,
built from ``tables``' tables and units."""

from __future__ import annotations

from collections.abc import Sequence

from shadowd.cli.tables import Column, bps, pairs, percent, table, timestamp
from shadowd.control.replies import (
    PolicyApproveReply,
    PolicyDeployReply,
    PolicyHistoryReply,
    PolicyListReply,
    PolicyProposeReply,
    PolicyRollbackReply,
    PolicyShowReply,
)
from shadowd.core.events import PolicyFeedback, PolicyProposed, PolicyValidated, RolloutStep
from shadowd.core.state import PolicyEntry


def policy_list(reply: PolicyListReply) -> str:
    if not reply.policies:
        return "no policies yet; `shadowctl policies propose` makes one\n"
    more = f" ({reply.more} older not shown)" if reply.more else ""
    columns = [Column("ID"), Column("KIND"), Column("STATUS"), Column("REASON"),
               Column("CHANGES", True), Column("WC BEFORE -> AFTER", True),
               Column("TARGET", True), Column("VALIDATED")]
    rows = [[e.proposal.policy_id, e.proposal.kind, e.status, e.proposal.reason,
             str(len(e.proposal.changes)), _wc(e.proposal), percent(e.proposal.target_util),
             _validated(e.validation)] for e in reply.policies]
    return f"{len(reply.policies)} policies{more}, oldest first\n" + table(columns, rows)


def _wc(p: PolicyProposed) -> str:
    return f"{percent(p.wc_before)} -> {percent(p.wc_after)}"


def _validated(v: PolicyValidated | None) -> str:
    if v is None:
        return "-"
    return f"{v.tier} {'ok' if v.ok else 'FAILED'}"


def policy_show(reply: PolicyShowReply) -> str:
    e = reply.entry
    parts = [_effect(e), _changes(e.proposal), _validation(e.validation), _rendering(reply),
             _journal(e.steps), _feedback(e.feedback)]
    return "\n".join(parts)


def _effect(e: PolicyEntry) -> str:
    p = e.proposal
    head = f"policy {p.policy_id} ({p.kind}): {e.status}\n"
    return head + pairs([
        ("proposed", f"{timestamp(p.ts)} for {p.reason or '-'}, from the state at seq "
                     f"{p.at_lsn}"),
        ("worst case", f"{_wc(p)} (target {percent(p.target_util)}, over {p.failure_set})"),
        ("before", _worst_at(p.wc_link_before, p.wc_failure_before)),
        ("after", _worst_at(p.wc_link_after, p.wc_failure_after)),
        ("demands", f"{p.demands_moved} moved, {p.disconnected} disconnected "
                    f"(demands scaled x{p.demand_scale:.2f})"),
    ])


def _worst_at(link: str, failure: str) -> str:
    return f"{link or '-'} under {failure or 'no failure'}"


def _changes(p: PolicyProposed) -> str:
    columns = [Column("ROUTER"), Column("TARGET"), Column("ATTR"), Column("OLD", True),
               Column("NEW", True)]
    rows = [[c.router, c.target, c.attr, str(c.old), str(c.new)] for c in p.changes]
    return f"{len(p.changes)} changes:\n" + table(columns, rows)


def _validation(v: PolicyValidated | None) -> str:
    if v is None:
        return "validation: not yet\n"
    verdict = "ok" if v.ok else f"FAILED: {v.detail or 'see the log'}"
    return (f"validation in the {v.tier} at {timestamp(v.ts)}: {verdict}; worst case "
            f"{percent(v.wc_after)}, RIB agreement {percent(v.agreement)}, {v.loops} loops, "
            f"{v.unreachable} unreachable, {v.steps} steps\n")


def _rendering(reply: PolicyShowReply) -> str:
    if reply.render_error:
        return f"no rendering: {reply.render_error}\n"
    text = "FRR configuration (frr.conf):\n" + _per_router(reply.frr)
    if not reply.diffs:
        return text + "\nno diff against the running configuration (not readable here)\n"
    return text + "\ndiff against the running configuration:\n" + _per_router(reply.diffs)


def _per_router(texts: dict[str, str]) -> str:
    if not texts:
        return "  (nothing)\n"
    return "".join(f"  {router}:\n" + "".join(f"    {line}\n" for line in text.splitlines())
                   for router, text in sorted(texts.items()))


def _journal(steps: Sequence[RolloutStep]) -> str:
    if not steps:
        return "rollout journal: no rollout yet\n"
    return "rollout journal:\n" + _steps_table(steps, with_policy=False)


def _feedback(f: PolicyFeedback | None) -> str:
    if f is None:
        return "feedback: none yet (recorded a while after a deployment completes)\n"
    return (f"feedback at {timestamp(f.ts)}: predicted {percent(f.predicted_util)}, observed "
            f"{percent(f.observed_util)} (error {100 * f.error:+.1f}%) over {f.links} link "
            f"directions; the next cycle scales demands x{f.demand_scale:.2f}\n")


def _steps_table(steps: Sequence[RolloutStep], *, with_policy: bool) -> str:
    columns = [Column("TIME"), Column("ROLLOUT"), Column("STEP", True), Column("PHASE"),
               Column("SHARE", True), Column("VERDICT"), Column("METRICS"), Column("ROUTERS"),
               Column("DETAIL")]
    if with_policy:
        columns.insert(1, Column("POLICY"))
    rows = []
    for s in steps:
        row = [timestamp(s.ts), s.rollout_id, str(s.step), s.phase, percent(s.share),
               _verdict(s), _metrics(s), ",".join(s.routers) or "-", _step_detail(s)]
        if with_policy:
            row.insert(1, s.policy_id)
        rows.append(row)
    return table(columns, rows)


def _verdict(s: RolloutStep) -> str:
    if not s.verdict:
        return "-"
    return f"{s.verdict} ({s.failures} failures)" if s.failures else s.verdict


def _metrics(s: RolloutStep) -> str:
    if s.phase != "measured":
        return "-"
    return (f"latency {s.latency_ms:.1f}ms, throughput {bps(s.throughput_bps)}, "
            f"loss {s.loss_pct:.1f}%, util {percent(s.max_util)}")


def _step_detail(s: RolloutStep) -> str:
    words = [s.detail] if s.detail else []
    if s.phase == "started":
        words.append(f"segment {s.segment}: {s.percentage:g}% per step, gates of "
                     f"{s.interval_s:g}s")
        words += [f"success if {' and '.join(s.success)}"] if s.success else []
        words += [f"failure if {' or '.join(s.failure)} (limit {s.failure_limit})"
                  ] if s.failure else []
        words += ["manual approval"] if s.manual_approval else []
        words += ["DRY RUN"] if s.dry_run else []
        words += [f"driver {s.driver}"] if s.driver else []
    return "; ".join(words) or "-"


def policy_history(reply: PolicyHistoryReply) -> str:
    whose = f"policy {reply.policy_id}" if reply.policy_id else "every policy"
    more = f" ({reply.more} older not shown)" if reply.more else ""
    head = f"rollout journal of {whose}: {len(reply.steps)} entries{more}\n"
    if not reply.steps:
        return head
    return head + _steps_table(reply.steps, with_policy=reply.policy_id is None)


def policy_propose(reply: PolicyProposeReply) -> str:
    e = reply.entry
    if e is None:
        return f"{reply.message or 'nothing proposed'}\n"
    p = e.proposal
    head = (f"proposed {p.policy_id} ({p.kind}, {len(p.changes)} changes) for {p.reason}: "
            f"worst case {_wc(p)} (target {percent(p.target_util)}), {p.demands_moved} "
            f"demands moved, {p.disconnected} disconnected\n")
    v = e.validation
    if v is None:
        return head + "not validated yet; `shadowctl policies show` will say when it is\n"
    if not v.ok:
        return head + f"validation in the {v.tier} FAILED: {v.detail or 'see the log'}\n"
    return (head + f"validated in the {v.tier}: worst case {percent(v.wc_after)}\n"
            f"next: `shadowctl policies show {p.policy_id}`, then "
            f"`shadowctl policies deploy {p.policy_id}`\n")


def policy_deploy(reply: PolicyDeployReply) -> str:
    where = f"segment {reply.segment}" if reply.segment else "the configured segment"
    dry = " as a DRY RUN (production is not touched)" if reply.dry_run else ""
    return (f"rollout {reply.rollout_id} of policy {reply.policy_id} started on {where}{dry}\n"
            f"follow it: `shadowctl policies history {reply.policy_id}`; stop it: "
            f"`shadowctl policies rollback {reply.policy_id}`\n")


def policy_approve(reply: PolicyApproveReply) -> str:
    return f"{reply.policy_id}: {reply.message or 'approved'}\n"


def policy_rollback(reply: PolicyRollbackReply) -> str:
    return f"{reply.policy_id}: {reply.message or 'rolling back'}\n"
