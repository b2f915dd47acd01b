"""``shadowd agent``: the strict TOML config and the CLI entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowd.agent.config import (
    FrrReaderConfig,
    KafkaPublisherConfig,
    MqttPublisherConfig,
    parse_agent_config,
)
from shadowd.agent.gnmic import GnmicOverlay
from shadowd.agent.kafka import KafkaTransport
from shadowd.agent.mqtt import MqttTransport
from shadowd.cli.agent import build_agent
from shadowd.cli.shadowd import build_parser
from shadowd.core.errors import ConfigError

CONFIG = """
[agent]
source = "pop-fra"
state_file = "{state}"
poll_interval_s = 5
util_deadband = 0.02

[reader]
kind = "frr"
[[reader.routers]]
name = "fra1"
namespace = "fra1"

[publisher]
kind = "kafka"
bootstrap = "127.0.0.1:9092"
"""


async def test_a_full_config_decodes_with_defaults_from_the_contract(tmp_path: Path) -> None:
    config = parse_agent_config(CONFIG.format(state=tmp_path / "pos"))
    assert isinstance(config.reader, FrrReaderConfig)
    assert config.reader.routers[0].namespace == "fra1"
    assert isinstance(config.publisher, KafkaPublisherConfig)
    assert (config.publisher.telemetry_topic, config.publisher.control_topic) == (
        "shadowd.telemetry", "shadowd.control")
    agent = build_agent(config)
    assert isinstance(agent.transport, KafkaTransport)
    assert agent.core.settings.deadband.util == 0.02


async def test_gnmic_counters_wrap_the_reader(tmp_path: Path) -> None:
    text = CONFIG.format(state=tmp_path / "pos") + """
[counters]
bootstrap = "127.0.0.1:9092"
topic = "gnmic"
interfaces = [{ link = "l1", target = "leaf1", interface = "Ethernet1", side = "b" }]
"""
    agent = build_agent(parse_agent_config(text))
    assert isinstance(agent.reader, GnmicOverlay)
    assert agent.reader.mapping[0].side == "b"


async def test_mqtt_topics_default_to_the_contract(tmp_path: Path) -> None:
    config = parse_agent_config(CONFIG.format(state=tmp_path / "pos").replace(
        'kind = "kafka"\nbootstrap = "127.0.0.1:9092"', 'kind = "mqtt"\nhost = "broker"'))
    assert isinstance(config.publisher, MqttPublisherConfig)
    assert config.publisher.telemetry_prefix == "shadowd/telemetry"
    agent = build_agent(config)
    assert isinstance(agent.transport, MqttTransport)
    assert agent.transport.telemetry_topic == "shadowd/telemetry/pop-fra"


@pytest.mark.parametrize(("change", "path"), [
    (("poll_interval_s = 5", "poll_intervals = 5"), "$.agent"),
    (("util_deadband = 0.02", "util_deadband = 1.5"), "$.agent.util_deadband"),
    (('kind = "frr"', 'kind = "snmp"'), "$.reader.kind"),
])
def test_mistakes_name_the_key(change: tuple[str, str], path: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_agent_config(CONFIG.format(state="/tmp/x").replace(*change))
    assert err.value.path == path


def test_the_cli_has_an_agent_command(tmp_path: Path) -> None:
    args = build_parser().parse_args(["agent", "--config", str(tmp_path / "a.toml"), "--once"])
    assert (args.command, args.polls) == ("agent", 1)
