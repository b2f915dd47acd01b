"""What a rollout gate watches.

``ProbeMonitor``, in production: data-plane probes (ping for latency and
loss; an iperf3 UDP stream, when a probe offers a rate, for loss and throughput) and the
highest link utilisation production's own counters report (through the agent, in the log).

A gate's interval is spent probing, round after round, until it is over; the sample is
the mean latency, the worst loss, the lowest throughput of the rounds and the highest
utilisation seen. Without probes only utilisation is measured (latency, loss and
throughput are then 0: conditions on them always see a perfect network, which the
daemon says when it starts).

``ShadowMonitor``, for the dry-run driver: production never changes in a dry run, so there
is nothing there to measure; each gate measures instead what the shadow's model predicts
production would show with every change the dry run holds applied (the rollout's policy
on the routers it has reached so far, and whatever earlier dry runs left applied), under
the live telemetry's traffic, scaled by the feedback's calibration. It predicts once per
``round_s`` over the interval (the traffic moves meanwhile); the sample is summed up as
the probes' is. A change that no longer fits the shadow (its link is gone) gives a sample
of NaN: neither success nor failure, so the rollout holds for the operator.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

from shadowd import logs
from shadowd.config import ProbeConfig
from shadowd.core.conditions import Sample
from shadowd.core.events import PolicyChange
from shadowd.core.state import State
from shadowd.lab import probe
from shadowd.policy.effect import InvalidChange, gate_sample

log = logs.get_logger()


class Monitor(Protocol):
    async def measure(self, seconds: float) -> Sample:
        """Watch production for ``seconds`` and say what it showed."""
        ...


def observed_max_util(state: State) -> float:
    """The highest utilisation production's counters report on any up link direction."""
    return max((max(lk.ab_bps, lk.ba_bps) / lk.capacity_bps
                for lk in state.links.values() if lk.up), default=0.0)


@dataclass(slots=True)
class _Rounds:
    latencies: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    throughputs: list[float] = field(default_factory=list)
    utils: list[float] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        self.latencies.append(sample.latency_ms)
        self.losses.append(sample.loss_pct)
        self.throughputs.append(sample.throughput_bps)
        self.utils.append(sample.max_util)

    def sample(self) -> Sample:
        return Sample(
            latency_ms=sum(self.latencies) / len(self.latencies) if self.latencies else 0.0,
            loss_pct=max(self.losses, default=0.0),
            throughput_bps=min(self.throughputs, default=0.0),
            max_util=max(self.utils, default=0.0))


class ProbeMonitor:
    def __init__(self, probes: Sequence[ProbeConfig], utilisation: Callable[[], float]) -> None:
        self.probes = list(probes)
        self._utilisation = utilisation

    async def measure(self, seconds: float) -> Sample:
        end = time.monotonic() + seconds
        rounds = _Rounds()
        while True:
            rounds.utils.append(self._utilisation())
            for config in self.probes:
                await self._probe(config, rounds)
            left = end - time.monotonic()
            if left <= 0:
                return rounds.sample()
            if not self.probes:
                await asyncio.sleep(min(left, 1.0))  # only the log's counters to watch

    @staticmethod
    async def _probe(config: ProbeConfig, rounds: _Rounds) -> None:
        if config.offered_bps > 0:
            lost = await probe.loss(config.src_namespace, config.dst_namespace, config.dst,
                                    offered_bps=config.offered_bps, seconds=config.seconds)
            rounds.losses.append(lost.loss_pct)
            rounds.throughputs.append(lost.received_bps)
        rtt = await probe.rtt(config.src_namespace, config.dst, count=10, interval_s=0.1)
        if rtt.avg_ms is not None:
            rounds.latencies.append(rtt.avg_ms)
        if config.offered_bps <= 0:
            rounds.losses.append(rtt.loss_pct)


UNKNOWN: Final = Sample(latency_ms=math.nan, throughput_bps=math.nan, loss_pct=math.nan,
                        max_util=math.nan)


class ShadowMonitor:
    def __init__(self, state: Callable[[], State], changes: Callable[[], list[PolicyChange]],
                 *, round_s: float = 1.0) -> None:
        self._state, self._changes, self.round_s = state, changes, round_s

    async def measure(self, seconds: float) -> Sample:
        end = time.monotonic() + seconds
        rounds = _Rounds()
        while True:
            try:
                rounds.add(await self.predict())
            except InvalidChange as err:
                log.warning("a dry-run gate cannot predict: a change no longer fits the "
                            "shadow", error=str(err))
                return UNKNOWN
            left = end - time.monotonic()
            if left <= 0:
                return rounds.sample()
            await asyncio.sleep(min(left, self.round_s))

    async def predict(self, extra: Sequence[PolicyChange] = ()) -> Sample:
        """One round: what a gate would measure now, with ``extra`` changes applied on
        top of those in effect. Raises ``InvalidChange`` for a change that does not fit."""
        fork = self._state().fork()  # on the loop: the live state moves between awaits
        changes = [*self._changes(), *extra]
        return await asyncio.to_thread(gate_sample, fork, changes, fork.demand_scale)
