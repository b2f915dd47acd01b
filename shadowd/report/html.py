"""The report as one self-contained HTML page: inline CSS and SVG, no script, no URL.

Pure: ``page(data)`` returns the whole document. Sections: a summary; the network map
coloured by utilisation now and by worst-case utilisation; the worst-case table (WAE's
WC util / WC failure); forecast against actual for the top links; scenario runs; route
policies and their rollout history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from shadowd.core.events import RolloutStep, ScenarioRan
from shadowd.core.state import PolicyEntry
from shadowd.report import svg
from shadowd.report.data import ReportData, ReportLink
from shadowd.report.fmt import bps, esc, pct, when

MAX_ROWS: Final = 200  # per table; the rest is in report.json

CSS: Final = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 48px;
color:#111827}
h1{margin:16px 0 4px}h2{margin-top:32px;border-bottom:1px solid #e5e7eb}
.meta{color:#4b5563}
.summary{display:flex;flex-wrap:wrap;gap:8px;padding:0;list-style:none}
.summary li{background:#f3f4f6;border-radius:6px;padding:6px 10px}
.summary b{font-size:18px}
.maps{display:flex;flex-wrap:wrap;gap:16px}
.maps figure{flex:1 1 100%;margin:0}
svg.map{width:100%;height:auto;background:#f8fafc;border:1px solid #e5e7eb}
svg.map text{font-size:11px;fill:#111827;paint-order:stroke;stroke:#f8fafc;stroke-width:3px}
svg.legend{height:24px;font-size:12px}
figcaption{font-weight:600;margin:4px 0}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e5e7eb;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f9fafb}td.num{text-align:right}
td.u{color:#111827;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px}
.charts figure{margin:0}svg.chart{width:100%;height:auto;border:1px solid #e5e7eb}
.key span{margin-right:12px}.none{color:#6b7280;font-style:italic}
.bad{color:#b91c1c;font-weight:600}
"""


def page(data: ReportData) -> str:
    body = [_header(data), _maps(data), _worst_table(data.links), _forecasts(data),
            _runs(data.runs, data.spikes), _policies(data.policies),
            _rollouts(data.policies)]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(data.title)}</title><style>{CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def _header(d: ReportData) -> str:
    directions = len(d.links)
    over_now = sum(lk.util >= d.threshold_util for lk in d.links)
    over_wc = sum(lk.wc_util >= 1.0 for lk in d.links)
    down = sum(not lk.up for lk in d.links if lk.direction == "ab")
    items = [(len(d.routers), "routers"), (directions // 2 or directions, "links"),
             (down, "links down"), (over_now, f"directions ≥ {pct(d.threshold_util)} now"),
             (over_wc, "directions overloaded in their worst case"),
             (len(d.runs), "scenario runs"), (len(d.policies), "policies")]
    summary = "".join(f"<li><b>{n}</b> {esc(what)}</li>" for n, what in items)
    return (f"<header><h1>{esc(d.title)}</h1><p class=\"meta\">log position {d.seq} · "
            f"telemetry time {esc(when(d.log_ts))} · generated {esc(when(d.generated_ts))}"
            f"</p><ul class=\"summary\">{summary}</ul></header>")


def _maps(d: ReportData) -> str:
    failures = d.failures or "the failure set"
    pos = svg.positions(d.routers, d.links)
    now = svg.network_map(d.routers, d.links, metric="util", element_id="map-now",
                          caption="link utilisation now", pos=pos)
    worst = svg.network_map(d.routers, d.links, metric="wc_util", element_id="map-wc",
                            caption=f"worst-case utilisation over {failures}", pos=pos)
    return ('<section id="map"><h2>The network</h2><p>Each link is drawn in two halves: the '
            "half at a router is the direction leaving it. Hover for the numbers.</p>"
            f"{svg.legend()}<div class=\"maps\"><figure><figcaption>Utilisation now"
            f"</figcaption>{now}</figure><figure><figcaption>Worst-case utilisation (WC util "
            f"over {esc(failures)})</figcaption>{worst}</figure></div></section>")


def _table(id_: str, head: Sequence[str], rows: Iterable[str], empty: str,
           total: int) -> str:
    body = "".join(rows)
    if not body:
        return f'<p class="none" id="{id_}">{esc(empty)}</p>'
    more = (f'<p class="meta">{total - MAX_ROWS} more rows in report.json.</p>'
            if total > MAX_ROWS else "")
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<table id="{id_}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>{more}'


def _util_cell(util: float) -> str:
    return (f'<td class="num u" style="background:{svg.colour(util)}40">{esc(pct(util))}'
            "</td>")


def _worst_table(links: Sequence[ReportLink]) -> str:
    ordered = sorted(links, key=lambda lk: (-lk.wc_util, lk.link, lk.direction))
    rows = (f"<tr><td>{esc(lk.link)}</td><td>{esc(lk.src)} → {esc(lk.dst)}</td>"
            f'<td class="num">{esc(bps(lk.capacity_bps))}</td>{_util_cell(lk.util)}'
            f"{_util_cell(lk.wc_util)}<td>{esc(lk.wc_failure or '-')}</td></tr>"
            for lk in ordered[:MAX_ROWS])
    table = _table("worst-case", ("link", "direction", "capacity", "util now", "WC util",
                                  "WC failure"), rows, "No links.", len(ordered))
    return ('<section id="worst"><h2>Worst case</h2><p>Each link direction\'s highest '
            "utilisation over the failure set (WC util) and the failure causing it "
            f"(WC failure), highest first.</p>{table}</section>")


def _forecasts(d: ReportData) -> str:
    key = ('<p class="key"><span>── observed (step mean)</span><span>- - forecast mean, made '
           "one step ahead, then from now</span><span>▒ up to the calibrated upper band"
           "</span></p>")
    figures = []
    for s in d.forecasts:
        state = "" if s.ready else " (learning: no full season yet)"
        chart = svg.forecast_chart(s, threshold_util=d.threshold_util, now_ts=d.log_ts)
        figures.append(f"<figure><figcaption>{esc(s.link)} {esc(s.src)} → {esc(s.dst)}"
                       f"{esc(state)}</figcaption>{chart}</figure>")
    inner = (f'{key}<div class="charts">{"".join(figures)}</div>' if figures else
             '<p class="none">No forecasts yet: the predictor has not seen link samples.</p>')
    return f'<section id="forecasts"><h2>Forecast against actual</h2>{inner}</section>'


def _runs(runs: Sequence[ScenarioRan], spikes: int) -> str:
    latest = list(reversed(runs))
    rows = (f"<tr><td>{esc(when(r.injected_ts))}</td><td>{esc(r.scenario)}</td>"
            f"<td>{esc(r.kind)}</td><td>{esc(r.trigger)}</td><td>{esc(r.tier)}</td>"
            f'<td class="num">{r.factor:.2f}</td><td>{esc(r.worst_link or "-")}</td>'
            f"{_util_cell(r.worst_util)}<td class=\"num\">{r.newly_overloaded}</td>"
            f'<td class="num">{r.unreachable}</td><td class="num">{r.max_loss_pct:.2f}</td>'
            f'<td class="num">{r.latency_before_ms:.1f} → {r.latency_after_ms:.1f}</td>'
            f'<td class="{"bad" if r.error else ""}">{esc(r.error or "ok")}</td></tr>'
            for r in latest[:MAX_ROWS])
    table = _table("runs", ("injected", "scenario", "kind", "trigger", "tier", "factor",
                            "worst link", "worst util", "newly overloaded", "unreachable",
                            "max loss %", "latency ms", "result"),
                   rows, "No scenario runs yet.", len(latest))
    return (f'<section id="scenarios"><h2>Scenario runs</h2><p>{spikes} spikes predicted '
            f"since shadowd started; newest runs first.</p>{table}</section>")


def _policies(entries: Sequence[PolicyEntry]) -> str:
    latest = list(reversed(entries))
    rows = (f"<tr><td>{esc(e.proposal.policy_id)}</td><td>{esc(e.proposal.kind)}</td>"
            f"<td>{esc(e.proposal.reason)}</td><td>{esc(e.status)}</td>"
            f"<td>{esc(_changes(e))}</td>"
            f'<td class="num">{esc(pct(e.proposal.wc_before))} → '
            f"{esc(pct(e.proposal.wc_after))}</td><td>{esc(_validation(e))}</td>"
            f"<td>{esc(_feedback(e))}</td></tr>" for e in latest[:MAX_ROWS])
    table = _table("policies", ("policy", "kind", "reason", "status", "changes",
                                "WC util before → after", "validation", "feedback"),
                   rows, "No policies proposed yet.", len(latest))
    return f'<section id="policies"><h2>Route policies</h2>{table}</section>'


def _changes(e: PolicyEntry) -> str:
    return "; ".join(f"{c.router} {c.target} {c.attr} {c.old}→{c.new}"
                     for c in e.proposal.changes)


def _validation(e: PolicyEntry) -> str:
    v = e.validation
    if v is None:
        return "-"
    return f"{v.tier}: {'ok' if v.ok else 'failed'}" + (f" ({v.detail})" if v.detail else "")


def _feedback(e: PolicyEntry) -> str:
    f = e.feedback
    if f is None:
        return "-"
    return (f"observed {pct(f.observed_util)} vs predicted {pct(f.predicted_util)} "
            f"(error {f.error:+.1%})")


def _rollouts(entries: Sequence[PolicyEntry]) -> str:
    steps: list[RolloutStep] = sorted((s for e in entries for s in e.steps),
                                      key=lambda s: (-s.ts, -s.seq))
    rows = (f"<tr><td>{esc(when(s.ts))}</td><td>{esc(s.policy_id)}</td>"
            f"<td>{esc(s.rollout_id)}</td><td>{esc(s.segment)}</td><td>{esc(s.phase)}</td>"
            f'<td class="num">{s.step}</td><td class="num">{esc(pct(s.share))}</td>'
            f"<td>{esc(', '.join(s.routers))}</td><td>{esc(s.verdict or '-')}</td>"
            f"<td>{esc(s.detail)}{' (dry run)' if s.dry_run else ''}</td></tr>"
            for s in steps[:MAX_ROWS])
    table = _table("rollouts", ("time", "policy", "rollout", "segment", "phase", "step",
                                "share", "routers", "verdict", "detail"),
                   rows, "No rollouts yet.", len(steps))
    return (f'<section id="rollout-history"><h2>Rollout history</h2><p>The rollout journal, '
            f"newest first.</p>{table}</section>")
