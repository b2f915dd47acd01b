"""The agent's configuration: one strict, frozen Struct decoded once from TOML.

Unknown keys are rejected and errors name the key's ``$.path``. Example::

    [agent]
    source = "pop-fra"
    state_file = "/var/lib/shadowd-agent/pop-fra.position"
    poll_interval_s = 10
    digest_every_s = 60
    util_deadband = 0.02          # send a link's rates again once they moved > 2 %

    [reader]                      # what production is: "frr", "trace"
    kind = "frr"
    igp = "ospf"                  # costs and adjacencies from: "ospf", "isis"
    [[reader.routers]]
    name = "fra1"
    namespace = "fra1"            # netns for counters; pathspace for vtysh -N

    [publisher]                   # where the telemetry goes: "kafka", "mqtt"
    kind = "kafka"
    bootstrap = "kafka1:9092"

    [counters]                    # optional: link rates from gnmic's Kafka "event" output
    bootstrap = "kafka1:9092"
    topic = "gnmic"
    interfaces = [{ link = "fra1--ams1", target = "fra1", interface = "Ethernet1" }]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from shadowd.agent.transport import (
    CONTROL_TOPIC,
    MQTT_CONTROL_PREFIX,
    MQTT_TELEMETRY_PREFIX,
    TELEMETRY_TOPIC,
)
from shadowd.core.errors import ConfigError

Positive = Annotated[float, msgspec.Meta(gt=0.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Band = Annotated[float, msgspec.Meta(ge=0.0, lt=1.0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
RouterName = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class AgentSection(_Section, frozen=True):
    source: Name
    state_file: str
    poll_interval_s: Positive = 10.0
    digest_every_events: Annotated[int, msgspec.Meta(ge=0)] = 1000
    digest_every_s: NonNegative = 60.0
    util_deadband: Band = 0.0
    demand_deadband: Band = 0.0
    max_batch_events: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 5000
    max_batch_bytes: Annotated[int, msgspec.Meta(ge=1024, le=32 * 1024 * 1024)] = 512 * 1024
    max_pending: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    format: Literal["msgpack", "json"] = "msgpack"


class TraceReaderConfig(_Section, frozen=True, tag="trace", tag_field="kind"):
    """Simulated production: a trace advanced one interval per poll."""

    trace: str = "builtin:geant"
    days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 7
    seed: int = 1


class FrrRouterConfig(_Section, frozen=True):
    name: RouterName
    namespace: str = ""  # network namespace of its interfaces ("" = the agent's own)
    pathspace: str | None = None  # vtysh -N; defaults to the namespace


class FrrReaderConfig(_Section, frozen=True, tag="frr", tag_field="kind"):
    """FRR routers through vtysh JSON, interface counters through netlink."""

    routers: Annotated[list[FrrRouterConfig], msgspec.Meta(min_length=1)]
    igp: Literal["ospf", "isis"] = "ospf"  # where link metrics and adjacencies come from
    default_capacity_bps: Positive = 1e9  # when an interface reports no speed
    vtysh: str = "vtysh"
    timeout_s: Positive = 10.0


ReaderConfig = TraceReaderConfig | FrrReaderConfig


class KafkaPublisherConfig(_Section, frozen=True, tag="kafka", tag_field="kind"):
    bootstrap: str
    telemetry_topic: str = TELEMETRY_TOPIC
    control_topic: str = CONTROL_TOPIC


class MqttPublisherConfig(_Section, frozen=True, tag="mqtt", tag_field="kind"):
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    telemetry_prefix: str = MQTT_TELEMETRY_PREFIX
    control_prefix: str = MQTT_CONTROL_PREFIX


PublisherConfig = KafkaPublisherConfig | MqttPublisherConfig


class GnmicInterface(_Section, frozen=True):
    link: str
    target: str  # gnmic's ``source`` tag (its ":port" optional)
    interface: str
    side: Literal["a", "b"] = "a"  # which end of the link the interface is on


class GnmicCountersConfig(_Section, frozen=True):
    """Link rates from gnmic's Kafka output (``format: event``), over the reader's view."""

    bootstrap: str
    topic: str = "telemetry"
    interfaces: list[GnmicInterface] = []


class LoggingSection(_Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class AgentConfig(_Section, frozen=True):
    agent: AgentSection
    reader: ReaderConfig
    publisher: PublisherConfig
    counters: GnmicCountersConfig | None = None
    logging: LoggingSection = LoggingSection()


def parse_agent_config(text: str, *, file: str = "<config>") -> AgentConfig:
    try:
        return msgspec.toml.decode(text, type=AgentConfig)
    except msgspec.ValidationError as err:
        raise ConfigError(f"{file}: {err}", file=file, path=_error_path(str(err))) from None
    except msgspec.DecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: {err}", file=file) from None


def load_agent_config(path: Path) -> AgentConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror}", file=str(path)) from None
    return parse_agent_config(text, file=str(path))


def _error_path(message: str) -> str:
    marker = " - at `"
    return message.rsplit(marker, 1)[1].rstrip("`") if marker in message else "$"
