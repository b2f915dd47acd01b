"""Which sources a feed may speak for.

A message names its own ``source``, and anyone who can publish on a feed's broker can
write any name there. So a feed delivers a message only if:

- it is not in the name of shadowd itself (``DAEMON_SOURCE``) and carries none of the
  records shadowd writes itself (spikes, runs, policies, rollouts): those come only from
  the daemon's own recorder, never from outside;
- it speaks for the source its transport names, where the transport names one: the MQTT
  topic level a ``+`` filter matched, the Kafka record's key;
- it speaks for a source the feed's ``sources`` list allows, when the list is not empty.

Pure: ``refusal`` says why a message may not be delivered, or ``None``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from shadowd.core.events import DAEMON_SOURCE, RECORD_TYPES, AnyEvent, tag_of


def refusal(source: str, events: Sequence[AnyEvent], *, claimed: str = "",
            allowed: Collection[str] = ()) -> str | None:
    """Why a feed may not deliver a message of ``source`` carrying ``events``, when its
    transport names ``claimed`` as the source and the feed allows ``allowed`` ("" and
    empty: no such rule)."""
    if source == DAEMON_SOURCE:
        return (f"source {DAEMON_SOURCE!r} is shadowd's own: its records never come from a "
                "feed")
    record = next((e for e in events if isinstance(e, RECORD_TYPES)), None)
    if record is not None:
        return f"{tag_of(record)} is a record shadowd writes itself, never taken from a feed"
    if claimed and source != claimed:
        return (f"the message speaks for {source!r} but came as {claimed!r}: a feed's topic "
                "(or key) names the source it carries")
    if allowed and source not in allowed:
        return (f"source {source!r} is not one this feed may speak for (sources = "
                f"{sorted(allowed)})")
    return None


def topic_source(topic: str, filters: Sequence[str]) -> str:
    """The source an MQTT ``topic`` names: the level a trailing ``+`` of one of
    ``filters`` matched (``shadowd/telemetry/+`` names ``edge1`` in
    ``shadowd/telemetry/edge1``); "" when no such filter matches."""
    have = topic.split("/")
    for pattern in filters:
        want = pattern.split("/")
        if want[-1] == "+" and len(want) == len(have) and all(
                w in ("+", h) for w, h in zip(want[:-1], have[:-1], strict=True)):
            return have[-1]
    return ""
