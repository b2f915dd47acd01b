"""Durable whole-file writes: concurrent writers of one path, and the files' mode."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from shadowd.store.files import FILE_MODE, write_durably


def test_ten_writers_of_one_path_at_once_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "000042.snap"
    payloads = [bytes([i]) * 200_000 for i in range(10)]
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda data: write_durably(path, data), payloads))
    assert path.read_bytes() in payloads  # one writer's whole file, never a mix
    assert [p.name for p in tmp_path.iterdir()] == ["000042.snap"]  # no temporary left


def test_a_written_file_is_not_world_readable_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_durably(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == FILE_MODE == 0o640
