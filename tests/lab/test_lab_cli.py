"""``shadowd lab`` as an operator uses it: two labs side by side, found again by id from
another process, removed one at a time; a bring-up killed half-way is cleaned up by the
next; and a user without privileges gets told why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from shadowd.lab import cleanup, daemons
from shadowd.lab.owner import LabOwner
from tests.lab.labs import needs_lab, nothing_left

pytestmark = needs_lab

SQUARE = str(Path(__file__).parent.parent / "data" / "topologies" / "square.toml")
IDS = ("cli1", "cli2", "cli3")
DEADLINE_S = 60.0


def shadowd(*args: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "shadowd.cli", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def doc(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.fixture(autouse=True)
def clean() -> Any:
    for lab_id in IDS:
        subprocess.run([sys.executable, "-m", "shadowd.cli", "lab", "down", "--lab-id", lab_id],
                       capture_output=True, check=False)
    yield
    for lab_id in IDS:
        shadowd("lab", "down", "--lab-id", lab_id)
        assert nothing_left(lab_id) == {"namespaces": [], "processes": [], "run_dirs": []}


def test_two_labs_coexist_and_are_found_again_by_id() -> None:
    first = doc(shadowd("lab", "up", "--topology", SQUARE, "--lab-id", "cli1", "--json"))
    second = doc(shadowd("lab", "up", "--topology", SQUARE, "--lab-id", "cli2", "--igp",
                         "isis", "--json"))
    assert first["converged"]
    assert second["converged"]
    assert (first["agreement"], second["agreement"]) == (1.0, 1.0)
    assert cleanup.leftovers("cli1")["namespaces"] == [f"cli1-r{i}" for i in range(1, 5)]
    routes = subprocess.run(["vtysh", "-N", "cli2-r1", "-c", "show ip route json"],
                            capture_output=True, text=True, check=True).stdout
    assert any(r[0]["protocol"] == "isis" for r in json.loads(routes).values())

    fidelity = doc(shadowd("lab", "fidelity", "--lab-id", "cli1", "--json"))
    assert (fidelity["routes"], fidelity["agreement"]) == (12, 1.0)
    doc(shadowd("lab", "down", "--lab-id", "cli1", "--json"))
    assert nothing_left("cli1")["namespaces"] == []
    assert doc(shadowd("lab", "fidelity", "--lab-id", "cli2", "--json"))["agreement"] == 1.0
    gone = shadowd("lab", "fidelity", "--lab-id", "cli1")
    assert gone.returncode == 2
    assert "no lab 'cli1' is up" in gone.stderr


def test_a_bring_up_killed_half_way_is_cleaned_up_by_the_next() -> None:
    cmd = [sys.executable, "-m", "shadowd.cli", "lab", "up", "--topology",
           "topohub:sndlib/geant", "--lab-id", "cli3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + DEADLINE_S
    while not any(daemons.pids(ns) for ns in cleanup.leftovers("cli3")["run_dirs"]):
        assert time.monotonic() < deadline, "the bring-up never started a daemon"
        assert proc.poll() is None, "the bring-up ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stale = cleanup.leftovers("cli3")
    assert stale["namespaces"]
    assert stale["processes"]

    again = doc(shadowd("lab", "up", "--topology", SQUARE, "--lab-id", "cli3", "--json"))
    assert again["removed_leftovers"] == len(stale["namespaces"])
    assert again["agreement"] == 1.0
    now = cleanup.leftovers("cli3")
    assert now["namespaces"] == [f"cli3-r{i}" for i in range(1, 5)]  # GEANT's are gone
    assert not set(now["processes"]) & set(stale["processes"])


@pytest.mark.skipif(not os.access(sys.executable, os.X_OK), reason="python not executable")
def test_without_privileges_the_lab_says_why() -> None:
    result = shadowd("lab", "up", "--topology", SQUARE, "--lab-id", "cli1", user=65534)
    if "Permission denied" in result.stderr or "No module named" in result.stderr:
        pytest.skip("the checkout is not readable by nobody")
    assert result.returncode == 2
    assert "the lab needs root" in result.stderr
    assert nothing_left("cli1")["namespaces"] == []


def test_a_lab_held_by_another_process_is_refused_clearly_and_left_alone() -> None:
    assert doc(shadowd("lab", "up", "--topology", SQUARE, "--lab-id", "cli3",
                       "--json"))["converged"]
    holder = LabOwner("cli3")
    holder.take()  # as a daemon or another `lab up` building cli3 would
    try:
        second = shadowd("lab", "up", "--topology", SQUARE, "--lab-id", "cli3")
    finally:
        holder.release()
    assert second.returncode == 2
    assert f"lab 'cli3' is held by another process (pid {os.getpid()})" in second.stderr
    assert "Traceback" not in second.stderr
    assert cleanup.leftovers("cli3")["namespaces"] == [f"cli3-r{i}" for i in range(1, 5)]
