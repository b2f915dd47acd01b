"""GET /metrics from a real daemon: bound before READY, the shadow's figures as it
replays, the worst case after a scrape, shadowctl metrics alike; bad listens refused."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Daemon, poll, write_config

pytestmark = pytest.mark.integration

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _config(directory: Path, listen: str, extra: str = "") -> Path:
    path = write_config(directory, speed=3600.0, days=2)
    with path.open("a") as out:
        out.write(f'\n[metrics]\nlisten = "{listen}"\nworst_case_every_s = 0.5\n{extra}')
    return path


def _scrape(port: int) -> tuple[str, Figures]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    return text, _figures(text)


def _figures(text: str) -> Figures:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def test_a_real_daemon_serves_its_metrics(daemons: Callable[..., Daemon],
                                          tmp_path: Path) -> None:
    port = _free_port()
    d = daemons(_config(tmp_path, f"127.0.0.1:{port}"))
    d.start()
    poll("shadowd ready", lambda: True if any(
        r.get("event") == "shadowd ready" for r in d.log_records()) else None)
    _, first = _scrape(port)  # no retry: bound before READY
    assert first["shadowd_routers", ()] == 22  # GEANT
    d.wait_seq(int(first["shadowd_log_seq", ()]) + 100)
    _, later = _scrape(port)
    assert later["shadowd_log_seq", ()] > first["shadowd_log_seq", ()]
    assert later["shadowd_log_durable_seq", ()] <= later["shadowd_log_seq", ()]
    assert later["shadowd_events_total", (("source", "replay"),)] > 0
    assert later["shadowd_source_seq", (("source", "replay"),)] > 0
    assert sum(v for (name, _), v in later.items() if name == "shadowd_links") == 36
    utils = [k for k in later if k[0] == "shadowd_link_utilization"]
    assert 0 < len(utils) <= 20
    assert later["shadowd_uptime_seconds", ()] > 0
    wc = poll("a worst case after a scrape", lambda: _scrape(port)[1].get(
        ("shadowd_worst_case_utilization", (("failures", "links"),))))
    assert wc > 0

    out = subprocess.run([sys.executable, "-m", "shadowd.cli.shadowctl", "--socket",
                          str(d.socket), "metrics"], capture_output=True, text=True, check=True)
    assert _figures(out.stdout)["shadowd_routers", ()] == 22

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10):
        pass
    assert d.stop() == 0
    with socket.socket() as s, pytest.raises(ConnectionRefusedError):
        s.connect(("127.0.0.1", port))


def test_a_404_from_the_daemon(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    port = _free_port()
    d = daemons(_config(tmp_path, f"127.0.0.1:{port}"))
    d.start().wait_ready()
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
    assert caught.value.code == 404


def _run(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shadowd.cli", "run", "--config", str(config),
         "--state-dir", str(tmp_path / "state"), "--socket", str(tmp_path / "s.sock")],
        capture_output=True, text=True, check=False, timeout=120)


def test_a_remote_listen_is_refused_naming_the_key(tmp_path: Path) -> None:
    out = _run(_config(tmp_path, "0.0.0.0:9469"), tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "$.metrics.listen" in line
    assert "allow_remote" in line


def test_a_taken_port_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = _run(_config(tmp_path, f"127.0.0.1:{port}"), tmp_path)
    assert out.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in out.stderr
    assert "[metrics] listen" in out.stderr
