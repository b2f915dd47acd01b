"""Replay sources from the config: a trace file, or a trace generated from a bundled topology.

``builtin:geant`` is the embedded default: SNDlib GEANT as the PyPI package topohub ships
it. ``builtin:<topohub key>`` (``builtin:sndlib/germany50``) works for any of its networks.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Final

from shadowd.config import ReplaySourceConfig
from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.engine.loads import route
from shadowd.engine.network import Network, demand_matrix
from shadowd.ingest.replay import ReplaySource
from shadowd.ingest.tracefile import read_trace
from shadowd.topology import topohub_topology
from shadowd.traffic.trace import TraceSpec, event_count, generate

BUILTIN: Final = "builtin:"
ALIASES: Final = {"geant": "sndlib/geant", "germany50": "sndlib/germany50"}
# topohub's SNDlib matrices are rescaled: GEANT's sums to ~3e6, which as Mbit/s would be
# 3 Tbit/s over a 2005 research network. Read as 10 kbit/s units it is ~30 Gbit/s in all.
TRACE_DEMAND_UNIT_BPS: Final = 1e4


def link_loads(state: State) -> dict[str, tuple[float, float]]:
    """Each link's routed load, (a->b, b->a) in bit/s: what its counters would show."""
    net = Network.from_state(state)
    load = route(net, demand_matrix(state, net)).load
    return {link: (float(load[2 * k]), float(load[2 * k + 1]))
            for k, link in enumerate(net.link_ids)}


def trace_spec(config: ReplaySourceConfig) -> TraceSpec:
    key = config.trace.removeprefix(BUILTIN)
    return TraceSpec(topology=ALIASES.get(key, key), source=config.name, days=config.days,
                     seed=config.seed, surges_per_week=config.surges_per_week)


def builtin_batches(spec: TraceSpec) -> Iterator[list[AnyEvent]]:
    topology = topohub_topology(spec.topology, source=spec.source, ts=spec.start_ts,
                                demand_unit_bps=TRACE_DEMAND_UNIT_BPS)
    return generate(spec, topology, link_loads)


def replay_source(config: ReplaySourceConfig) -> ReplaySource:
    if config.trace.startswith(BUILTIN):
        spec = trace_spec(config)
        total = event_count(spec, topohub_topology(spec.topology))
        return ReplaySource(config.name, partial(builtin_batches, spec), speed=config.speed,
                            total=total)
    path = Path(config.trace)
    return ReplaySource(config.name, partial(read_trace, path), speed=config.speed)
