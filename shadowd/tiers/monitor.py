"""What a rollout gate watches in production: data-plane probes (ping for latency and
loss; an iperf3 UDP stream, when a probe offers a rate, for loss and throughput) and the
highest link utilisation production's own counters report (through the agent, in the log).

A gate's interval is spent probing, round after round, until it is over; the sample is
the mean latency, the worst loss, the lowest throughput of the rounds and the highest
utilisation seen. Without probes only utilisation is measured (latency, loss and
throughput are then 0: conditions on them always see a perfect network, which the
daemon says when it starts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shadowd.config import ProbeConfig
from shadowd.core.state import State
from shadowd.lab import probe
from shadowd.policy.conditions import Sample


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
