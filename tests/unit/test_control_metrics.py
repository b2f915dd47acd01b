"""shadowctl metrics through the fake: the text parses back, --json carries it too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families

from shadowd.cli.shadowctl import main
from shadowd.core.state import fold
from tests.fakes.control import FakeService, serving_in_thread
from tests.unit.samples import SAMPLES

STATE = fold(SAMPLES)


@pytest.fixture
def sock(tmp_path: Path) -> Iterator[str]:
    with structlog.testing.capture_logs(), serving_in_thread(
            tmp_path / "ctl.sock", FakeService(SAMPLES, uptime_s=60.0)) as server:
        yield str(server.path)


def test_metrics_prints_the_text_format(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--socket", sock, "metrics"]) == 0
    samples = {s.name: s.value for f in text_string_to_metric_families(capsys.readouterr().out)
               for s in f.samples if not s.labels}
    assert samples["shadowd_log_seq"] == STATE.lsn
    assert samples["shadowd_routers"] == len(STATE.routers)
    assert samples["shadowd_uptime_seconds"] == 60.0
    assert samples["shadowd_lab_up"] == 0


def test_metrics_json_wraps_the_text(sock: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--socket", sock, "metrics", "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["type"] == "metrics"
    assert "# TYPE shadowd_log_seq gauge\n" in reply["text"]
