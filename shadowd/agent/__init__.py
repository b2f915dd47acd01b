"""``shadowd agent``: the producer side of telemetry ingestion, run next to production.

It polls production (FRR routers, gnmic counters, or a simulated trace) into a ``State``,
diffs that against the view it has already sent, stamps the differences with its own
strictly increasing sequence numbers and publishes them on Kafka or MQTT in the wire
format of ``shadowd.core.wire``; it answers resync requests with snapshots and proves
agreement with periodic digests. The pure parts (``core``, ``view``) do no I/O.
"""
