"""What the commands operators type in loops import: none of the heavy packages.

Start-up time itself is measured by ``bench.startup`` (no clock in tests); this keeps the
cause from coming back: a module-level import of numpy or asyncio on a command's path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "rustworkx", "scipy", "pyroute2", "structlog", "aiokafka", "aiomqtt",
         "asyncio", "shadowd.engine", "shadowd.lab", "shadowd.report.svg", "importlib.metadata")

PROBE = """
import contextlib, io, json, sys
from {module} import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    with contextlib.suppress(SystemExit):
        main({argv!r})
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def imported(module: str, argv: list[str]) -> list[str]:
    code = PROBE.format(module=module, argv=argv, heavy=HEAVY)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    found: list[str] = json.loads(out.stdout)
    return found


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["lba"]])
def test_shadowd_prints_usage_without_the_heavy_packages(argv: list[str]) -> None:
    assert imported("shadowd.cli.shadowd", argv) == []


@pytest.mark.parametrize("argv", [["--help"], ["status"], ["log", "tail", "-n", "3"]])
def test_shadowctl_asks_without_the_heavy_packages(argv: list[str], tmp_path: Path) -> None:
    socket = str(tmp_path / "nobody.sock")  # the path to an answer imports the same
    assert imported("shadowd.cli.shadowctl", ["--socket", socket, *argv]) == []


def test_a_command_that_needs_them_still_gets_them() -> None:  # the probe sees imports
    found = imported("shadowd.cli.shadowd", ["analyze", "--help"])
    assert {"numpy", "shadowd.engine"} <= set(found)
