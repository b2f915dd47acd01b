"""Benchmark: from a predicted spike to its model scenario runs, on GEANT and germany50.

    python -m bench.spike_path [--batches N] [--every K] [--days D]

The daemon's own predictor runs here on a replayed trace of each network (its 5-minute
batches: every demand and every link counter), admitted through the real ingest, with
the model tier and the scenario runs in worker threads as in the daemon. Only the
forecaster is replaced: every ``--every`` batches it "predicts" a spike on the busiest
link direction, peaking one lead time ahead, so the injection is due at once and each
spike's whole path runs: its extreme case (routed load, worst case over single links,
routers and SRLGs), the ``SpikePredicted`` record, the choice of scenarios, and each
scenario run in the model (``ScenarioRan``). The feeder waits for the predictor after
each batch (it keeps up, as with live telemetry).

Measured per spike (``time.perf_counter``): ``extreme_ms``, the predictor's call for the
spiking link's view; ``total_ms``, from that call to the end of the spike's last model
run; ``forecast_after_ms``, an operator's ``shadowctl forecast`` right after the spike's
runs, at the same routing position (only shadowd's records came in between). Two ways in
the same run, on the same batches:

- ``from_scratch``: the path before issue 16, kept here as the baseline: fork the state,
  route it, sweep the three failure sets, for every spike;
- ``model_service``: the daemon's path, through the model tier (``ModelShadow``): its
  incremental engine caught up to the spike's log position and its per-position sweeps.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from shadowd import logs
from shadowd.config import PredictConfig
from shadowd.core.events import AnyEvent, Direction, LinkUtilization
from shadowd.core.state import State
from shadowd.ingest.builtin import builtin_batches
from shadowd.ingest.pipeline import Ingest
from shadowd.predict.extreme import LinkView, WorstCases, analyse, views_from_scratch
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.forecast import PredictedSpike
from shadowd.predict.watch import SpikeWatch
from shadowd.scenario.library import Scenario
from shadowd.scenario.results import ScenarioResult
from shadowd.services.model import ModelShadow
from shadowd.services.ports import ModelPort, model_in_thread
from shadowd.services.predictor import Predictor, watch_settings
from shadowd.services.recorder import Recorder
from shadowd.traffic.trace import TraceSpec

NETWORKS = ("sndlib/geant", "sndlib/germany50")
WAYS = ("from_scratch", "model_service")


class FromScratch:
    """The baseline ``ModelPort``: every spike routes and sweeps a fork of its own."""

    def __init__(self, state: State) -> None:
        self._state = state

    async def views(self, state: State,
                    keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
        return await asyncio.to_thread(views_from_scratch, state, keys)

    async def worst_cases(self) -> WorstCases:
        return await asyncio.to_thread(_scratch_worst, self._state.fork())


def _scratch_worst(state: State) -> WorstCases:
    return analyse(state)[1]



class Timed:
    """A ``ModelPort`` that times its ``views`` calls: when each spike's path starts."""

    def __init__(self, port: ModelPort) -> None:
        self._port = port
        self.starts: list[float] = []
        self.extreme: list[float] = []

    async def views(self, state: State,
                    keys: Sequence[tuple[str, Direction]]) -> list[LinkView]:
        start = time.perf_counter()
        self.starts.append(start)
        out = await self._port.views(state, keys)
        self.extreme.append(time.perf_counter() - start)
        return out

    async def worst_cases(self) -> WorstCases:
        return await self._port.worst_cases()


class Ends:
    """``run_model`` that notes when each run ended."""

    def __init__(self) -> None:
        self.at: list[float] = []

    async def __call__(self, scenario: Scenario, state: State, ts: float) -> ScenarioResult:
        result = await model_in_thread(scenario, state, ts)
        self.at.append(time.perf_counter())
        return result


class Scripted(SpikeWatch):
    """The real feed, but a spike on the busiest link direction every ``every`` batches."""

    def __init__(self, state: State, config: PredictConfig, every: int) -> None:
        super().__init__(LinkForecasts(state), watch_settings(config))
        self._state, self._every, self._lead = state, every, config.lead_s
        self._batches = 0

    def note(self, events: list[AnyEvent]) -> list[PredictedSpike] | None:
        self.feed.feed(events)
        self.open.note(events)
        if not events or not isinstance(events[-1], LinkUtilization):
            return None  # a record of shadowd's, not a telemetry batch
        self._batches += 1
        if self._batches % self._every:
            return None
        return [self._busiest(events, self.feed.clock)]

    def _busiest(self, events: list[AnyEvent], now: float) -> PredictedSpike:
        counters = [e for e in events if isinstance(e, LinkUtilization)]
        top = max(counters, key=lambda c: max(c.ab_bps, c.ba_bps) / self._capacity(c.link))
        direction: Direction = "ab" if top.ab_bps >= top.ba_bps else "ba"
        rate = max(top.ab_bps, top.ba_bps)
        capacity = self._capacity(top.link)
        return PredictedSpike(link=top.link, direction=direction, onset=now,
                              peak_at=now + self._lead, upper_bps=rate * 1.2, mean_bps=rate,
                              threshold_bps=0.8 * capacity, utilization=rate * 1.2 / capacity,
                              made_at=now)

    def _capacity(self, link: str) -> float:
        return self._state.links[link].capacity_bps


class _Log:
    durable_lsn = 0

    def enqueue(self, events: Sequence[AnyEvent]) -> None:
        self.durable_lsn += len(events)

    async def wait_durable(self, lsn: int) -> None:
        return None


async def _replay(batches: list[list[AnyEvent]], way: str, every: int) -> dict[str, Any]:
    state = State()
    model = ModelShadow(state)
    port = Timed(FromScratch(state) if way == "from_scratch" else model)
    ends = Ends()
    config = PredictConfig(lab=False)
    holder: list[Predictor] = []

    def accepted(events: list[AnyEvent]) -> None:
        model.note(events)
        if holder:
            holder[0].note(events)

    ingest = Ingest(state, _Log(), max_in_flight=1 << 30, on_accepted=accepted)
    ingest.offer(batches[0])  # the topology and the first demands, before the predictor
    recorder = Recorder(state, ingest.append)
    with tempfile.TemporaryDirectory() as scenarios:
        predictor = Predictor(config, state, recorder=recorder, model=port,
                              scenarios_dir=Path(scenarios), run_model=ends,
                              watch=Scripted(state, config, every))
        holder.append(predictor)
        worker = asyncio.create_task(predictor.run())
        reads = []
        for batch in batches[1:]:
            spikes = len(port.starts)
            ingest.offer(batch)
            await predictor.settle()
            if len(port.starts) > spikes:  # an operator asks right after: the same position
                start = time.perf_counter()
                await predictor.forecast(None, 10)
                reads.append(time.perf_counter() - start)
        worker.cancel()
    return {**_measured(port, ends, predictor), "private": model.private, "reads": reads}


def _measured(port: Timed, ends: Ends, predictor: Predictor) -> dict[str, Any]:
    totals = []
    for i, start in enumerate(port.starts):
        after = port.starts[i + 1] if i + 1 < len(port.starts) else float("inf")
        mine = [t for t in ends.at if start < t < after]
        if mine:
            totals.append(max(mine) - start)
    return {"extreme": port.extreme, "total": totals, "model_runs": len(ends.at),
            "counters": predictor.progress()}


def _pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    extreme = [x for r in rounds for x in r["extreme"]]
    return {"spikes": len(extreme), "model_runs": sum(r["model_runs"] for r in rounds),
            "extreme_ms": _stats(extreme),
            "total_ms": _stats([x for r in rounds for x in r["total"]]),
            "forecast_after_ms": _stats([x for r in rounds for x in r["reads"]]),
            "private_views": sum(r["private"] for r in rounds),
            "counters_last_round": rounds[-1]["counters"]}


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in seconds)
    if not ms:
        return {}
    return {"median": round(statistics.median(ms), 2),
            "p90": round(ms[int(0.9 * (len(ms) - 1))], 2), "max": round(ms[-1], 2)}


def _batches(network: str, count: int, days: int) -> list[list[AnyEvent]]:
    spec = TraceSpec(topology=network, days=days, seed=1)
    out: list[list[AnyEvent]] = []
    it: Iterator[list[AnyEvent]] = iter(builtin_batches(spec))
    for batch in it:
        out.append(batch)
        if len(out) > count:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.spike_path")
    parser.add_argument("--batches", type=int, default=96, help="5-minute batches replayed")
    parser.add_argument("--every", type=int, default=2, help="a spike every K batches")
    parser.add_argument("--days", type=int, default=1, help="length of the generated trace")
    parser.add_argument("--rounds", type=int, default=3,
                        help="each way this many times, alternating (the machine is shared)")
    args = parser.parse_args()
    logs.configure(level="warning", stream=sys.stderr)
    out: dict[str, Any] = {"benchmark": "spike_path", "batches": args.batches,
                           "spike_every_batches": args.every, "rounds": args.rounds,
                           "networks": {}}
    for network in NETWORKS:
        batches = _batches(network, args.batches, args.days)
        runs: dict[str, list[dict[str, Any]]] = {WAYS[0]: [], WAYS[1]: []}
        for _ in range(args.rounds):
            for way in WAYS:
                runs[way].append(asyncio.run(_replay(batches, way, args.every)))
        ways = {way: _pooled(rounds) for way, rounds in runs.items()}
        before, after = ways["from_scratch"], ways["model_service"]
        speedups: dict[str, Any] = ways
        speedups["speedup_extreme"] = round(
            before["extreme_ms"]["median"] / after["extreme_ms"]["median"], 2)
        speedups["speedup_total"] = round(
            before["total_ms"]["median"] / after["total_ms"]["median"], 2)
        speedups["speedup_forecast_after"] = round(
            before["forecast_after_ms"]["median"] / after["forecast_after_ms"]["median"], 2)
        out["networks"][network] = speedups
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
