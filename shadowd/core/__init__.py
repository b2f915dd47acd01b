"""What every other part shares, pure (no I/O, no clock): the event schema (``events``,
``fields``), the state and how an event changes it (``state``, ``checks``), the diff of two
states (``diff``), differential sync and its one gap rule (``sync``, ``resync``), the
telemetry wire format shared by agent and ingest (``wire``), the error tree (``errors``),
rollout gate conditions (``conditions``), rates (``units``) and IGP limits (``igp``).
"""
