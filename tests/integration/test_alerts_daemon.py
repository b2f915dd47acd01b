"""The alerts only the daemon process raises, from their triggers: a torn log tail and a
corrupt snapshot found on start (docs/alerts.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.alerts import assert_alert
from tests.integration.harness import Daemon, poll, write_config
from tests.integration.test_daemon_durability import tear_last_segment

pytestmark = pytest.mark.integration


def test_log_truncated_for_a_torn_tail(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    d = daemons(write_config(tmp_path, days=1, snapshot_every=1_000_000))
    d.start().wait_ready()
    d.wait_seq(5_000)
    d.stop()
    dropped = tear_last_segment(d.state_dir)
    d.start().wait_ready()
    d.stop()
    segment = max((d.state_dir / "log").glob("*.seg")).name
    assert_alert(d.log_records(), "log_truncated", segment=segment, dropped_bytes=dropped,
                 applied=True)


def test_snapshot_skipped_for_a_corrupt_snapshot(daemons: Callable[..., Daemon],
                                                 tmp_path: Path) -> None:
    d = daemons(write_config(tmp_path, days=1, snapshot_every=2_000))
    d.start().wait_ready()
    snapshots = d.state_dir / "snapshots"
    poll("a snapshot", lambda: next(snapshots.glob("*.snap"), None))
    d.stop()
    newest = max(snapshots.glob("*.snap"))
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x20
    newest.write_bytes(data)
    d.start().wait_ready()
    d.stop()
    assert_alert(d.log_records(), "snapshot_skipped", path=str(newest))
