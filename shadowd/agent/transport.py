"""How the agent reaches the brokers: a small interface and the topic names.

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
