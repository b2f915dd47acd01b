"""Whether this machine can run the lab: network namespaces need root (or
CAP_SYS_ADMIN and CAP_NET_ADMIN), the routers need FRR. ``check_available`` says what
is missing as a ``LabUnavailable``, before anything is built."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from shadowd.lab import daemons
from shadowd.lab.plan import LabError

CAP_NET_ADMIN: Final = 12
CAP_SYS_ADMIN: Final = 21


class LabUnavailable(LabError):
    """This machine or user cannot run the lab (no privileges, no FRR)."""


def check_available() -> None:
    """``LabUnavailable`` saying what is missing, if anything is."""
    caps = _effective_caps()
    missing = [n for n, bit in (("CAP_SYS_ADMIN", CAP_SYS_ADMIN), ("CAP_NET_ADMIN", CAP_NET_ADMIN))
               if not caps >> bit & 1]
    if missing:
        raise LabUnavailable(f"the lab needs root (or {' and '.join(missing)}) to create network "
                             f"namespaces; running as uid {os.geteuid()} without them")
    if not (daemons.FRR_LIB / "zebra").exists() or shutil.which("vtysh") is None:
        raise LabUnavailable("the lab needs FRR (zebra, ospfd/isisd, vtysh): apt-get install frr")


def _effective_caps() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0
