"""Prediction: each directed link's load forecast, its calibrated upper band, and spikes.

Public API (pure: time is always an argument)::

    Forecaster(links, capacity_bps, params=ForecastParams())
        .update(now, loads)                  # array (links, 2) | {link: (ab_bps, ba_bps)}
        .forecast(now, horizon_s) -> Forecast(times, mean, upper)   # rows 2k: a->b, 2k+1: b->a
        .spikes(now, horizon_s, threshold_util) -> list[PredictedSpike]   # once per episode
        .topology_changed(now)               # traffic moved at once: a level shift
        .set_capacity(link, bps); .row(link, direction); .ready
        .snapshot() -> ForecasterState; Forecaster.restore(state)
    ForecastParams(season_s, step_s, deviation_slot_s, model=HoltWintersParams(...),
                   coverage, calibration_rate, calibration_steps, rearm_s)
    PredictedSpike(link, direction, onset, peak_at, upper_bps, mean_bps, threshold_bps,
                   utilization, made_at)

    backtest.replay(batches, BacktestConfig(...), plan=()) -> Replayed
    backtest.score(replayed, config) -> Report        # ``shadowd backtest``

Modules: ``holtwinters`` (the vectorised model), ``calibrate`` (the band's multiplier),
``forecast`` (samples, forecasts, spikes), ``backtest`` (``shadowd backtest`` is
``shadowd.cli.backtest``), ``packed`` (numpy arrays in msgspec snapshots), ``feed`` and
``watch`` (the forecaster fed at log time), ``extreme`` (the extreme case),
``scheduler`` (what to inject, when), ``records`` (what is logged).
"""
