"""The agent's pure core: views in, wire messages out.

``AgentCore`` holds the view it has *sent* (the fold of everything it published) and its
position (the last seq it stamped). Each poll of production gives a ``State``;
``observe`` diffs it against the sent view, stamps the changes with the next seqs, and
returns delta batches (cut by ``wire.split_deltas``) and, when due, a ``Digest`` of the
sent view. ``resync`` answers a ``ResyncRequest`` with a ``Snapshot`` of the sent view at
a fresh seq; ``start`` sends one unasked, so a restarted agent replaces whatever the
consumer held from it. Every ``Outbox`` names the position the shell must persist
*before* sending it.

Pure: no I/O; time comes in as ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import msgspec

from shadowd.agent.view import view_digest
from shadowd.core.diff import NO_DEADBAND, Deadband, diff, snapshot_events
from shadowd.core.events import AnyEvent
from shadowd.core.state import State, fold
from shadowd.core.wire import (
    AnyMessage,
    DeltaBatch,
    Digest,
    Format,
    ResyncRequest,
    Snapshot,
    split_deltas,
)

DEFAULT_MAX_BATCH_BYTES: Final = 512 * 1024  # well under Kafka's 1 MB record default


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    max_batch_events: int = 5000
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    fmt: Format = "msgpack"
    digest_every_events: int = 1000  # 0: never by count
    digest_every_s: float = 60.0  # 0: never by time
    deadband: Deadband = NO_DEADBAND


class Outbox(msgspec.Struct, kw_only=True):
    """Messages to publish in order, once ``position`` is durably saved."""

    messages: list[AnyMessage] = msgspec.field(default_factory=list)
    position: int = 0
    events: int = 0  # delta events among ``messages``

    def __bool__(self) -> bool:
        return bool(self.messages)


def stamp(events: Sequence[AnyEvent], source: str, first_seq: int, ts: float, *,
          same_seq: bool = False) -> list[AnyEvent]:
    """Give ``events`` the source, consecutive seqs from ``first_seq`` (or all the same
    seq, for a snapshot) and the timestamp ``ts``."""
    replace = msgspec.structs.replace
    return [replace(e, source=source, seq=first_seq if same_seq else first_seq + i, ts=ts)
            for i, e in enumerate(events)]


class AgentCore:
    def __init__(self, settings: AgentSettings, *, position: int = 0) -> None:
        self.settings = settings
        self.position = position
        self.sent = State()
        self._since_digest = 0
        self._last_digest_at: float | None = None

    # --- inputs --------------------------------------------------------------------------

    def start(self, current: State, now: float) -> Outbox:
        """Take ``current`` as the sent view and announce it with a snapshot."""
        self.sent = fold(stamp(snapshot_events(current), self.settings.source,
                               self.position + 1, now, same_seq=True))
        return self._snapshot(now, self.position + 1)

    def observe(self, current: State, now: float) -> Outbox:
        """Deltas that bring the consumer from the sent view to ``current``."""
        events = diff(self.sent, current, self.settings.deadband)
        if not events:
            return self.tick(now)
        stamped = stamp(events, self.settings.source, self.position + 1, now)
        fold(stamped, self.sent)
        self.position = stamped[-1].seq
        self._since_digest += len(stamped)
        s = self.settings
        messages: list[AnyMessage] = list(split_deltas(
            stamped, max_events=s.max_batch_events, max_bytes=s.max_batch_bytes, fmt=s.fmt))
        if self._digest_due(now):
            messages.append(self._digest(now))
        return Outbox(messages=messages, position=self.position, events=len(stamped))

    def resync(self, request: ResyncRequest, now: float) -> Outbox:
        """Answer with the whole sent view at a fresh seq; deltas go on after it."""
        del request  # the agent keeps no history: every resync is answered with a snapshot
        return self._snapshot(now, self.position + 1)

    def resync_preview(self, now: float) -> Snapshot:
        """The snapshot a resync would send now, without taking a seq (for sizing)."""
        seq = self.position + 1
        events = stamp(snapshot_events(self.sent), self.settings.source, seq, now,
                       same_seq=True)
        return Snapshot(source=self.settings.source, seq=seq, ts=now, events=events)

    def tick(self, now: float) -> Outbox:
        """A digest if one is due by time; nothing otherwise."""
        if self.position and self._digest_due(now):
            return Outbox(messages=[self._digest(now)], position=self.position)
        return Outbox(position=self.position)

    def next_deadline(self) -> float | None:
        """When ``tick`` will next have a digest to send (None: not by time)."""
        if not self.settings.digest_every_s or self._last_digest_at is None:
            return None
        return self._last_digest_at + self.settings.digest_every_s

    # --- outputs -------------------------------------------------------------------------

    def view_digest(self) -> str:
        return view_digest(self.sent)

    def _snapshot(self, now: float, seq: int) -> Outbox:
        snap = self.resync_preview(now)
        self.position = seq
        return Outbox(messages=[snap, self._digest(now)], position=seq)

    def _digest_due(self, now: float) -> bool:
        s = self.settings
        by_count = s.digest_every_events > 0 and self._since_digest >= s.digest_every_events
        by_time = (s.digest_every_s > 0 and self._last_digest_at is not None
                   and now - self._last_digest_at >= s.digest_every_s)
        return by_count or by_time

    def _digest(self, now: float) -> Digest:
        self._since_digest = 0
        self._last_digest_at = now
        return Digest(source=self.settings.source, seq=self.position, digest=self.view_digest())


def message_seq(message: AnyMessage) -> int:
    """The highest seq a message carries (for logs)."""
    if isinstance(message, DeltaBatch):
        return message.last_seq
    if isinstance(message, Snapshot | Digest):
        return message.seq
    return 0
