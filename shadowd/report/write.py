"""Writing a report: ``DIR/index.html`` (the page) and ``DIR/report.json`` (its data).

Each file is written to a temporary name in ``DIR`` and renamed, so a browser open on the
page never reads half of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import msgspec

from shadowd.report.data import ReportData
from shadowd.report.html import page

PAGE: Final = "index.html"
DATA: Final = "report.json"


def write_report(data: ReportData, out: Path) -> Path:
    """Render ``data`` into ``out`` (made if missing); the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    _replace(out / DATA, msgspec.json.format(msgspec.json.encode(data)))
    target = out / PAGE
    _replace(target, page(data).encode())
    return target


def _replace(path: Path, body: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(body)
    tmp.replace(path)
