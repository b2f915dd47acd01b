"""``ReportData`` from the daemon's parts: the state, the model's worst cases, the
predictor. ``collect`` sweeps the model (in a worker thread, through ``ModelPort``) and
reads the predictor on the event loop; the rows are ``shadowd.report.rows``'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shadowd.core.state import State
from shadowd.report.data import ReportData
from shadowd.report.rows import failure_set, forecast_series, link_rows, routers

if TYPE_CHECKING:
    from shadowd.services.ports import ModelPort
    from shadowd.services.predictor import Predictor


async def collect(state: State, model: ModelPort, predictor: Predictor, *, title: str,
                  forecasts: int, runs: int, generated_ts: float) -> ReportData:
    """Everything the report shows, as the daemon has it now."""
    wc = await model.worst_cases()
    feed = predictor.feed
    return ReportData(
        title=title, generated_ts=generated_ts, seq=state.lsn, log_ts=feed.clock,
        failures=failure_set(),
        threshold_util=predictor.config.threshold_util,
        routers=routers(state), links=link_rows(state, wc),
        forecasts=forecast_series(state, feed, horizon_s=predictor.config.horizon_s,
                                  top=forecasts),
        runs=list(predictor.runs)[-runs:] if runs else [], spikes=predictor.counters.spikes,
        policies=sorted(state.policies.values(), key=lambda e: e.proposal.seq))
