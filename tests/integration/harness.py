"""Run shadowd as a real process and talk to it through its real control socket.

Polls observable state; never sleeps blind. The generous deadlines only stop a hung test
from hanging the suite; nothing asserts on how long anything took.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Self, TypeVar

from shadowd.control.client import call_sync
from shadowd.control.errors import DaemonUnavailable
from shadowd.control.protocol import StatusRequest
from shadowd.control.replies import StatusReply

HANG_GUARD_S: Final = 120.0
T = TypeVar("T")

CONFIG: Final = """
[daemon]
progress_interval_s = 0.5
[log]
fsync_window_ms = {window}
snapshot_every = {snapshot_every}
[control]
socket = "{socket}"
[logging]
format = "json"
level = "debug"
{sources}
"""

REPLAY: Final = """
[[sources]]
kind = "replay"
name = "replay"
trace = "{trace}"
speed = {speed}
days = {days}
"""


def write_config(
    directory: Path, *, trace: str = "builtin:geant", speed: float = 0.0, days: int = 1,
    window_ms: float = 2.0, snapshot_every: int = 200_000, sources: bool = True,
) -> Path:
    source = REPLAY.format(trace=trace, speed=speed, days=days) if sources else ""
    text = CONFIG.format(window=window_ms, snapshot_every=snapshot_every,
                         socket=directory / "shadowd.sock", sources=source)
    path = directory / "shadowd.toml"
    path.write_text(text)
    return path


def poll(what: str, probe: Callable[[], T | None], *, interval: float = 0.05,
         guard_s: float = HANG_GUARD_S) -> T:
    deadline = time.monotonic() + guard_s
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}")


class Daemon:
    """One shadowd process on a state dir of its own."""

    def __init__(self, directory: Path, config: Path | None = None) -> None:
        self.dir = directory
        self.config = config if config is not None else write_config(directory)
        self.state_dir = directory / "state"
        self.socket = directory / "shadowd.sock"
        self.log_path = directory / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "shadowd.cli", "run", "--config", str(self.config),
                "--state-dir", str(self.state_dir), "--socket", str(self.socket)]

    def start(self, *, env: dict[str, str] | None = None, max_files: int | None = None,
              umask: int = -1) -> Self:
        """Start it; ``max_files``: its RLIMIT_NOFILE (``ulimit -n``); ``umask``: the one it
        inherits (-1: the test's)."""
        cmd = self.command()
        if max_files is not None:
            cmd = ["prlimit", f"--nofile={max_files}:{max_files}", *cmd]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, umask=umask,
                                         env={**os.environ, **(env or {})})
        return self

    def wait_ready(self) -> StatusReply:
        return poll("shadowd to answer", self._status_or_none)

    def status(self) -> StatusReply:
        return call_sync(StatusRequest(), path=self.socket)

    def _status_or_none(self) -> StatusReply | None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"shadowd exited {self.proc.returncode}:\n{self.log_text()}")
        try:
            return self.status()
        except DaemonUnavailable:
            return None

    def wait_seq(self, at_least: int) -> StatusReply:
        return poll(f"seq >= {at_least}", lambda: s if (s := self.status()).seq >= at_least
                    else None)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> int:
        self.signal(signal.SIGTERM)
        return self.wait()

    def wait(self) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=HANG_GUARD_S)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
        return records

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shadowd.cli", *args],
                              capture_output=True, text=True, check=False)

    def replay_json(self, until: int | None = None) -> dict[str, Any]:
        extra = ["--until", str(until)] if until is not None else []
        out = self.cli("log", "replay", "--state-dir", str(self.state_dir), "--json", *extra)
        assert out.returncode == 0, out.stderr
        result: dict[str, Any] = json.loads(out.stdout)
        return result

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def shadowctl_json(d: Daemon, *args: str) -> dict[str, Any]:
    """``shadowctl ARGS --json`` against ``d``, run as a user would; its JSON answer."""
    out = subprocess.run([sys.executable, "-m", "shadowd.cli.shadowctl", "--socket",
                          str(d.socket), *args, "--json"], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result
