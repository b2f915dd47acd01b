"""The MQTT transport: one aiomqtt client, QoS 1 both ways, reconnecting with backoff.

Telemetry is published on ``<telemetry_prefix>/<source>``; control requests arrive on
``<control_prefix>/<source>``. ``send`` returns on PUBACK.
"""

from __future__ import annotations

import asyncio

import aiomqtt

from shadowd import logs
from shadowd.agent.backoff import Backoff
from shadowd.agent.transport import MQTT_CONTROL_PREFIX, MQTT_TELEMETRY_PREFIX, OnControl


class MqttTransport:
    def __init__(self, host: str, port: int, source: str, *,
                 telemetry_prefix: str = MQTT_TELEMETRY_PREFIX,
                 control_prefix: str = MQTT_CONTROL_PREFIX,
                 backoff: Backoff | None = None) -> None:
        self.source = source
        self.telemetry_topic = f"{telemetry_prefix}/{source}"
        self.control_topic = f"{control_prefix}/{source}"
        self.ready = asyncio.Event()
        self._client = aiomqtt.Client(host, port, identifier=f"shadowd-agent-{source}",
                                      timeout=10.0)
        self._backoff = backoff or Backoff()
        self._log = logs.get_logger(component="agent.mqtt", source=source)

    async def run(self, on_control: OnControl) -> None:
        while True:
            try:
                async with self._client as client:
                    await client.subscribe(self.control_topic, qos=1)
                    self._backoff.reset()
                    self.ready.set()
                    self._log.info("mqtt connected")
                    async for message in client.messages:
                        if isinstance(message.payload, bytes | bytearray):
                            on_control(bytes(message.payload))
            except aiomqtt.MqttError as err:
                self.ready.clear()
                _never_swallow_cancel(err)
                delay = self._backoff.next_delay()
                self._log.warning("mqtt unavailable", error=repr(err), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)

    async def send(self, payload: bytes) -> None:
        while True:
            await self.ready.wait()
            try:
                await self._client.publish(self.telemetry_topic, payload, qos=1, timeout=10.0)
                return
            except aiomqtt.MqttError as err:  # the run loop reconnects if the link is gone
                _never_swallow_cancel(err)
                delay = self._backoff.next_delay()
                self._log.warning("mqtt publish failed", error=repr(err),
                                  retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)


def _never_swallow_cancel(err: aiomqtt.MqttError) -> None:
    """aiomqtt can turn a cancellation that lands mid-operation into an ``MqttError``;
    retrying then would keep a cancelled task alive forever, so re-raise it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from err
