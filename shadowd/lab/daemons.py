"""FRR daemons per router: started inside the router's namespace with the pathspace
option (``-N``), stopped by the pids they wrote, and found again after a crash.

Each router's run directory is FRR's own pathspace directory, ``/var/run/frr/NS``: it
holds the daemons' vty sockets (which ``vtysh -N NS`` uses), their pid files, logs and
the rendered ``frr.conf``. Daemons listen on no TCP vty port (``-P 0``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Final

from shadowd.core.igp import Igp
from shadowd.shell import run

FRR_RUN: Final = Path("/var/run/frr")
FRR_LIB: Final = Path("/usr/lib/frr")
STOP_GRACE_S: Final = 5.0


def run_dir(ns: str) -> Path:
    return FRR_RUN / ns


def daemons_for(igp: Igp | None, *, bgp: bool = False) -> tuple[str, ...]:
    """zebra, the IGP's daemon (none for an external peer), and bgpd if asked."""
    igp_daemon = () if igp is None else ("isisd" if igp == "isis" else "ospfd",)
    return ("zebra", *igp_daemon, *(("bgpd",) if bgp else ()))


def write_config(ns: str, text: str) -> Path:
    """Write ``frr.conf`` into the router's run directory, owned by FRR's user."""
    directory = run_dir(ns)
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "frr.conf"
    conf.write_text(text)
    for path in (directory, conf):
        with contextlib.suppress(LookupError, PermissionError):
            shutil.chown(path, "frr", "frr")
    return conf


async def start(ns: str, igp: Igp | None, *, bgp: bool = False) -> None:
    """Start zebra, then the IGP daemon, then bgpd if asked, in ``ns``; each returns once
    it is up (``-d``)."""
    await start_daemons(ns, daemons_for(igp, bgp=bgp))


async def start_daemons(ns: str, names: tuple[str, ...]) -> None:
    """Start ``names`` in order in ``ns``, each reading the run directory's ``frr.conf``."""
    directory = run_dir(ns)
    for daemon in names:
        await run(["ip", "netns", "exec", ns, str(FRR_LIB / daemon), "-d", "-N", ns,
                   "-f", str(directory / "frr.conf"), "-i", str(directory / f"{daemon}.pid"),
                   "-P", "0", "--log", f"file:{directory / daemon}.log"])


def pid_of(ns: str, daemon: str) -> int | None:
    """The pid ``daemon`` of ``ns`` wrote, if it did and it still runs."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((run_dir(ns) / f"{daemon}.pid").read_text().strip())
        return pid if alive(pid) else None
    return None


def pids(ns: str) -> list[int]:
    """The pids the daemons of ``ns`` wrote (stale files are filtered by ``alive``)."""
    found = []
    for pid_file in run_dir(ns).glob("*.pid"):
        with contextlib.suppress(OSError, ValueError):
            found.append(int(pid_file.read_text().strip()))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def stop(pid_list: list[int], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM, wait for them to exit, SIGKILL whatever is left after ``grace_s``."""
    for pid in pid_list:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    lingering = [p for p, done in zip(pid_list, await _exits(pid_list, grace_s), strict=True)
                 if not done]
    for pid in lingering:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    await _exits(lingering, None)


async def _exits(pid_list: list[int], timeout_s: float | None) -> list[bool]:
    """Wait until each process has exited (its pidfd turns readable); which did."""
    return list(await asyncio.gather(*(_exit(p, timeout_s) for p in pid_list)))


async def _exit(pid: int, timeout_s: float | None) -> bool:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, readable)
    try:
        async with asyncio.timeout(timeout_s):
            await gone
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def remove_run_dir(ns: str) -> None:
    shutil.rmtree(run_dir(ns), ignore_errors=True)


def rss_bytes(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of ``pid`` in bytes, from ``/proc/PID/smaps_rollup``; (0, 0) if gone."""
    rss = pss = 0
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            value = int(rest.split()[0]) * 1024
            rss, pss = (value, pss) if key == "Rss" else (rss, value)
    return rss, pss
