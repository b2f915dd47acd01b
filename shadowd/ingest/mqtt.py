"""The MQTT feed: a persistent session (clean_session=False) subscribed at QoS 1.

Each message is acknowledged (PUBACK) only once the log holds what it carried, in the
order received, by an acker task. aiomqtt 2.x has no API for that: it leaves paho's
automatic acknowledgement on. paho-mqtt (>= 2.0) has one (``manual_ack_set``, ``ack``),
reached here through aiomqtt's ``Client._client`` (see aiomqtt issue #345 / PR #346), and
switched on before connecting, so that messages the broker redelivers on reconnect are
not acknowledged early either. A message not acknowledged when the connection drops is
redelivered by the broker; duplicates are dropped by seq.

Unacknowledged messages also bound what the broker sends (its in-flight window, 20 by
default in mosquitto), so backpressure needs no queue of ours: while the log is behind,
the feed stops reading, stops acknowledging, and the broker holds the rest. Note: a
broker queues at most ``max_queued_messages`` per session (mosquitto: 1000) and drops
the excess; the resync protocol recovers from that, but size it for bursts.
"""

from __future__ import annotations

import asyncio

import aiomqtt

from shadowd import logs
from shadowd.config import MqttSourceConfig
from shadowd.core.wire import encode_message
from shadowd.ingest.credentials import mqtt_options
from shadowd.ingest.differential import Differential, Outcome
from shadowd.ingest.source import Backoff, Connection, FeedStats
from shadowd.ingest.trust import topic_source

log = logs.get_logger()


class MqttFeed:
    def __init__(self, config: MqttSourceConfig, sink: Differential) -> None:
        self.name = config.name
        self.config = config
        self.stats = FeedStats(kind="mqtt")
        self.ready = asyncio.Event()
        self._sink = sink
        self._connection = Connection(config.name, self.stats)
        self._options = mqtt_options(config)  # read now: a missing file fails the start

    def offsets(self) -> dict[str, int]:
        return {}  # the broker's session is the position

    async def run(self) -> None:
        backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)
        while True:
            try:
                await self._session(backoff)
            except* aiomqtt.MqttError as group:
                self._connection.down(group.exceptions[0])
            await asyncio.sleep(backoff.next())

    def _client(self) -> aiomqtt.Client:
        c = self.config
        client = aiomqtt.Client(c.host, c.port, identifier=c.client_id, clean_session=False,
                                keepalive=c.keepalive_s, timeout=10.0, **self._options)
        client._client.manual_ack_set(True)  # private: see the module docstring
        return client

    async def _session(self, backoff: Backoff) -> None:
        acks: asyncio.Queue[tuple[int, int]] = asyncio.Queue()  # (lsn, mid), in order
        async with self._client() as client:
            for topic in self.config.topics:
                await client.subscribe(topic, qos=1)
            self._connection.up()
            backoff.reset()
            self.ready.set()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._acker(client, acks), name=f"source.{self.name}.ack")
                await self._consume(client, acks)

    async def _consume(self, client: aiomqtt.Client,
                       acks: asyncio.Queue[tuple[int, int]]) -> None:
        async for message in client.messages:
            self.stats.messages += 1
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            outcome = self._sink.handle(payload, feed=self.name, origin=topic,
                                        source=topic_source(topic, self.config.topics),
                                        allowed=self.config.sources)
            await self._reply(client, outcome)
            if message.qos > 0:
                acks.put_nowait((outcome.lsn, message.mid))
            if self._sink.ingest.congested():
                self.stats.paused += 1
                await self._sink.ingest.backpressure()

    async def _acker(self, client: aiomqtt.Client,
                     acks: asyncio.Queue[tuple[int, int]]) -> None:
        while True:
            lsn, mid = await acks.get()
            await self._sink.ingest.durable(lsn)
            client._client.ack(mid, 1)  # private: see the module docstring

    async def _reply(self, client: aiomqtt.Client, outcome: Outcome) -> None:
        for request in outcome.resyncs:
            await client.publish(self.config.control_prefix + request.source,
                                 encode_message(request, outcome.fmt), qos=1)
            self.stats.resync_requests += 1
        self.stats.dead_letters += len(outcome.dead)
