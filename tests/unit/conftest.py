"""The unit tier: each test leaves structlog as it found it.

A test that runs a command line in-process (``shadowd backtest`` under ``capsys``) has it
configure structlog onto that test's captured stderr, which is closed when the test ends;
without this, the next test to log anything would depend on which tests ran before it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _structlog_put_back() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
