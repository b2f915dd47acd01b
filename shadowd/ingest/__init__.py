"""Telemetry in: the feeds and the one intake.

- ``pipeline``: ``Ingest``, the one intake (admit, queue on the log, hand out in order);
- ``differential``: a broker message to the intake (decode, trust, hold past gaps,
  resync, digests, dead letters), for ``kafka`` and ``mqtt``;
- ``source``: the feeds' shared shape, and the replay feed over ``replay`` (paced
  batches from ``tracefile`` or ``builtin`` traces);
- ``trust`` and ``credentials``: who may speak for which source; ``deadletter``: what
  could not be used, kept.
"""
