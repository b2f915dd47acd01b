"""The backtest: scoring on a case worked by hand, the CLI, and a generated trace's figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shadowd.cli.shadowd import main
from shadowd.predict.backtest import Alert, BacktestConfig, Replayed, matches, score
from shadowd.predict.forecast import PredictedSpike
from shadowd.traffic.episodes import SpikeEpisode

CONFIG = BacktestConfig(lead_s=900, horizon_s=1800, tolerance_s=1800, warmup_s=1000)


def alert(made: float, peak: float, until: float | None = None, link: str = "x",
          direction: str = "ab") -> Alert:
    spike = PredictedSpike(link=link, direction=direction,  # type: ignore[arg-type]
                           onset=peak, peak_at=peak, upper_bps=90.0, mean_bps=85.0,
                           threshold_bps=80.0, utilization=0.9, made_at=made)
    return Alert(spike=spike, until=made if until is None else until)


def episode(start: float, end: float, cause: str = "surge", link: str = "x") -> SpikeEpisode:
    return SpikeEpisode(link=link, direction="ab", start=start, end=end, peak_util=0.9,
                        cause=cause)  # type: ignore[arg-type]


def hand_built() -> Replayed:
    e1 = episode(5000, 6000)  # predicted 1200 s ahead
    e2 = episode(20000, 20600, "load")  # predicted, but only 300 s ahead
    e3 = episode(30000, 30300, "failure")  # a reroute: not predicted, reported apart
    e4 = episode(500, 900)  # during the warm-up: not scored
    e5 = episode(45000, 45300, "load")  # under an alert standing since 40000
    return Replayed(
        start_ts=0.0, end_ts=100_000.0, series=4,
        predictions=[
            alert(3800, 5000, 5900),
            alert(19700, 20000),
            alert(50000, 51000),  # nothing followed, but the load came within 10 points
            alert(60000, 61000, link="y"),  # nothing at all
            alert(40000, 40500, 44000),
            alert(99000, 99500),  # too close to the end to judge
        ],
        episodes=[e1, e2, e3, e4, e5],
        near_episodes=[episode(50500, 50800)],
        under_band=95, band_samples=100, ape_sum=5.0, ape_samples=100,
    )


def test_scores_worked_by_hand() -> None:
    report = score(hand_built(), CONFIG)
    assert report.episodes == {"surge": 1, "load": 2, "failure": 1}
    assert report.predicted == 2  # e1 and e5
    assert report.recall == pytest.approx(2 / 3)
    assert report.recall_with_failures == pytest.approx(2 / 4)
    assert report.predictions == 5
    assert report.false_alarms == 2
    assert report.false_alarm_rate == pytest.approx(0.4)
    assert report.near_misses == 1
    assert report.lead_median_s == 1200  # of 1200, 300 and 5000
    assert report.lead_p10_s == pytest.approx(480)
    assert report.coverage == pytest.approx(0.95)
    assert report.mape == pytest.approx(0.05)
    assert [e.start for e in report.missed] == [20000]
    assert report.targets() == {"recall>=0.90": False, "false_alarms<=0.05": False,
                                "coverage_within_3_points": True}


def test_a_standing_alert_matches_until_it_clears() -> None:
    later = episode(45000, 45300)
    assert matches(alert(40000, 40500, until=44000), later, tolerance_s=1800)
    assert not matches(alert(40000, 40500), later, tolerance_s=1800)
    assert not matches(alert(46000, 47000), later, tolerance_s=1800)  # made after it ended
    assert not matches(alert(40000, 40500, until=44000, link="y"), later, tolerance_s=1800)


def test_nothing_to_score_gives_no_figures() -> None:
    empty = Replayed(start_ts=0.0, end_ts=10.0, series=0, predictions=[], episodes=[],
                     near_episodes=[])
    report = score(empty, CONFIG)
    assert report.recall is None
    assert report.false_alarm_rate is None
    assert report.coverage is None
    assert not any(report.targets().values())


def test_trace_file_backtest_prints_json(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "abilene.trace"
    assert main(["trace", "generate", "--topology", "sndlib/abilene", "--days", "4",
                 "--surges-per-week", "14", "--out", str(path), "--json"]) == 0
    generated = json.loads(capsys.readouterr().out)
    assert generated["surges"] == 8
    assert main(["backtest", "--trace", str(path), "--warmup-s", "172800", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["trace"] == str(path)
    assert doc["series"] == 30  # 15 links, both directions
    assert sum(doc["episodes"].values()) > 0  # recomputed from the file's own counters
    assert set(doc["episodes"]) == {"surge", "load", "failure"}
    assert doc["episodes"]["surge"] == 0  # a file does not know its surges
    for key in ("recall", "false_alarm_rate", "lead_median_s", "mape", "coverage"):
        assert isinstance(doc[key], float)
    assert 0.9 <= doc["coverage"] <= 1.0
    assert set(doc["targets"]) == {"recall>=0.90", "false_alarms<=0.05",
                                   "coverage_within_3_points"}


def test_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--trace", "builtin:sndlib/abilene", "--days", "3",
                 "--warmup-s", "172800"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("builtin:sndlib/abilene: 30 directed links, threshold 80%")
    assert "upper band coverage" in out
    assert "targets: recall>=0.90" in out


@pytest.mark.slow
def test_geant_with_surges_meets_recall_and_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    """A week of GEANT with two surges a day, scored after three days.

    The false-alarm target (<= 5%) is not met: surges that stop short of the threshold
    look exactly like those that cross it until they stop. The ramp oracle, which knows
    everything but the ramps' lengths, cannot meet it either at 90% recall; the
    forecaster is held to within 30 points of it at the recall it reaches. (On GEANT
    sized for its no-failure peak alone, 13 surge pairs crossed and the gap was 16 points
    (43% against 28%); sized for single failures and 10 Gbit/s and up, as operators size
    a backbone, 8 cross and it is 30 (50% against 20%): the surges that stop short on
    the fatter links are the ones the forecaster cannot tell from those that cross.)"""
    assert main(["backtest", "--trace", "builtin:geant", "--days", "7", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["surges"] == 14
    assert doc["episodes"]["surge"] >= 10
    assert doc["recall"] >= 0.9
    assert doc["lead_p10_s"] >= 900
    assert abs(doc["coverage"] - 0.95) <= 0.03
    assert doc["mape"] < 0.1
    bound = doc["bound"]
    assert bound["crossing"] >= 8
    assert not bound["target_pair_reachable"]
    assert bound["false_alarm_rate_at_recall_0.9"] > 0.05
    assert doc["false_alarm_rate"] <= bound["false_alarm_rate_at_forecaster_recall"] + 0.3


@pytest.mark.slow
def test_diurnal_peaks_over_the_threshold_are_predicted(
        capsys: pytest.CaptureFixture[str]) -> None:
    """No surges, capacities sized for an 85% weekday peak (and nothing else: no failure
    headroom, links from 1 Gbit/s): the spikes are the diurnal peaks themselves, the easy
    class; recall is asserted, false alarms only reported."""
    assert main(["backtest", "--trace", "builtin:geant", "--peak-util", "0.85",
                 "--failure-util", "0", "--min-rate-bps", "1e9",
                 "--surges-per-week", "0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["surges"] == 0
    assert doc["episodes"]["surge"] == 0
    assert doc["episodes"]["load"] >= 20
    assert doc["recall"] >= 0.9
    assert doc["lead_p10_s"] >= 900
    assert abs(doc["coverage"] - 0.95) <= 0.03
    assert "bound" not in doc  # the ramp oracle has nothing to say without surges
