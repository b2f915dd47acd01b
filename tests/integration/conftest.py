from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.brokers import (  # noqa: F401  (registered once here: one broker per session)
    kafka_fixture,
    kafka_session_fixture,
    mosquitto_fixture,
    mosquitto_session_fixture,
)
from tests.integration.harness import Daemon


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    """Make daemons on their own state dirs; any still running are killed afterwards."""
    made: list[Daemon] = []

    def make(config: Path | None = None, name: str = "d") -> Daemon:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        daemon = Daemon(directory, config)
        made.append(daemon)
        return daemon

    yield make
    for daemon in made:
        daemon.cleanup()
