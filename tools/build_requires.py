"""Print pyproject.toml's ``[build-system] requires``, one a line, for ``make lock``.

They are locked in ``lock/build.txt``, so the editable install of shadowd is built by a
pinned, hash-checked setuptools rather than whatever is newest on the day.
"""

import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

if __name__ == "__main__":
    requires = tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]
    sys.stdout.write("".join(f"{r}\n" for r in requires))
