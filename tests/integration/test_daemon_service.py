"""The daemon as operators meet it: config errors, control socket, signals, systemd."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shadowd.control.client import ControlClient, call_sync
from shadowd.control.protocol import SnapshotRequest, StatusRequest, TopologyRequest
from shadowd.control.replies import StatusReply
from tests.alerts import assert_alert
from tests.integration.harness import Daemon, poll, shadowctl_json, write_config

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("section", "complaint"),
    [
        ("[log]\nfsync_windw_ms = 2\n", "unknown field `fsync_windw_ms` - at `$.log`"),
        ("[log]\nfsync_window_ms = \"fast\"\n", "Expected `float`, got `str` - at "
                                                "`$.log.fsync_window_ms`"),
        ("[log]\nsnapshot_every = 0\n", "Expected `int` >= 1 - at `$.log.snapshot_every`"),
        ("[[sources]]\nkind = \"carrier-pigeon\"\n", "Invalid value 'carrier-pigeon' - at "
                                                     "`$.sources[0].kind`"),
        ("[log\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_line_and_nothing_starts(
    tmp_path: Path, section: str, complaint: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(section)
    state_dir, sock = tmp_path / "state", tmp_path / "s.sock"
    out = subprocess.run(
        [sys.executable, "-m", "shadowd.cli", "run", "--config", str(config),
         "--state-dir", str(state_dir), "--socket", str(sock)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert complaint in lines[0]
    assert str(config) in lines[0]
    assert not state_dir.exists()
    assert not sock.exists()


@pytest.mark.adversarial
def test_control_socket_survives_garbage_and_serves_200_clients(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, days=1))
    d.start().wait_ready()
    assert oct(os.stat(d.socket).st_mode & 0o777) == "0o660"

    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(str(d.socket))
        raw.sendall(struct.pack(">I", 10 * 1024 * 1024) + os.urandom(64 * 1024))
        reply = raw.recv(65536)
    assert b"too_large" in reply

    async def many() -> list[StatusReply]:
        async def one() -> StatusReply:
            async with ControlClient(d.socket) as c:
                return await c.call(StatusRequest())
        return await asyncio.gather(*(one() for _ in range(200)))

    replies = asyncio.run(many())
    assert len(replies) == 200
    assert all(r.digest for r in replies)
    topology = call_sync(TopologyRequest(), path=d.socket)
    assert len(topology.routers) == 22
    d.stop()


def test_shadowctl_against_the_daemon(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    d = daemons(write_config(tmp_path, days=1))
    d.start().wait_ready()
    d.wait_seq(1000)

    def ctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shadowd.cli.shadowctl",
                               "--socket", str(d.socket), *args],
                              capture_output=True, text=True, check=False)

    status = ctl("status", "--json")
    assert status.returncode == 0, status.stderr
    assert '"seq"' in status.stdout
    assert '"digest"' in status.stdout
    assert ctl("log", "tail", "-n", "3").returncode == 0
    snap = ctl("snapshot", "--json")
    assert snap.returncode == 0, snap.stderr
    assert ".snap" in snap.stdout
    d.stop()


def test_sighup_reloads_and_refuses_a_broken_file(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    config = write_config(tmp_path, sources=False)
    d = daemons(config)
    d.start().wait_ready()
    config.write_text(config.read_text().replace('level = "debug"', 'level = "info"'))
    d.signal(signal.SIGHUP)
    poll("reload", lambda: True if "config reloaded" in d.log_text() else None)
    config.write_text("[log]\nbogus = 1\n")
    d.signal(signal.SIGHUP)
    poll("refusal", lambda: True if "config reload refused" in d.log_text() else None)
    d.status()  # still serving
    assert d.stop() == 0


def test_a_second_daemon_on_the_same_socket_is_one_clear_line(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    first = daemons(write_config(tmp_path, sources=False))
    first.start().wait_ready()
    out = subprocess.run(
        [sys.executable, "-m", "shadowd.cli", "run", "--config", str(first.config),
         "--state-dir", str(tmp_path / "other-state"), "--socket", str(first.socket)],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("shadowd run: ")
    assert "Traceback" not in out.stderr
    assert first.status().seq == 0  # the first daemon is untouched
    assert first.stop() == 0


def test_a_copied_config_that_lost_its_scenario_library_says_so_at_start(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    config = write_config(elsewhere, sources=False)
    with config.open("a") as out:  # the repo's own setting, in a file copied elsewhere
        out.write('[predict]\nscenarios_dir = "../scenarios"\n')
    d = daemons(config).start()
    d.wait_ready()
    assert_alert(d.log_records(), "scenario_library_missing",
                 path=str(tmp_path / "scenarios"), config=str(config),
                 key="predict.scenarios_dir")
    library = tmp_path / "scenarios"  # put back: found from then on, no restart
    library.mkdir()
    assert shadowctl_json(d, "scenarios", "list")["directory"] == str(library)


@pytest.mark.adversarial
def test_a_yaml_bomb_in_the_library_is_refused_and_the_daemon_answers_on(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    from tests.unit.test_scenario_limits import BOMB  # noqa: PLC0415 - one bomb, one place

    library = tmp_path / "library"
    library.mkdir()
    (library / "bomb.yaml").write_text(BOMB)
    (library / "cut.toml").write_text('name = "cut"\nkind = "link_cut"\nlink = "a--b"\n'
                                      "duration_s = 60\n")
    config = write_config(tmp_path, sources=False)
    with config.open("a") as out:
        out.write(f'[predict]\nscenarios_dir = "{library}"\n')
    d = daemons(config).start()
    d.wait_ready()
    listed = shadowctl_json(d, "scenarios", "list")
    errors = {Path(e["file"]).name: e["reason"] for e in listed["errors"]}
    assert "anchors and aliases" in errors["bomb.yaml"]
    assert "unknown link" in errors["cut.toml"]  # the shadow is empty: read, checked
    assert d.status().seq == 0  # and it answers on


@pytest.mark.adversarial
def test_1100_idle_control_connections_at_ulimit_1024_leave_the_daemon_answering(
    daemons: Callable[..., Daemon]
) -> None:
    d = daemons().start(max_files=1024)
    d.wait_ready()
    idle: list[socket.socket] = []
    try:
        for _ in range(1100):
            peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            peer.connect(str(d.socket))
            idle.append(peer)
        assert d.status().uptime_s > 0  # answered: the longest idle made room
        snapshot = call_sync(SnapshotRequest(), path=d.socket)  # and a file can be opened
        assert snapshot.path
        assert d.proc is not None
        assert d.proc.poll() is None
    finally:
        for peer in idle:
            peer.close()
    assert d.stop() == 0
    assert "too many open files" not in d.log_text().lower()


@pytest.mark.adversarial
def test_started_with_umask_000_the_daemon_leaves_nothing_for_other_users(
    daemons: Callable[..., Daemon]
) -> None:
    d = daemons().start(umask=0)
    d.wait_ready()
    call_sync(SnapshotRequest(), path=d.socket)
    assert d.stop() == 0
    opened = {str(p.relative_to(d.state_dir)): oct(p.stat().st_mode & 0o777)
              for p in [d.state_dir, *d.state_dir.rglob("*")] if p.stat().st_mode & 0o007}
    assert opened == {}
    assert len(list(d.state_dir.rglob("*"))) >= 3  # the log, a segment, a snapshot at least


@pytest.mark.adversarial
def test_ten_snapshots_asked_at_once_all_succeed(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, sources=False)).start()  # all ten at one lsn
    d.wait_ready()
    shadowctl = [sys.executable, "-m", "shadowd.cli.shadowctl", "--socket", str(d.socket),
                 "snapshot"]
    runs = [subprocess.Popen(shadowctl, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(10)]
    results = [(run.wait(timeout=120), run.stderr.read() if run.stderr else "") for run in runs]
    assert results == [(0, "")] * 10
