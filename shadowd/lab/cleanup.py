"""Find and remove everything a lab id owns, whether its owner stopped cleanly or not.

What lab ``ID`` owns is recognisable without any record of its own: the namespaces named
``ID-*`` (lab ids carry no ``-``, so ``ID-`` cannot be the start of another lab's
names), every process living in one of them (FRR daemons, probes), and FRR's run
directories ``/var/run/frr/ID-*``. The veths live inside the namespaces and go with them.
So a start after a crash, ``shadowd lab down``, and the tests all use ``purge``. The
lab's record (``RECORD_DIR/ID.msgpack``: its settings, plan and the state it was built
for, so another process can read its fidelity) goes too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from shadowd.lab import daemons
from shadowd.lab.netlink import NETNS_DIR, namespaces, remove_namespace

RECORD_DIR: Final = Path("/run/shadowd/labs")


def record_path(lab_id: str) -> Path:
    return RECORD_DIR / f"{lab_id}.msgpack"


def _inode(ns: str) -> int | None:
    try:
        return (NETNS_DIR / ns).stat().st_ino
    except OSError:
        return None


def processes_by_namespace(names: list[str]) -> dict[str, list[int]]:
    """Pids of the processes living in each of the named namespaces, in one /proc scan."""
    by_inode = {i: n for n, i in ((n, _inode(n)) for n in names) if i is not None}
    found: dict[str, list[int]] = {n: [] for n in names}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = by_inode.get(os.stat(entry / "ns" / "net").st_ino)
        except OSError:
            continue
        if name is not None:
            found[name].append(int(entry.name))
    return found


def processes_in(names: list[str]) -> list[int]:
    """Pids of processes whose network namespace is one of the named ``names``."""
    return [pid for pids in processes_by_namespace(names).values() for pid in pids]


def leftovers(lab_id: str) -> dict[str, list[str]]:
    """What of lab ``lab_id`` exists now: namespaces, processes, run directories."""
    prefix = f"{lab_id}-"
    names = namespaces(prefix)
    dirs = sorted(p.name for p in daemons.FRR_RUN.glob(f"{prefix}*")) \
        if daemons.FRR_RUN.is_dir() else []
    pids = sorted(set(processes_in(names)) | {
        p for d in dirs for p in daemons.pids(d) if daemons.alive(p) and _frr(p)})
    return {"namespaces": names, "processes": [str(p) for p in pids], "run_dirs": dirs}


def _frr(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe").startswith(str(daemons.FRR_LIB))
    except OSError:
        return False


async def purge(lab_id: str) -> dict[str, list[str]]:
    """Stop and remove everything of ``lab_id``; returns what was found."""
    found = leftovers(lab_id)
    await daemons.stop([int(p) for p in found["processes"]])
    for name in found["namespaces"]:
        remove_namespace(name)
    for name in found["run_dirs"]:
        daemons.remove_run_dir(name)
    record_path(lab_id).unlink(missing_ok=True)
    return found


async def purge_namespace(ns: str) -> None:
    """Stop what runs in one namespace and remove it with its run directory."""
    await daemons.stop(processes_in([ns]))
    remove_namespace(ns)
    daemons.remove_run_dir(ns)
