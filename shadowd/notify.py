"""systemd's notify protocol (sd_notify), spoken directly over NOTIFY_SOCKET.

READY=1 only once every listener is bound; WATCHDOG=1 on an interval derived from
WATCHDOG_USEC (half of it, as systemd recommends); STOPPING=1 when shutdown begins;
RELOADING=1 (with MONOTONIC_USEC, as ``Type=notify-reload`` wants) then READY=1 around a
reload. Without NOTIFY_SOCKET every call is a no-op, so the daemon runs the same by hand.

Read from the process environment, the variables are then removed from it (as
``sd_notify``'s ``unset_environment``): children (``ip``, vtysh, the FRR daemons, which
speak sd_notify themselves) must not inherit them and talk to the daemon's service manager.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import Final

ENVIRONMENT: Final = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        environ = dict(os.environ if env is None else env)
        self._address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
        self._watchdog_s = _watchdog_interval(environ)
        if env is None:
            for name in ENVIRONMENT:
                os.environ.pop(name, None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def watchdog_interval(self, fallback_s: float) -> float:
        """Seconds between WATCHDOG=1 pings; 0 means do not ping."""
        if self._watchdog_s is not None:
            return self._watchdog_s
        return fallback_s if self.enabled else 0.0

    def ready(self, status: str = "") -> None:
        self.send("READY=1", f"STATUS={status}" if status else "")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def reloading(self) -> None:
        now_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={now_usec}")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def send(self, *fields: str) -> None:
        if self._address is None:
            return
        message = "\n".join(f for f in fields if f).encode()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message, self._address)


def _socket_address(value: str) -> str | bytes | None:
    if not value:
        return None
    if value.startswith("@"):  # abstract namespace socket
        return b"\0" + value[1:].encode()
    return value


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000
