"""Human output for ``shadowctl forecast`` and ``shadowctl scenarios ...``: the forecast
per link direction, the scenario library, one scenario, and runs. Pure functions from a
reply to text, built from ``tables``' tables and units."""

from __future__ import annotations

from shadowd.cli.tables import (
    Column,
    bps,
    duration,
    field_value,
    pairs,
    percent,
    table,
    timestamp,
)
from shadowd.control.replies import (
    ForecastReply,
    ScenarioListReply,
    ScenarioRunReply,
    ScenarioRunsReply,
    ScenarioShowReply,
)
from shadowd.core.events import ScenarioRan


def _maybe_bps(rate: float | None) -> str:
    return "-" if rate is None else bps(rate)


def forecast(reply: ForecastReply) -> str:
    head = (f"forecast at {timestamp(reply.log_ts)} (seq {reply.seq}): spikes over "
            f"{percent(reply.threshold_util)} within {duration(reply.horizon_s)}"
            + ("" if reply.enabled else " ([predict] enabled = false)") + "\n")
    columns = [Column("LINK"), Column("FROM"), Column("TO"), Column("CAPACITY", True),
               Column("NOW", True), Column("MAX 24H", True), Column("PEAK AT"),
               Column("NORMAL", True), Column("UPPER", True), Column("WC LOAD", True),
               Column("FACTOR", True), Column("EXTREME%", True), Column("WC FAILURE")]
    rows = [[f.link, f.src, f.dst, bps(f.capacity_bps), _maybe_bps(f.observed_bps),
             _maybe_bps(f.recent_max_bps),
             timestamp(f.peak_ts) if f.peak_ts is not None and f.ready else "-",
             _maybe_bps(f.normal_bps) + ("" if f.ready else "*"), _maybe_bps(f.upper_bps),
             bps(f.wc_load_bps), f"x{f.factor:.2f}", f"{100 * f.extreme_util:.1f}",
             f.wc_failure] for f in reply.links]
    learning = ("* still learning: a forecast needs a season (a day) of a link's samples\n"
                if any(not f.ready for f in reply.links) else "")
    return head + table(columns, rows) + learning


def scenario_list(reply: ScenarioListReply) -> str:
    columns = [Column("NAME"), Column("KIND"), Column("FILE"), Column("DESCRIPTION")]
    rows = [[s.name, s.kind, s.file, _first_line(s.description)] for s in reply.scenarios]
    text = (f"{len(reply.scenarios)} scenarios in {reply.directory}\n"
            + (table(columns, rows) if rows else ""))
    if reply.errors:
        text += f"\n{len(reply.errors)} file(s) cannot be used:\n"
        text += "".join(f"{e.message}\n" for e in reply.errors)
    return text


def _first_line(text: str, width: int = 72) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."


def scenario_show(reply: ScenarioShowReply) -> str:
    s = reply.scenario
    items = [("name", s.name), ("kind", s.kind), ("file", s.file or "-")]
    items += [(k, field_value(v)) for k, v in reply.spec.items()
              if k not in ("name", "kind", "description", "steps")]
    text = pairs(items)
    if s.description:
        text += f"\n{s.description.strip()}\n"
    steps = reply.spec.get("steps")
    if isinstance(steps, list):
        text += "\nsteps:\n" + "".join(
            f"  {' '.join(f'{k}={field_value(v)}' for k, v in step.items())}\n" for step in steps)
    if reply.problem:
        return text + f"\ncannot run on the network as it is now: {reply.problem}\n"
    if not reply.timeline:
        return text
    return text + "\ntimeline:\n" + "".join(f"  {line}\n" for line in reply.timeline)


def _run_line(run: ScenarioRan) -> str:
    where = f"{run.run_id} {run.scenario} ({run.kind}) in the {run.tier}"
    when = f" at {timestamp(run.injected_ts)}"
    if run.error:
        return f"{where}{when}: FAILED: {run.error}\n"
    latency = f"latency {run.latency_before_ms:.2f} -> {run.latency_after_ms:.2f} ms"
    if run.tier == "lab":
        verdict = "converged" if run.converged else "did NOT converge"
        return (f"{where}{when}: {verdict} (slowest step {run.converge_s:.1f} s), "
                f"{run.unreachable} probes unanswered, loss {run.max_loss_pct:.1f}%, "
                f"{latency} (half the probes' round trip)\n")
    return (f"{where}{when}: worst link {run.worst_link or '-'} at "
            f"{percent(run.worst_util)}, {run.newly_overloaded} newly overloaded, "
            f"{run.unreachable} unreachable, loss {run.max_loss_pct:.1f}%, {latency}, "
            f"{run.routes_changed} routes changed\n")


def scenario_run(reply: ScenarioRunReply) -> str:
    text = _run_line(reply.run)
    if reply.lab_run is not None:
        text += _run_line(reply.lab_run)
    if reply.lab_error:
        text += f"no lab run: {reply.lab_error}\n"
    return text


def scenario_runs(reply: ScenarioRunsReply) -> str:
    head = (f"{len(reply.runs)} runs shown; {reply.spikes} spikes predicted and "
            f"{reply.pending} injections pending since shadowd started\n")
    columns = [Column("RUN"), Column("TIER"), Column("SCENARIO"), Column("TRIGGER"),
               Column("INJECTED"), Column("SPIKE AT"), Column("FACTOR", True),
               Column("WORST LINK"), Column("UTIL%", True), Column("NEW OVER", True),
               Column("UNREACH", True), Column("LOSS%", True), Column("ERROR")]
    rows = [[r.run_id, r.tier, r.scenario, r.trigger, timestamp(r.injected_ts),
             timestamp(r.spike_ts) if r.spike_ts is not None else "-", f"x{r.factor:.2f}",
             r.worst_link or "-", f"{100 * r.worst_util:.1f}", str(r.newly_overloaded),
             str(r.unreachable), f"{r.max_loss_pct:.1f}", r.error] for r in reply.runs]
    return head + (table(columns, rows) if rows else "")
