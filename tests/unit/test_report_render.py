"""The report, pure: layout, the SVG map and charts, the page, the data it is gathered from,
and the predictor feed's bounded history of forecast against actual."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import msgspec
import numpy as np
import pytest

from shadowd.core.events import AnyEvent, LinkAdded, LinkUtilization, RouterAdded
from shadowd.core.state import State, fold
from shadowd.predict.extreme import analyse
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.forecast import Forecaster, ForecastParams
from shadowd.predict.history import ForecastHistory
from shadowd.report import rows as report_rows
from shadowd.report import svg
from shadowd.report.data import (
    ForecastPoint,
    ForecastSeries,
    ReportData,
    ReportLink,
    ReportRouter,
)
from shadowd.report.html import page
from shadowd.report.layout import place
from shadowd.report.write import write_report
from shadowd.topology import topohub_topology
from tests.report_dom import Dom
from tests.unit.test_control_protocol import _ENTRY, _RUN, _STEP

EVIL = '<b>"r&d"</b>'  # a router name that must come out as text, never as markup


def _link(link: str, src: str, dst: str, util: float, wc_util: float, *,
          direction: str = "ab", up: bool = True) -> ReportLink:
    return ReportLink(link=link, direction=direction, src=src, dst=dst, up=up,
                      capacity_bps=10e9, load_bps=util * 10e9, util=util,
                      wc_load_bps=wc_util * 10e9, wc_util=wc_util, wc_failure="link:x")


ROUTERS = [ReportRouter(name="fra", pos=(8.7, 50.1)), ReportRouter(name="ams", pos=(4.9, 52.4)),
           ReportRouter(name=EVIL, pos=(-0.1, 51.5), up=False)]
LINKS = [
    _link("fra--ams", "fra", "ams", 0.2, 0.95),
    _link("fra--ams", "ams", "fra", 0.75, 1.3, direction="ba"),
    _link("ams--evil", "ams", EVIL, 0.55, 0.85),
    _link("ams--evil", EVIL, "ams", 0.0, 0.0, direction="ba", up=False),
]
SERIES = ForecastSeries(
    link="fra--ams", direction="ab", src="fra", dst="ams", capacity_bps=10e9, ready=True,
    history=[ForecastPoint(ts=300.0 * k, observed_bps=None if k == 5 else 4e9 + 1e8 * k,
                           mean_bps=None if k < 2 else 4e9, upper_bps=None if k < 2 else 5e9)
             for k in range(10)],
    ahead=[ForecastPoint(ts=3000.0 + 300.0 * k, mean_bps=5e9, upper_bps=8.5e9)
           for k in range(6)])
DATA = ReportData(title=f"report of {EVIL}", seq=42, log_ts=2900.0, routers=ROUTERS,
                  links=LINKS, forecasts=[SERIES], failures="single links")


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # raises on anything that is not well-formed XML


# --- colours and layout -------------------------------------------------------------------


@pytest.mark.parametrize(("util", "expected"), [
    (0.0, "#1a9850"), (0.49, "#1a9850"), (0.5, "#91cf60"), (0.79, "#fee08b"),
    (0.85, "#fc8d59"), (0.95, "#d73027"), (1.0, "#67001f"), (7.0, "#67001f")])
def test_colours_follow_utilisation_bands(util: float, expected: str) -> None:
    assert svg.colour(util) == expected


def test_geographic_positions_keep_north_up_and_east_right() -> None:
    pos = place(ROUTERS, [], width=960, height=600, margin=40)
    assert pos["fra"][0] > pos["ams"][0] > pos[EVIL][0]  # east is right
    assert pos["ams"][1] < pos["fra"][1]  # north is up (y grows down)
    assert all(40 <= x <= 920 and 40 <= y <= 560 for x, y in pos.values())


def test_without_positions_the_spring_layout_is_deterministic_and_inside_the_box() -> None:
    routers = [ReportRouter(name=f"r{k}") for k in range(12)]
    pairs = [(f"r{k}", f"r{(k + 1) % 12}") for k in range(12)] + [("r0", "r6")]
    first = place(routers, pairs, width=960, height=600, margin=40)
    assert first == place(routers, pairs, width=960, height=600, margin=40)
    assert len(set(first.values())) == 12  # nobody on top of anybody
    assert all(40 <= x <= 920 and 40 <= y <= 560 for x, y in first.values())


def test_a_router_without_position_makes_the_whole_map_a_spring_layout() -> None:
    routers = [*ROUTERS, ReportRouter(name="nowhere")]
    pos = place(routers, [("fra", "nowhere")], width=960, height=600, margin=40)
    assert set(pos) == {"fra", "ams", EVIL, "nowhere"}


# --- the map ------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["util", "wc_util"])
def test_the_map_has_every_router_and_link_direction_coloured_by_its_utilisation(
        metric: svg.Metric) -> None:
    root = _svg(svg.network_map(ROUTERS, LINKS, metric=metric, element_id="m", caption="c"))
    routers = [g for g in root.iter("g") if g.get("class") == "router"]
    assert [g.get("data-router") for g in routers] == ["fra", "ams", EVIL]
    lines = [e for e in root.iter("line") if e.get("class") == "link"]
    assert [(e.get("data-link"), e.get("data-dir")) for e in lines] == [
        (lk.link, lk.direction) for lk in LINKS]
    for line, lk in zip(lines, LINKS, strict=True):
        value = lk.util if metric == "util" else lk.wc_util
        assert line.get("stroke") == (svg.colour(value) if lk.up else svg.DOWN)
        title = line.findtext("title") or ""
        assert f"WC util: {100 * lk.wc_util:.1f}%" in title
        assert lk.src in title
    assert lines[3].get("stroke-dasharray")  # the down direction is dashed


def test_each_direction_is_the_half_at_its_source() -> None:
    root = _svg(svg.network_map(ROUTERS, LINKS[:2], metric="util", element_id="m", caption=""))
    pos = place(ROUTERS, [("fra", "ams")], width=svg.MAP_W, height=svg.MAP_H,
                margin=svg.MAP_MARGIN)
    ab, ba = (e for e in root.iter("line") if e.get("class") == "link")
    assert (float(ab.get("x1", "")), float(ab.get("y1", ""))) == pytest.approx(pos["fra"], abs=0.1)
    assert (float(ba.get("x1", "")), float(ba.get("y1", ""))) == pytest.approx(pos["ams"], abs=0.1)
    assert (ab.get("x2"), ab.get("y2")) == (ba.get("x2"), ba.get("y2"))  # they meet midway


def test_parallel_links_are_drawn_side_by_side() -> None:
    links = [_link("a--b", "fra", "ams", 0.1, 0.1), _link("a--b#2", "fra", "ams", 0.1, 0.1)]
    root = _svg(svg.network_map(ROUTERS, links, metric="util", element_id="m", caption=""))
    first, second = (e for e in root.iter("line") if e.get("class") == "link")
    assert (first.get("x1"), first.get("y1")) != (second.get("x1"), second.get("y1"))


def test_router_names_are_escaped_and_big_maps_keep_names_in_titles_only() -> None:
    text = svg.network_map(ROUTERS, LINKS, metric="util", element_id="m", caption=EVIL)
    assert EVIL not in text
    assert [t.text for t in _svg(text).iter("text")][-1] == EVIL
    many = [ReportRouter(name=f"r{k}") for k in range(svg.MAX_LABELS + 1)]
    root = _svg(svg.network_map(many, [], metric="util", element_id="m", caption=""))
    assert not list(root.iter("text"))
    assert len([g for g in root.iter("g") if g.get("class") == "router"]) == len(many)


def test_the_legend_shows_every_band() -> None:
    root = _svg(svg.legend())
    assert [t.text for t in root.iter("text")] == [b.label for b in svg.BANDS] + ["down"]


# --- the charts ---------------------------------------------------------------------------


def test_a_forecast_chart_draws_observed_forecast_band_and_threshold() -> None:
    root = _svg(svg.forecast_chart(SERIES, threshold_util=0.8, now_ts=2900.0))
    by_class: dict[str, int] = {}
    for e in root.iter():
        for cls in (e.get("class") or "").split():
            by_class[cls] = by_class.get(cls, 0) + 1
    assert by_class["observed"] == 2  # the missing step 5 splits the line
    assert by_class["mean"] == 2  # one-step-ahead forecasts, and the forecast ahead
    assert by_class["band"] == 2
    assert by_class["threshold"] == 1  # 8 Gb/s is under the upper band's 8.5 Gb/s
    assert by_class["capacity"] == 1  # the axis tops at 10 Gb/s (ticks of 2.5)
    assert by_class["now"] == 1
    observed = next(e for e in root.iter("polyline") if e.get("class") == "observed")
    assert len((observed.get("points") or "").split()) == 5  # steps 0..4
    assert "observed 4.9 Gb/s" in (root.findtext("title") or "")


def test_levels_off_the_chart_are_not_drawn() -> None:
    low = msgspec.structs.replace(SERIES, ahead=[])  # at most 5 Gb/s: the axis tops at 8
    root = _svg(svg.forecast_chart(low, threshold_util=0.9, now_ts=9e9))
    classes = {e.get("class") for e in root.iter()}
    assert "threshold" not in classes
    assert "capacity" not in classes
    assert "now" not in classes


def test_a_chart_without_samples_says_so() -> None:
    empty = msgspec.structs.replace(SERIES, history=[], ahead=[])
    root = _svg(svg.forecast_chart(empty, threshold_util=0.8, now_ts=0.0))
    assert "no samples yet" in "".join(root.itertext())


# --- the page -----------------------------------------------------------------------------


def test_the_page_is_self_contained_and_escapes_names() -> None:
    html = page(DATA)
    assert EVIL not in html
    assert "&lt;b&gt;&quot;r&amp;d&quot;&lt;/b&gt;" in html
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html
    assert "<link" not in html


def test_the_page_has_both_maps_and_a_worst_case_table_sorted_by_wc_util() -> None:
    dom = Dom.of(page(DATA))
    assert {e.attrs["id"] for e in dom.find("svg", "map")} == {"map-now", "map-wc"}
    assert len(dom.find("g", "router", within="map-wc")) == 3
    rows = dom.tables["worst-case"]
    assert [r[4] for r in rows] == ["130.0%", "95.0%", "85.0%", "0.0%"]
    assert rows[0][:2] == ["fra--ams", "ams → fra"]
    assert rows[2][1] == f"ams → {EVIL}"  # the parser unescaped it: it was text
    assert len(dom.find("svg", "chart")) == 1


def test_runs_policies_and_rollouts_are_tables_newest_first() -> None:
    later = msgspec.structs.replace(_RUN, run_id="run-4", scenario="later", injected_ts=50.0)
    again = msgspec.structs.replace(_STEP, seq=8, ts=40.0, phase="completed")
    entry = msgspec.structs.replace(_ENTRY, steps=[_STEP, again])
    dom = Dom.of(page(msgspec.structs.replace(DATA, runs=[_RUN, later], policies=[entry])))
    assert [r[1] for r in dom.tables["runs"]] == ["later", "cut"]
    assert dom.tables["policies"][0][:4] == ["p-1", "igp_metric", "manual", "deployed"]
    assert "fra fra--ams metric 20→40" in dom.tables["policies"][0][4]
    assert [r[4] for r in dom.tables["rollouts"]] == ["completed", "measured"]


def test_empty_sections_say_there_is_nothing_yet() -> None:
    html = page(ReportData())
    assert "No scenario runs yet." in html
    assert "No policies proposed yet." in html
    assert "No forecasts yet" in html


# --- gathering ----------------------------------------------------------------------------


def _geant() -> State:
    return fold(topohub_topology("sndlib/geant"))


def test_link_rows_have_every_direction_with_its_worst_case_highest_first() -> None:
    state = _geant()
    _, wc = analyse(state)
    rows = report_rows.link_rows(state, wc)
    assert len(rows) == 2 * len(state.links)
    assert [r.wc_util for r in rows] == sorted((r.wc_util for r in rows), reverse=True)
    top = rows[0]
    load, wc_load, failure = wc.of(top.link, "ab" if top.direction == "ab" else "ba")
    assert (top.load_bps, top.wc_load_bps, top.wc_failure) == (load, wc_load, failure)
    assert top.wc_util == pytest.approx(wc_load / state.links[top.link].capacity_bps)
    assert all(r.wc_util >= r.util - 1e-9 for r in rows)
    without = report_rows.link_rows(state, None)
    assert {r.wc_failure for r in without} == {"-"}


def _sine_feed(days: float) -> tuple[State, LinkForecasts]:
    """A two-router network whose one link follows a daily sine, sampled every 5 min."""
    state = _two_routers()
    feed = LinkForecasts(state)
    for k in range(int(days * 288)):
        ts = 300.0 * k
        level = 5e9 + 3e9 * math.sin(2 * math.pi * ts / 86_400)
        event: AnyEvent = LinkUtilization(source="t", seq=100 + k, ts=ts, link="a--b",
                                          ab_bps=level, ba_bps=level / 4)
        fold([event], state)
        feed.feed([event])
    return state, feed


def _two_routers() -> State:
    return fold([RouterAdded(source="t", seq=1, ts=0.0, router="a"),
                 RouterAdded(source="t", seq=2, ts=0.0, router="b"),
                 LinkAdded(source="t", seq=3, ts=0.0, link="a--b", a="a", b="b", metric=10,
                           capacity_bps=10e9)])


def test_forecast_series_take_the_busiest_directions_with_history_and_the_way_ahead() -> None:
    state, feed = _sine_feed(3.0)
    series = report_rows.forecast_series(state, feed, horizon_s=1800.0, top=1)
    assert len(series) == 1
    s = series[0]
    assert (s.link, s.direction, s.ready) == ("a--b", "ab", True)
    assert len(s.history) == 288  # a day, bounded
    assert len(s.ahead) == 6
    last = s.history[-1]
    assert last.observed_bps is not None
    assert last.mean_bps is not None
    assert last.mean_bps == pytest.approx(last.observed_bps, rel=0.1)  # it learnt the sine
    assert [x.ts for x in s.history] == sorted(x.ts for x in s.history)
    both = report_rows.forecast_series(state, feed, horizon_s=1800.0, top=5)
    assert [x.direction for x in both] == ["ab", "ba"]


def test_the_history_records_each_step_with_what_was_forecast_for_it() -> None:
    f = Forecaster(["a--b"], [10e9], ForecastParams())
    history = ForecastHistory(2, slots=4)
    for k in range(7):
        for ts in (300.0 * k, 300.0 * k + 100.0):  # two samples per step: 1 and 3 Gb/s
            history.before(f, ts)
            f.update(ts, {"a--b": (1e9 if ts % 300 == 0 else 3e9, 0.0)})
    points = history.series(0)
    assert [p.ts for p in points] == [600.0, 900.0, 1200.0, 1500.0]  # the last 4 closed
    assert {p.observed for p in points} == {2e9}  # the step's mean
    assert {p.mean for p in points} == {None}  # not ready: no forecast to show yet
    assert history.series(1)[0].observed == 0.0
    assert np.isnan(history.upper).all()


def test_a_new_link_restarts_the_history_with_the_forecaster() -> None:
    state, feed = _sine_feed(0.1)
    assert feed.history is not None
    added = LinkAdded(source="t", seq=10_000, ts=9_000.0, link="b--a", a="b", b="a",
                      metric=10, capacity_bps=10e9)
    fold([added], state)
    feed.feed([added])
    assert feed.history is None
    assert feed.forecaster is None


# --- writing ------------------------------------------------------------------------------


def test_write_report_writes_the_page_and_its_data(tmp_path: Path) -> None:
    path = write_report(DATA, tmp_path / "out")
    assert path == tmp_path / "out" / "index.html"
    assert path.read_text().startswith("<!DOCTYPE html>")
    data = msgspec.json.decode((tmp_path / "out" / "report.json").read_bytes(), type=ReportData)
    assert data == DATA
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["index.html", "report.json"]
