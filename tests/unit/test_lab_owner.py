"""One owner per lab id: a second taker is told who holds it; a release lets it in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shadowd.lab.owner import LabOwner
from shadowd.lab.plan import LabError


def test_a_second_owner_of_the_same_lab_is_told_who_holds_it(tmp_path: Path) -> None:
    first, second = LabOwner("t1", tmp_path), LabOwner("t1", tmp_path)
    first.take()
    held = rf"lab 't1' is held by another process \(pid {os.getpid()}\)"
    with pytest.raises(LabError, match=held):
        second.take()
    LabOwner("t2", tmp_path).take()  # another id is another lock
    first.release()
    second.take()
    assert second.held
    second.release()


def test_a_dead_owner_holds_nothing(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from shadowd.lab.owner import LabOwner; "
            f"LabOwner('t1', Path({str(tmp_path)!r})).take(); sys.exit(0)")
    subprocess.run([sys.executable, "-c", code], check=True)  # exits holding it
    LabOwner("t1", tmp_path).take()
