"""The pieces every broker feed shares: backoff, connection alerts, strict source config."""

from __future__ import annotations

import pytest

from shadowd.config import KafkaSourceConfig, MqttSourceConfig, parse_config
from shadowd.core.errors import ConfigError
from shadowd.ingest.source import Backoff, Connection, FeedStats


def test_backoff_grows_to_its_ceiling_with_jitter_and_resets() -> None:
    top = Backoff(0.2, 1.0, rng=lambda: 1.0)
    assert [round(top.next(), 3) for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
    bottom = Backoff(0.2, 1.0, rng=lambda: 0.0)
    assert {bottom.next() for _ in range(5)} == {0.1}  # never hammers: at least half of initial
    top.reset()
    assert top.next() == pytest.approx(0.2)


def test_connection_counts_each_loss_once() -> None:
    stats = FeedStats(kind="kafka")
    conn = Connection("k", stats)
    conn.down(OSError("refused"))  # never connected: lost from the start
    conn.down(OSError("refused"))
    conn.up()
    conn.up()
    conn.down(OSError("reset"))
    assert (stats.lost, stats.connected) == (2, False)


def test_broker_sources_decode_strictly() -> None:
    config = parse_config('[[sources]]\nkind = "kafka"\n[[sources]]\nkind = "mqtt"\n')
    assert isinstance(config.sources[0], KafkaSourceConfig)
    assert isinstance(config.sources[1], MqttSourceConfig)
    assert config.sources[1].topics == ["shadowd/telemetry/+"]
    with pytest.raises(ConfigError) as err:
        parse_config('[[sources]]\nkind = "mqtt"\nport = 0\n')
    assert err.value.path == "$.sources[0].port"
    with pytest.raises(ConfigError, match="unknown field `group`"):
        parse_config('[[sources]]\nkind = "kafka"\ngroup = "x"\n')
