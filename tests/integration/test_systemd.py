"""shadowd as systemd runs it: the unit files verify, and the daemon speaks sd_notify.

The notify harness plays systemd's part: it binds the AF_UNIX datagram socket that
NOTIFY_SOCKET names, passes WATCHDOG_USEC, and reads what the daemon sends, with the
sender's credentials (SO_PASSCRED), as systemd does. Nothing asserts on how long
anything took beyond loose bounds: the machine is shared and noisy.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shadowd.control.client import call_sync
from shadowd.control.protocol import StatusRequest
from shadowd.lab import cleanup
from tests.integration.harness import HANG_GUARD_S, Daemon, write_config

pytestmark = pytest.mark.integration

UNITS_DIR = Path(__file__).parents[2] / "systemd"
UNITS = sorted(p.name for p in UNITS_DIR.glob("*.service"))
INSTALLED_BINARY = "/opt/shadowd/bin/shadowd"
WATCHDOG_USEC = 400_000
_UCRED = struct.Struct("3i")  # pid, uid, gid


# --- the unit files ----------------------------------------------------------------------

def _analyze() -> str:
    """systemd-analyze, or skip: verify loads units through systemd's own parser and needs
    nothing running (no PID-1 systemd, no D-Bus); only a machine without the `systemd`
    package (`make sysdeps` installs it) lacks the tool."""
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`)")
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze cannot run here: {probe.stderr.strip()}")
    return path


def _installable_copy(unit: str, directory: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's entry point: verify checks the
    binary exists and is executable, and /opt/shadowd (the documented install) is not
    there in a test run. Nothing else is changed."""
    text = (UNITS_DIR / unit).read_text()
    assert INSTALLED_BINARY in text, f"{unit} should start {INSTALLED_BINARY}"
    local = Path(sys.executable).with_name("shadowd")
    assert local.exists(), f"the console script {local} (pip install -e .) is missing"
    copy = directory / unit
    copy.write_text(text.replace(INSTALLED_BINARY, str(local)))
    return copy


def _verify(analyze: str, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, check=False, cwd=unit.parent)


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies(unit: str, tmp_path: Path) -> None:
    result = _verify(_analyze(), _installable_copy(unit, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # warnings too: unknown keys, bad values


def test_verify_is_not_vacuous(tmp_path: Path) -> None:
    """A typo and a bad value in a copy of the main unit are caught."""
    analyze = _analyze()
    copy = _installable_copy("shadowd.service", tmp_path)
    copy.write_text(copy.read_text().replace("WatchdogSec=30s", "WatchdogSecs=30s")
                    .replace("ProtectSystem=strict", "ProtectSystem=sometimes"))
    complaints = _verify(analyze, copy).stderr
    assert "WatchdogSecs" in complaints
    assert "protect system value" in complaints


def test_units_agree_on_what_the_daemon_expects() -> None:
    """The directories the units create are the paths they pass, and the default config's."""
    config = (UNITS_DIR.parent / "config" / "shadowd.toml").read_text()
    assert 'socket = "/run/shadowd/shadowd.sock"' in config
    assert 'state_dir = "/var/lib/shadowd"' in config
    for unit in ("shadowd.service", "shadowd-unprivileged.service"):
        text = (UNITS_DIR / unit).read_text()
        for line in ("Type=notify", "NotifyAccess=main", "StateDirectory=shadowd",
                     "RuntimeDirectory=shadowd", "ConfigurationDirectory=shadowd",
                     "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"):
            assert line in text.splitlines(), f"{unit}: {line}"
        assert "--config /etc/shadowd/shadowd.toml" in text
        assert "--state-dir /var/lib/shadowd --socket /run/shadowd/shadowd.sock" in text
    assert "CapabilityBoundingSet=\n" in (UNITS_DIR / "shadowd-unprivileged.service").read_text()


def test_sysusers_creates_the_group_and_user() -> None:
    tool = shutil.which("systemd-sysusers")
    if tool is None:
        pytest.skip("systemd-sysusers is not installed (Debian package `systemd`)")
    out = subprocess.run([tool, "--dry-run", str(UNITS_DIR / "shadowd.sysusers")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "Failed" not in out.stderr, out.stderr
    exists = subprocess.run(["getent", "passwd", "shadowd"], capture_output=True,
                            check=False).returncode == 0
    assert exists or "Creating user 'shadowd'" in out.stderr, out.stderr


def bounding_set(unit: str) -> list[str]:
    """The capabilities a unit's CapabilityBoundingSet= lines add up to."""
    caps: list[str] = []
    for line in (UNITS_DIR / unit).read_text().splitlines():
        if line.startswith("CapabilityBoundingSet="):
            caps += line.partition("=")[2].split()
    return caps


# --- the notify protocol -------------------------------------------------------------------

@dataclass(frozen=True)
class Notification:
    fields: dict[str, str]
    pid: int
    at: float  # monotonic time of arrival


class NotifySocket:
    """What systemd would receive on NOTIFY_SOCKET, in order, with the sender's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.received: list[Notification] = []

    def close(self) -> None:
        self.sock.close()

    def next(self, timeout: float = HANG_GUARD_S) -> Notification:
        self.sock.settimeout(timeout)
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        pid = next(_UCRED.unpack(d[:_UCRED.size])[0] for level, kind, d in ancillary
                   if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS))
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
        note = Notification(fields, pid, time.monotonic())
        self.received.append(note)
        return note

    def until(self, field: str) -> list[Notification]:
        """Everything up to and including the first message carrying ``field``."""
        seen = []
        while True:
            note = self.next()
            seen.append(note)
            if field in note.fields:
                return seen

    def during(self, seconds: float) -> list[Notification]:
        end = time.monotonic() + seconds
        seen = []
        while (left := end - time.monotonic()) > 0:
            try:
                seen.append(self.next(timeout=left))
            except TimeoutError:
                break
        return seen


def _kinds(notes: list[Notification]) -> set[str]:
    return {key for note in notes for key in note.fields}


def _model_only(tmp_path: Path) -> Path:
    config = write_config(tmp_path, speed=3600.0, days=1)  # a replay source, paced
    config.write_text(config.read_text() + "\n[lab]\nenabled = false\n")
    return config


def test_notify_ready_watchdog_reload_stop(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        d = daemons(_model_only(tmp_path))
        d.start(env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": str(WATCHDOG_USEC)})
        assert d.proc is not None
        _ready_means_ready(notify, d)
        _watchdog_on_schedule(notify)
        _sighup_reloads(notify, d)
        _sigterm_stops(notify, d)
        assert {n.pid for n in notify.received} == {d.proc.pid}  # NotifyAccess=main suffices
    finally:
        notify.close()


def _ready_means_ready(notify: NotifySocket, d: Daemon) -> None:
    before = notify.until("READY")
    assert _kinds(before[:-1]) <= {"WATCHDOG", "STATUS"}, before
    # no polling: the moment READY=1 arrives the control socket must already answer
    assert call_sync(StatusRequest(), path=d.socket).digest
    ctl = subprocess.run([sys.executable, "-m", "shadowd.cli.shadowctl", "--socket",
                          str(d.socket), "status", "--json"],
                         capture_output=True, text=True, check=False)
    assert ctl.returncode == 0, ctl.stderr
    assert '"digest"' in ctl.stdout


def _watchdog_on_schedule(notify: NotifySocket) -> None:
    """WATCHDOG=1 every WATCHDOG_USEC/2 (0.2 s): over 3 s about 15 pings; the bounds are
    loose (a loaded machine delays some), the median gap must stay inside the timeout."""
    window = 3.0
    pings = [n for n in notify.during(window) if n.fields.get("WATCHDOG") == "1"]
    expected = window / (WATCHDOG_USEC / 2e6)
    assert expected / 3 <= len(pings) <= expected * 2, [n.at for n in pings]
    gaps = [b.at - a.at for a, b in itertools.pairwise(pings)]
    assert 0.05 < statistics.median(gaps) < WATCHDOG_USEC / 1e6, gaps


def _sighup_reloads(notify: NotifySocket, d: Daemon) -> None:
    d.signal(signal.SIGHUP)
    reloading = notify.until("RELOADING")[-1]
    assert reloading.fields["RELOADING"] == "1"
    now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert 0 < int(reloading.fields["MONOTONIC_USEC"]) <= now_usec
    after = notify.until("READY")
    assert _kinds(after[:-1]) <= {"WATCHDOG", "STATUS"}, after
    assert d.status().digest  # still serving
    d.config.write_bytes(b"\xff\xfe[log\n")  # not even text: refused, and READY=1 again
    d.signal(signal.SIGHUP)
    notify.until("RELOADING")
    after = notify.until("READY")
    assert _kinds(after[:-1]) <= {"WATCHDOG", "STATUS"}, after
    assert "not UTF-8 text (byte 0)" in d.log_text()
    assert d.status().digest


def _sigterm_stops(notify: NotifySocket, d: Daemon) -> None:
    d.signal(signal.SIGTERM)
    before = notify.until("STOPPING")
    assert _kinds(before[:-1]) <= {"WATCHDOG", "STATUS"}, before
    assert d.wait() == 0
    assert not d.socket.exists()  # the socket went with the daemon


def test_children_do_not_inherit_the_notify_socket(tmp_path: Path) -> None:
    """FRR's daemons speak sd_notify too; started by shadowd they must not reach systemd."""
    script = ("import os, subprocess; from shadowd.notify import Notifier; n = Notifier(); "
              "print(n.enabled, n.watchdog_interval(0.0), "
              "subprocess.run(['env'], capture_output=True, text=True).stdout.count('NOTIFY'), "
              "'WATCHDOG_USEC' in os.environ)")
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "400000"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["True", "0.2", "0", "False"]


# --- the capabilities ---------------------------------------------------------------------

def _lab_possible() -> bool:
    return (os.geteuid() == 0 and Path("/usr/lib/frr/zebra").exists()
            and shutil.which("vtysh") is not None and shutil.which("setpriv") is not None)


@pytest.mark.lab
@pytest.mark.skipif(not _lab_possible(), reason="needs root, FRR and setpriv")
@pytest.mark.parametrize("igp", ["ospf", "isis"])
def test_the_lab_runs_within_the_units_bounding_set(igp: str) -> None:
    """The lab comes up, converges and goes down without leftovers with exactly the
    capabilities shadowd.service allows (root with a bounding set, as systemd starts it)."""
    caps = bounding_set("shadowd.service")
    assert caps
    assert all(re.fullmatch(r"CAP_[A-Z_]+", c) for c in caps), caps
    bounded = ["setpriv", "--bounding-set", "-all," + ",".join(f"+{c[4:].lower()}" for c in caps),
               "--inh-caps=-all", "--", sys.executable, "-m", "shadowd.cli", "lab"]
    square = Path(__file__).parents[1] / "data" / "topologies" / "square.toml"
    lab_id = f"sysd{igp[:2]}"

    def lab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*bounded, *args, "--lab-id", lab_id], capture_output=True,
                              text=True, timeout=300, check=False)

    try:
        up = lab("up", "--topology", str(square), "--igp", igp, "--json")
        assert up.returncode == 0, up.stderr
        assert '"converged": true' in up.stdout
        down = lab("down", "--json")
        assert down.returncode == 0, down.stderr
        assert cleanup.leftovers(lab_id) == {"namespaces": [], "processes": [], "run_dirs": []}
    finally:  # with every privilege: a failed run must not leak its routers
        subprocess.run([sys.executable, "-m", "shadowd.cli", "lab", "down", "--lab-id", lab_id],
                       capture_output=True, timeout=300, check=False)
