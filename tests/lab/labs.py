"""Shared by the lab tests: who may run them, and a lab that is removed afterwards."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from shadowd.core.igp import Igp
from shadowd.core.state import State
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab import cleanup
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LabSettings
from shadowd.lab.route_maps import RouteMapSync

needs_lab = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/lib/frr/zebra").exists()
                       or shutil.which("vtysh") is None, reason="needs root and FRR"),
]


def nothing_left(lab_id: str) -> dict[str, list[str]]:
    """What of ``lab_id`` still exists; all lists empty when it is gone."""
    return cleanup.leftovers(lab_id)


@asynccontextmanager
async def running_lab(state: State, lab_id: str, igp: Igp = "ospf", scale: float = 1e-3, *,
                      route_maps: RouteMapSync[Any] | None = None) -> AsyncIterator[Lab]:
    """A lab for ``state``, converged to full agreement; removed afterwards, pass or
    fail, and the test fails if anything of it is left."""
    await cleanup.purge(lab_id)
    lab = Lab(LabSettings(lab_id=lab_id, igp=igp, scale=scale), route_maps=route_maps)
    try:
        await lab.up(state)
        done = await lab.converge(next_hop_links(Engine(state)), timeout_s=120.0)
        assert done.converged, done.report.differences[:5]
        yield lab
    finally:
        await lab.down()
        assert nothing_left(lab_id) == {"namespaces": [], "processes": [], "run_dirs": []}
