"""How the agent reaches the brokers: a small interface, a fake, and the topic names.

A transport owns its connection and its reconnects (jittered backoff): ``run`` keeps it
connected and hands every control payload addressed to this source to ``on_control``;
``send`` returns once the broker has acknowledged the payload (Kafka acks=all, MQTT
PUBACK), waiting through outages; ``ready`` is set while connected and subscribed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, Protocol

TELEMETRY_TOPIC: Final = "shadowd.telemetry"
CONTROL_TOPIC: Final = "shadowd.control"
MQTT_TELEMETRY_PREFIX: Final = "shadowd/telemetry"
MQTT_CONTROL_PREFIX: Final = "shadowd/control"

OnControl = Callable[[bytes], None]


class Transport(Protocol):
    ready: asyncio.Event

    async def run(self, on_control: OnControl) -> None: ...

    async def send(self, payload: bytes) -> None: ...


class FakeTransport:
    """In memory: ``sent`` collects payloads; ``control`` injects a control payload."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.sent: list[bytes] = []
        self.fail_next = 0  # sends to refuse before accepting again
        self._on_control: OnControl | None = None

    async def run(self, on_control: OnControl) -> None:
        self._on_control = on_control
        self.ready.set()
        await asyncio.Event().wait()

    async def send(self, payload: bytes) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("fake broker unavailable")
        self.sent.append(payload)

    def control(self, payload: bytes) -> None:
        assert self._on_control is not None, "transport not running"
        self._on_control(payload)
