"""``shadowd agent --config PATH``: run the telemetry agent next to production.

``--polls N`` stops after N polls once everything is acknowledged (for tests and
one-shot runs); ``--once`` is ``--polls 1``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from shadowd import logs
from shadowd.agent.config import (
    AgentConfig,
    FrrReaderConfig,
    KafkaPublisherConfig,
    ReaderConfig,
    load_agent_config,
)
from shadowd.agent.core import AgentCore, AgentSettings
from shadowd.agent.position import PositionFile
from shadowd.agent.reader import Reader, TraceReader
from shadowd.agent.run import Agent
from shadowd.agent.transport import Transport
from shadowd.core.diff import Deadband


def configure(agent: argparse.ArgumentParser) -> None:
    """Fill in ``shadowd agent``."""
    agent.add_argument("--config", type=Path, required=True, help="agent TOML configuration")
    agent.add_argument("--polls", type=int, default=None,
                       help="stop after this many polls, once all is acknowledged")
    agent.add_argument("--once", action="store_const", const=1, dest="polls",
                       help="one poll (a snapshot), then stop")
    agent.set_defaults(func=_agent)


def _agent(args: argparse.Namespace) -> int:
    config = load_agent_config(args.config)
    logs.configure(config.logging.level, config.logging.format)
    asyncio.run(_run(config, args.polls))
    return 0


async def _run(config: AgentConfig, polls: int | None) -> None:
    agent = build_agent(config)  # in the loop: the MQTT client binds to it
    try:
        await agent.run(polls=polls)
    finally:
        await agent.reader.close()


def settings_of(config: AgentConfig) -> AgentSettings:
    a = config.agent
    return AgentSettings(
        source=a.source, max_batch_events=a.max_batch_events, max_batch_bytes=a.max_batch_bytes,
        fmt=a.format, digest_every_events=a.digest_every_events, digest_every_s=a.digest_every_s,
        deadband=Deadband(util=a.util_deadband, demand=a.demand_deadband))


def build_agent(config: AgentConfig) -> Agent:
    position = PositionFile(Path(config.agent.state_file), config.agent.source)
    core = AgentCore(settings_of(config), position=position.load())
    reader = build_reader(config.reader)
    if config.counters is not None:
        from shadowd.agent.gnmic import GnmicOverlay, InterfaceMap  # noqa: PLC0415

        c = config.counters
        mapping = [InterfaceMap(link=i.link, target=i.target, interface=i.interface,
                                side=i.side) for i in c.interfaces]
        reader = GnmicOverlay(reader, mapping, bootstrap=c.bootstrap, topic=c.topic)
    return Agent(core, reader, build_transport(config), position=position,
                 poll_interval_s=config.agent.poll_interval_s,
                 max_pending=config.agent.max_pending)


def build_reader(config: ReaderConfig) -> Reader:
    if isinstance(config, FrrReaderConfig):
        from shadowd.agent.frr import FrrReader  # noqa: PLC0415 - pyroute2 only when needed

        return FrrReader.from_config(config)
    return trace_reader(config.trace, days=config.days, seed=config.seed)


def trace_reader(trace: str = "builtin:geant", *, days: int = 7, seed: int = 1) -> TraceReader:
    """``builtin:<topohub key>`` (``builtin:geant``) or the path of a trace file."""
    from shadowd.ingest.builtin import ALIASES, BUILTIN, builtin_batches  # noqa: PLC0415
    from shadowd.ingest.tracefile import read_trace  # noqa: PLC0415
    from shadowd.traffic.trace import TraceSpec  # noqa: PLC0415

    if trace.startswith(BUILTIN):
        key = trace.removeprefix(BUILTIN)
        spec = TraceSpec(topology=ALIASES.get(key, key), days=days, seed=seed, source="trace")
        return TraceReader(iter(builtin_batches(spec)))
    return TraceReader(iter(read_trace(Path(trace))))


def build_transport(config: AgentConfig) -> Transport:
    p, source = config.publisher, config.agent.source
    if isinstance(p, KafkaPublisherConfig):
        from shadowd.agent.kafka import KafkaTransport  # noqa: PLC0415

        return KafkaTransport(p.bootstrap, source, telemetry_topic=p.telemetry_topic,
                              control_topic=p.control_topic)
    from shadowd.agent.mqtt import MqttTransport  # noqa: PLC0415

    return MqttTransport(p.host, p.port, source, telemetry_prefix=p.telemetry_prefix,
                         control_prefix=p.control_prefix)
