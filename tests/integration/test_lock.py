"""The lock: every Python package pinned with hashes, and `make` syncing the venv to it.

The running interpreter is the one `make test` synced, so comparing what it has installed
with ``lock/dev.txt`` checks the install step itself; the re-sync test runs the Makefile's
own ``venv`` target on a throwaway venv.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Final

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT: Final = Path(__file__).resolve().parents[2]
LOCK: Final = ROOT / "lock"
UV: Final = ROOT / ".cache" / "uv" / "bin" / "uv"
PIN: Final = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


def pins(lock: str) -> dict[str, str]:
    """``name -> version`` of a lock file; fails on a requirement that is not ``==`` and
    hashed."""
    out: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", (LOCK / lock).read_text()):
        if block.startswith("#") or not block.strip():
            continue
        match = PIN.match(block)
        assert match, f"lock/{lock}: not an exact pin: {block.splitlines()[0]!r}"
        assert "--hash=sha256:" in block, f"lock/{lock}: {match['name']} has no hash"
        out[canonicalize_name(match["name"])] = match["version"]
    return out


def installed() -> dict[str, str]:
    dists: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()
    }
    dists.pop("shadowd")
    return dists


@pytest.mark.parametrize("lock", ["dev.txt", "run.txt", "build.txt", "uv.txt"])
def test_every_requirement_is_an_exact_hashed_pin(lock: str) -> None:
    assert pins(lock)


def test_the_environment_under_test_is_exactly_the_dev_lock() -> None:
    assert installed() == pins("dev.txt")


def test_production_runs_the_versions_that_were_tested() -> None:
    dev, run = pins("dev.txt"), pins("run.txt")
    assert {name: dev.get(name) for name in run} == run
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    direct = {canonicalize_name(Requirement(r).name) for r in pyproject["project"]["dependencies"]}
    assert direct <= run.keys()


def test_the_build_lock_satisfies_the_build_system() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    build = pins("build.txt")
    for text in pyproject["build-system"]["requires"]:
        requirement = Requirement(text)
        assert requirement.specifier.contains(build[canonicalize_name(requirement.name)])


def _make_venv(venv: Path) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "venv", f"VENV={venv}"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    return result.stdout + result.stderr


def _version(venv: Path, package: str) -> str:
    code = f"from importlib.metadata import version; print(version({package!r}))"
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True,
                            text=True, check=True)
    return result.stdout.strip()


@pytest.mark.integration
def test_make_puts_a_venv_changed_by_hand_back_to_the_lock(tmp_path: Path) -> None:
    venv, locked = tmp_path / "venv", pins("dev.txt")["msgspec"]
    _make_venv(venv)
    other = "0.22.0" if locked != "0.22.0" else "0.21.1"
    subprocess.run([str(UV), "pip", "install", "--quiet", "--python", str(venv / "bin/python"),
                    f"msgspec=={other}", "six"], check=True, timeout=600)
    assert _version(venv, "msgspec") == other

    out = _make_venv(venv)

    assert _version(venv, "msgspec") == locked
    assert "- six" in out
    assert f"+ msgspec=={locked}" in out
    assert not re.search(r"^ [+-] ", _make_venv(venv), re.MULTILINE)  # nothing left to do
