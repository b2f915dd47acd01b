"""Human output for ``shadowctl``: aligned tables and short summaries, one per reply.

Here: the tables and units every renderer uses, and the replies about the shadow's log,
model and lab; ``tables_scenarios`` draws the forecast and the scenarios,
``tables_policies`` the policies. Pure functions from a reply to text. Times are rendered
from the timestamps in the reply (UTC), never from the clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from shadowd.control.replies import (
    LabDownReply,
    LabFidelityReply,
    LabStatusReply,
    LabUpReply,
    LoadsReply,
    LogTailReply,
    Reply,
    RoutesReply,
    SnapshotReply,
    StatusReply,
    TopologyReply,
    WorstCaseReply,
)
from shadowd.control.rows import LabConvergence, LoggedEvent
from shadowd.core.events import tag_of
from shadowd.core.state import Link

_ENVELOPE_FIELDS: Final = frozenset({"source", "seq", "ts"})
_SI: Final = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    right: bool = False  # numbers read better right-aligned


def printable(value: str) -> str:
    """``value`` with every character a terminal would act on (newline, escape, ...)
    spelled as its escape (``\\n``, ``\\x1b``), so no name can forge a row or a colour."""
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def table(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> str:
    """Rows under a header, each column as wide as its widest cell, two spaces apart.
    Cells are shown ``printable``."""
    body = [[printable(cell) for cell in row] for row in rows]
    widths = [max([len(c.title), *(len(row[i]) for row in body)]) for i, c in enumerate(columns)]
    lines = [[c.title for c in columns], *body]
    return "\n".join(_line(columns, widths, cells) for cells in lines) + "\n"


def _line(columns: Sequence[Column], widths: Sequence[int], cells: Sequence[str]) -> str:
    padded = (
        cell.rjust(w) if col.right else cell.ljust(w)
        for col, w, cell in zip(columns, widths, cells, strict=True)
    )
    return "  ".join(padded).rstrip()


def pairs(items: Iterable[tuple[str, str]]) -> str:
    """``key  value`` lines with the values aligned."""
    items = list(items)
    width = max((len(k) for k, _ in items), default=0)
    return "".join(f"{k.ljust(width)}  {printable(v)}\n" for k, v in items)


# --- units ---------------------------------------------------------------------------


def bps(rate: float) -> str:
    for scale, unit in _SI:
        if rate >= scale:
            return f"{rate / scale:.1f}{unit}"
    return f"{rate:.0f}"


def timestamp(ts: float) -> str:
    if ts <= 0.0:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def duration(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3_600)
    minutes, s = divmod(s, 60)
    text = f"{hours}h{minutes:02d}m{s:02d}s" if hours else f"{minutes}m{s:02d}s"
    return f"{days}d{text}" if days else text


def up_down(flag: bool) -> str:
    return "up" if flag else "DOWN"


# --- replies -------------------------------------------------------------------------


def status(reply: StatusReply) -> str:
    summary = pairs([
        ("seq", str(reply.seq)),
        ("durable", str(reply.durable_seq)),
        ("digest", reply.digest),
        ("uptime", duration(reply.uptime_s)),
        ("routers", str(reply.routers)),
        ("links", str(reply.links)),
        ("demands", str(reply.demands)),
        ("version", f"{reply.version or '?'} (control protocol {reply.protocol})"),
    ])
    if not reply.sources:
        return summary + "\nno sources yet\n"
    columns = [Column("SOURCE"), Column("SEQ", True), Column("LAST TS"), Column("ACCEPTED", True),
               Column("DUPLICATES", True), Column("REJECTED", True), Column("GAPS", True),
               Column("RESYNCS", True), Column("DIGESTS OK/BAD", True), Column("DEAD", True)]
    rows = [
        [name, str(s.seq), timestamp(s.ts), str(s.accepted), str(s.duplicates), str(s.rejected),
         str(s.gaps), str(s.resyncs), f"{s.digests_ok}/{s.digest_mismatches}",
         str(s.dead_letters)]
        for name, s in sorted(reply.sources.items())
    ]
    since = f"per source: SEQ is the log's; the counts are since this shadowd started " \
            f"({duration(reply.uptime_s)} ago) and start again at 0 on a restart\n"
    return summary + "\n" + since + table(columns, rows)


def topology(reply: TopologyReply) -> str:
    routers = table(
        [Column("ROUTER"), Column("STATE"), Column("CPU%", True), Column("MEM%", True),
         Column("LOOPBACK")],
        ([r.name, up_down(r.up), f"{r.cpu_pct:.0f}", f"{r.mem_pct:.0f}", r.loopback or "-"]
         for r in sorted(reply.routers, key=lambda r: r.name)),
    )
    links = table(
        [Column("LINK"), Column("A"), Column("B"), Column("STATE"), Column("METRIC", True),
         Column("CAPACITY", True), Column("A>B", True), Column("B>A", True),
         Column("UTIL%", True)],
        (_link_row(link) for link in sorted(reply.links, key=lambda lk: lk.id)),
    )
    return f"{routers}\n{links}"


def _link_row(link: Link) -> list[str]:
    metric = str(link.metric)
    if link.reverse_metric != link.metric:
        metric += f"/{link.reverse_metric}"
    peak = max(link.ab_bps, link.ba_bps)
    util = 100.0 * peak / link.capacity_bps if link.capacity_bps > 0.0 else 0.0
    return [link.id, link.a, link.b, up_down(link.up), metric, bps(link.capacity_bps),
            bps(link.ab_bps), bps(link.ba_bps), f"{util:.1f}"]


def log_tail(reply: LogTailReply) -> str:
    if not reply.events:
        return "the log is empty\n"
    columns = [Column("LSN", True), Column("TS"), Column("SOURCE"), Column("SEQ", True),
               Column("TYPE"), Column("DETAILS")]
    return table(columns, (_event_row(logged) for logged in reply.events))


def _event_row(logged: LoggedEvent) -> list[str]:
    e = logged.event
    return [str(logged.lsn), timestamp(e.ts), e.source, str(e.seq), tag_of(e), _details(e)]


def _details(event: msgspec.Struct) -> str:
    """``field=value`` for the event's own fields, leaving out unset ones."""
    values = ((name, getattr(event, name)) for name in event.__struct_fields__)
    return " ".join(
        f"{name}={field_value(value)}"
        for name, value in values
        if name not in _ENVELOPE_FIELDS and value not in (None, ())
    )


def field_value(value: Any) -> str:
    """A field's value as a table shows it: sequences comma-joined, floats short."""
    if isinstance(value, tuple | list):
        return ",".join(field_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def snapshot(reply: SnapshotReply) -> str:
    return f"snapshot at seq {reply.lsn} written to {reply.path}\n"


def routes(reply: RoutesReply) -> str:
    columns = [Column("DESTINATION"), Column("METRIC", True), Column("NEXT HOP"), Column("VIA")]
    rows = [[dst, f"{hops[0].metric:g}" if hops else "-", h.neighbor, h.link]
            for dst, hops in reply.routes.items() for h in hops]
    head = f"{reply.router} at seq {reply.seq}: {len(reply.routes)} destinations\n"
    tail = f"unreachable: {', '.join(reply.unreachable)}\n" if reply.unreachable else ""
    return head + table(columns, rows) + tail


def loads(reply: LoadsReply) -> str:
    columns = [Column("LINK"), Column("FROM"), Column("TO"), Column("LOAD", True),
               Column("CAPACITY", True), Column("UTIL%", True)]
    rows = [[e.link, e.src, e.dst, bps(e.load_bps), bps(e.capacity_bps),
             f"{100 * e.utilization:.1f}"] for e in reply.loads]
    return f"model loads at seq {reply.seq}\n" + table(columns, rows)


def worst_case(reply: WorstCaseReply) -> str:
    columns = [Column("LINK"), Column("FROM"), Column("TO"), Column("WC LOAD", True),
               Column("WC UTIL%", True), Column("WC FAILURE")]
    rows = [[w.link, w.src, w.dst, bps(w.wc_load_bps), f"{100 * w.wc_util:.1f}", w.wc_failure]
            for w in reply.worst]
    head = (f"worst case over {reply.scenarios} {reply.failures} failures "
            f"({reply.mode or 'exhaustive'}) at seq {reply.seq}\n")
    return head + table(columns, rows)


def percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def lab_up(reply: LabUpReply) -> str:
    size = f"{reply.routers} routers, {reply.links} links"
    if reply.already_up:
        return f"lab {reply.lab_id} ({reply.igp}) is already up: {size}\n"
    head = f"lab {reply.lab_id} ({reply.igp}): {size}, built for seq {reply.lsn}\n"
    verdict = ("agrees with the model" if reply.converged
               else "does NOT agree with the model yet (convergence timeout)")
    lines = [head, f"up in {reply.seconds:.1f} s; {verdict}: {percent(reply.agreement)} of "
                   f"{reply.routes} routes\n"]
    if any(reply.removed.values()):
        lines.append(f"removed what an earlier run left: {_removed(reply.removed)}\n")
    return "".join(lines)


def lab_down(reply: LabDownReply) -> str:
    what = "down" if reply.was_up else "was not up"
    removed = _removed(reply.removed) if any(reply.removed.values()) else "nothing left over"
    return f"lab {reply.lab_id} {what}: {removed}\n"


def _removed(removed: dict[str, list[str]]) -> str:
    return ", ".join(f"{len(items)} {kind.replace('_', ' ')}" for kind, items in removed.items())


def lab_status(reply: LabStatusReply) -> str:
    items = [("lab", f"{reply.lab_id} ({reply.igp})"),
             ("state", _lab_state(reply)),
             ("at start", "built" if reply.enabled else "not built ([lab] enabled = false)"),
             ("routers", f"{reply.running}/{reply.routers} running"),
             ("links", f"{reply.links_up}/{reply.links} up"),
             ("namespaces", str(reply.namespaces))]
    items += [(key, value) for key, value in (("unavailable", reply.unavailable),
                                              ("last error", reply.last_error)) if value]
    summary = pairs(items)
    if not reply.convergences:
        return summary + "\nno convergences yet\n"
    columns = [Column("SEQ", True), Column("AT"), Column("SECONDS", True),
               Column("AGREEMENT", True), Column("ROUTES", True), Column("CHANGES")]
    return summary + "\n" + table(columns, (_convergence_row(c) for c in reply.convergences))


def _lab_state(reply: LabStatusReply) -> str:
    if not reply.up:
        return "DOWN"
    pending = ", events pending" if reply.pending else ""
    return f"up, mirroring seq {reply.lsn}{pending}"


def _convergence_row(c: LabConvergence) -> list[str]:
    seconds = f"{c.seconds:.2f}" if c.converged else f">{c.seconds:.0f} (timeout)"
    shown = ", ".join(c.changes[:3]) + (f" (+{len(c.changes) - 3})" if len(c.changes) > 3 else "")
    return [str(c.lsn), timestamp(c.ts), seconds, percent(c.agreement), str(c.routes), shown]


def lab_fidelity(reply: LabFidelityReply) -> str:
    head = (f"lab {reply.lab_id} at seq {reply.lsn}: {reply.agreeing}/{reply.routes} routes "
            f"agree ({percent(reply.agreement)})\n")
    if not reply.differences:
        return head
    columns = [Column("ROUTER"), Column("DESTINATION"), Column("MODEL NEXT HOPS"),
               Column("LAB NEXT HOPS")]
    rows = [[d.router, d.destination, ",".join(d.model) or "-", ",".join(d.lab) or "-"]
            for d in reply.differences]
    more = f"... and {reply.more} more\n" if reply.more else ""
    return head + table(columns, rows) + more


def as_json(reply: Reply) -> str:
    return msgspec.json.format(msgspec.json.encode(reply).decode(), indent=2) + "\n"
