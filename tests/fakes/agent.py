"""Both ends of an agent's stream, for tests and benchmarks: ``StreamFolder``, a minimal
consumer that folds what it receives the way the contract says shadowd does and checks
every digest on the way; ``FakeTransport``, an in-memory ``Transport`` for the agent."""

from __future__ import annotations

import asyncio

import msgspec

from shadowd.agent.transport import OnControl
from shadowd.agent.view import view_digest
from shadowd.core.state import State, fold
from shadowd.core.wire import AnyMessage, DeltaBatch, Digest, Snapshot, decode_message


class StreamFolder(msgspec.Struct, kw_only=True):
    state: State = msgspec.field(default_factory=State)
    position: int = 0
    snapshots: list[int] = msgspec.field(default_factory=list)  # their seqs
    digests_checked: int = 0
    digest_mismatches: list[int] = msgspec.field(default_factory=list)
    gaps: list[tuple[int, int]] = msgspec.field(default_factory=list)  # (expected, got)
    duplicates: int = 0

    def feed_bytes(self, payload: bytes) -> AnyMessage:
        msg = decode_message(payload)
        self.feed(msg)
        return msg

    def feed(self, msg: AnyMessage) -> None:
        if isinstance(msg, Snapshot):
            self.state = fold(msg.events)
            self.position = msg.seq
            self.snapshots.append(msg.seq)
        elif isinstance(msg, DeltaBatch):
            self._deltas(msg)
        elif isinstance(msg, Digest) and msg.seq == self.position:
            self.digests_checked += 1
            if view_digest(self.state) != msg.digest:
                self.digest_mismatches.append(msg.seq)

    def _deltas(self, msg: DeltaBatch) -> None:
        fresh = [e for e in msg.events if e.seq > self.position]
        self.duplicates += len(msg.events) - len(fresh)
        if fresh and fresh[0].seq != self.position + 1:
            self.gaps.append((self.position + 1, fresh[0].seq))
        if fresh:
            fold(fresh, self.state)
            self.position = fresh[-1].seq


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
