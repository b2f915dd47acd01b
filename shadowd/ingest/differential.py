"""The receiving end of differential sync: wire messages in, applied events and replies out.

``Differential.handle`` takes one message's raw bytes as a feed received them and, in one
synchronous step, decodes it, applies what it can through ``Ingest`` and says what the
feed must send back: resync requests for the source, and dead letters. Per source:

- a delta batch that follows on is admitted (duplicates inside it dropped and counted);
  one that skips ahead is held (bounded) and a resync is requested from the position + 1
  (reason ``startup`` for a source never seen, ``gap`` otherwise); held batches are
  admitted as soon as the seqs before them arrive, so reordering loses nothing;
- a snapshot is reconciled (``admit_snapshot``); a stale one is dropped and counted;
- a digest is compared with ``view_digest`` when the shadow stands exactly at its seq
  (held until then, dropped once passed); a mismatch raises ``digest_mismatch`` and asks
  for a resync. A digest ahead of the shadow means deltas are missing: resync too.
  Digests cover the whole network view, so they are compared only while this source is
  the only one the shadow holds (otherwise counted as passed);
- anything undecodable, unexpected or rejected becomes a dead letter, and so does a message
  its feed may not deliver: in the name of shadowd itself, carrying shadowd's own records,
  or for a source other than the one its topic (key) names or its feed allows.

Events and snapshots stamped more than ``max_skew_s`` after the receiving clock are
refused (the forecaster would follow them into the future). Resync requests go back in
the encoding of the message that caused them: a producer that writes JSON is answered in
JSON.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

import msgspec

from shadowd import logs
from shadowd.core.errors import InvalidEvent
from shadowd.core.events import AnyEvent, tag_of
from shadowd.core.resync import (
    REASON_DIGEST_MISMATCH,
    REASON_GAP,
    REASON_RESET,
    Gap,
    ResyncNeed,
    SyncSession,
)
from shadowd.core.state import view_digest, view_sources
from shadowd.core.sync import SourceCounters, position
from shadowd.core.wire import (
    DeltaBatch,
    Digest,
    Format,
    ResyncRequest,
    Snapshot,
    WireError,
    decode_message,
    encode_message,
    sniff,
)
from shadowd.ingest.deadletter import DeadLetter, DeadLetterFile
from shadowd.ingest.pipeline import Ingest
from shadowd.ingest.trust import refusal

log = logs.get_logger()


class Outcome(msgspec.Struct, kw_only=True):
    lsn: int = 0  # the state's lsn once the message is handled: durable(lsn) covers it
    resyncs: list[ResyncRequest] = msgspec.field(default_factory=list)
    dead: list[DeadLetter] = msgspec.field(default_factory=list)
    fmt: Format = "msgpack"  # the message's encoding: resyncs answer the producer in it


class Differential:
    def __init__(
        self, ingest: Ingest, dead_letters: DeadLetterFile, *, max_held: int = 1024,
        resync_retry_s: float = 5.0, max_skew_s: float = 300.0,
        clock: Callable[[], float] = time.time, on_progress: Callable[[], None] = lambda: None,
    ) -> None:
        self.ingest = ingest
        self.dead_letters = dead_letters
        self.sessions: dict[str, SyncSession] = {}
        self._max_held = max_held
        self._retry_s = resync_retry_s
        self._max_skew_s = max_skew_s
        self._clock = clock
        self._on_progress = on_progress

    # --- one message -------------------------------------------------------------------

    def handle(self, raw: bytes | None, *, feed: str, origin: str, source: str = "",
               allowed: Collection[str] = ()) -> Outcome:
        """Handle one received message. ``source`` is the source its transport names (the
        topic level, the record key; "" if none): the message must speak for that one, and
        for one of ``allowed`` when that is not empty (``shadowd.ingest.trust``)."""
        out = Outcome(fmt=sniff(raw) if raw else "msgpack")
        ctx = _Context(out, raw or b"", self._clock(), feed, origin)
        try:
            msg = decode_message(ctx.raw)
        except WireError as err:
            self._dead(ctx, source, ctx.raw, f"undecodable: {err}")
        else:
            events = msg.events if isinstance(msg, DeltaBatch | Snapshot) else []
            why = refusal(msg.source, events, claimed=source, allowed=allowed)
            if why is not None:
                self._dead(ctx, "", ctx.raw, f"refused: {why}")
            elif isinstance(msg, DeltaBatch):
                self._delta(ctx, msg)
            elif isinstance(msg, Snapshot):
                self._snapshot(ctx, msg)
            elif isinstance(msg, Digest):
                self._digest(ctx, msg)
            else:
                self._dead(ctx, msg.source, ctx.raw,
                           f"unexpected {tag_of_message(msg)} message on a telemetry feed")
        out.lsn = self.ingest.state.lsn
        self._on_progress()
        return out

    def _delta(self, ctx: _Context, msg: DeltaBatch) -> None:
        session = self._session(msg.source)
        last = self._position(msg.source)
        if self._reset(ctx, msg, last):
            return
        events, need = session.batch(last, msg.events, ctx.now)
        if events is None:
            self._counters(msg.source).held += 1
            if need is None:
                return
            self.ingest.held_at_gap(Gap(source=msg.source, expected=last + 1,
                                        got=msg.first_seq), held=len(session.held))
        self._ask(ctx, need)
        if events is not None:
            self._admit(ctx, msg.source, events, ctx.raw)
        self._catch_up(ctx, msg.source)

    def _reset(self, ctx: _Context, msg: DeltaBatch, last: int) -> bool:
        """A batch wholly at or below the position but stamped later than anything the
        source has sent: not a redelivery (that carries its old times) but a producer
        that started numbering again. Dropping it as duplicates would keep the shadow
        wrong: say so, and ask for a snapshot numbered on from the position."""
        if msg.last_seq > last:  # the common case: new seqs, nothing to look at
            return False
        pos = self.ingest.state.sources.get(msg.source)
        newest = max(self._counters(msg.source).last_ts, pos.ts if pos is not None else 0.0)
        if max(e.ts for e in msg.events) <= newest:
            return False
        logs.alert(log, "sequence_reset", "warning", "source numbering went back",
                   source=msg.source, position=last, got=msg.first_seq)
        self._ask(ctx, self._session(msg.source).ask(
            last, ctx.now, REASON_RESET, f"seq {msg.first_seq}-{msg.last_seq} stamped after "
            f"seq {last}: number on from {last + 1}"))
        return True

    def _snapshot(self, ctx: _Context, msg: Snapshot) -> None:
        if msg.ts > ctx.now + self._max_skew_s:
            self._dead(ctx, msg.source, ctx.raw, f"snapshot ts {msg.ts:.3f} is beyond the "
                       "receiving clock's allowance (max_skew_s)")
            return
        lsn, admission = self.ingest.admit_snapshot(msg)
        if admission.stale:
            log.info("stale snapshot dropped", source=msg.source, seq=msg.seq,
                     position=self._position(msg.source))
            return
        self._session(msg.source).resynced()
        log.info("source resynced", source=msg.source, seq=msg.seq, lsn=lsn,
                 diff_events=len(admission.accepted), rejected=len(admission.rejected))
        if admission.rejected:
            self._rejected(ctx, msg.source, admission.rejected, ctx.raw)
        self._catch_up(ctx, msg.source)

    def _digest(self, ctx: _Context, msg: Digest) -> None:
        session = self._session(msg.source)
        session.hold_digest(msg.seq, msg.digest)
        last = self._position(msg.source)
        if msg.seq > last:
            self._ask(ctx, session.ask(last, ctx.now, REASON_GAP,
                                       f"digest at seq {msg.seq}, shadow at {last}"))
        self._check_digests(ctx, msg.source)

    # --- steps -------------------------------------------------------------------------

    def _admit(self, ctx: _Context, source: str, events: list[AnyEvent], raw: bytes) -> None:
        _, admission = self.ingest.admit(events, not_after=ctx.now + self._max_skew_s)
        if admission.rejected:
            self._rejected(ctx, source, admission.rejected, raw)

    def _catch_up(self, ctx: _Context, source: str) -> None:
        """Admit held batches that now follow on, then compare any digest now due."""
        session = self._session(source)
        while (batch := session.ready(self._position(source))) is not None:
            self._admit(ctx, source, batch, encode_message(DeltaBatch(source=source,
                                                                      events=batch)))
        self._check_digests(ctx, source)

    def _check_digests(self, ctx: _Context, source: str) -> None:
        last = self._position(source)
        due, passed = self._session(source).due_digests(last)
        count = self._counters(source)
        count.digests_passed += passed
        if due is None:
            return
        if view_sources(self.ingest.state) - {source}:
            count.digests_passed += 1  # the view holds other sources too: not comparable
            return
        ours = view_digest(self.ingest.state)
        if ours == due:
            count.digests_ok += 1
            return
        count.digest_mismatches += 1
        logs.alert(log, "digest_mismatch", "warning", "digest mismatch", source=source,
                   seq=last, theirs=due, ours=ours)
        self._ask(ctx, self._session(source).ask(last, ctx.now, REASON_DIGEST_MISMATCH,
                                                 f"digest {due} at seq {last}, ours {ours}"))

    def _ask(self, ctx: _Context, need: ResyncNeed | None) -> None:
        if need is None:
            return
        self._counters(need.source).resyncs += 1
        logs.alert(log, "resync_requested", "info", "resync requested", source=need.source,
                   from_seq=need.from_seq, reason=need.reason, detail=need.detail)
        ctx.out.resyncs.append(ResyncRequest(source=need.source, from_seq=need.from_seq,
                                             reason=need.reason, detail=need.detail[:1024]))

    def _rejected(self, ctx: _Context, source: str,
                  rejected: list[tuple[AnyEvent, InvalidEvent]], raw: bytes) -> None:
        reasons = "; ".join(f"{tag_of(e)} #{e.seq}: {err.reason}" for e, err in rejected[:20])
        more = f" (and {len(rejected) - 20} more)" if len(rejected) > 20 else ""
        self._dead(ctx, source, raw, f"rejected {len(rejected)} event(s): {reasons}{more}")

    def _dead(self, ctx: _Context, source: str, raw: bytes, reason: str) -> None:
        letter = DeadLetter.of(raw, ts=ctx.now, feed=ctx.feed, source=source,
                               origin=ctx.origin, reason=reason)
        self.dead_letters.write(letter)
        if source:
            self._counters(source).dead_letters += 1
        logs.alert(log, "dead_letter", "warning", "message dead-lettered", feed=ctx.feed,
                   source=source, origin=ctx.origin, reason=reason[:300])
        ctx.out.dead.append(letter)

    # --- bookkeeping -------------------------------------------------------------------

    def _session(self, source: str) -> SyncSession:
        session = self.sessions.get(source)
        if session is None:
            session = self.sessions[source] = SyncSession(
                source, max_held=self._max_held, retry_s=self._retry_s)
        return session

    def _counters(self, source: str) -> SourceCounters:
        counters = self.ingest.counters
        if source not in counters:
            counters[source] = SourceCounters()
        return counters[source]

    def _position(self, source: str) -> int:
        return position(self.ingest.state, self.ingest.counters, source)


class _Context(msgspec.Struct):
    out: Outcome
    raw: bytes
    now: float
    feed: str
    origin: str


def tag_of_message(msg: object) -> str:
    return str(getattr(getattr(msg, "__struct_config__", None), "tag", type(msg).__name__))
