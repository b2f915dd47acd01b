"""The agent's core and shell with a fake broker: stamping, digests, resync answers, the
position file, and a trace followed end to end by a consumer that folds what it gets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from shadowd.agent.core import AgentCore, AgentSettings, stamp
from shadowd.agent.position import PositionFile
from shadowd.agent.reader import TraceReader
from shadowd.agent.run import Agent
from shadowd.agent.view import view_digest, view_of
from shadowd.cli.agent import trace_reader
from shadowd.core.diff import snapshot_events
from shadowd.core.errors import ConfigError
from shadowd.core.events import LinkStatus
from shadowd.core.state import Link, Router, State
from shadowd.core.wire import (
    DeltaBatch,
    Digest,
    ResyncRequest,
    Snapshot,
    decode_message,
    encode_message,
)
from tests.fakes.agent import FakeTransport, StreamFolder

SOURCE = "pop-1"


def network(up: bool = True, ab: float = 0.0) -> State:
    return State(routers={n: Router(name=n) for n in ("a", "b")},
                 links={"ab": Link(id="ab", a="a", b="b", metric=10, reverse_metric=10,
                                   capacity_bps=1e9, up=up, ab_bps=ab)})


def test_stamp_numbers_deltas_consecutively_and_a_snapshot_with_one_seq() -> None:
    events = snapshot_events(network())
    assert [e.seq for e in stamp(events, SOURCE, 7, 1.0)] == [7, 8, 9]
    snap = stamp(events, SOURCE, 7, 1.0, same_seq=True)
    assert {(e.source, e.seq, e.ts) for e in snap} == {(SOURCE, 7, 1.0)}


def test_core_sends_only_changes_with_increasing_seqs_and_digests_what_it_sent() -> None:
    core = AgentCore(AgentSettings(source=SOURCE, digest_every_events=2), position=41)
    start = core.start(network(), now=1.0)
    assert isinstance(start.messages[0], Snapshot)
    assert start.messages[0].seq == 42
    assert not core.observe(network(), now=2.0)
    down = core.observe(network(up=False), now=3.0)
    batch = down.messages[0]
    assert isinstance(batch, DeltaBatch)
    assert down.position == 43
    assert [type(e) for e in batch.events] == [LinkStatus]
    assert batch.first_seq == 43
    more = core.observe(network(up=False, ab=5.0), now=4.0)
    assert isinstance(more.messages[-1], Digest)
    assert more.messages[-1].digest == view_digest(network(up=False, ab=5.0))


def test_digest_by_time_comes_on_tick() -> None:
    core = AgentCore(AgentSettings(source=SOURCE, digest_every_events=0, digest_every_s=60.0))
    core.start(network(), now=0.0)
    assert core.next_deadline() == 60.0
    assert not core.tick(now=59.0)
    assert isinstance(core.tick(now=60.0).messages[0], Digest)


def test_resync_is_answered_with_the_whole_view_at_a_fresh_seq() -> None:
    core = AgentCore(AgentSettings(source=SOURCE))
    core.start(network(), now=0.0)
    core.observe(network(ab=3.0), now=1.0)
    answer = core.resync(ResyncRequest(source=SOURCE, from_seq=2, reason="gap"), now=2.0)
    snap = answer.messages[0]
    assert isinstance(snap, Snapshot)
    assert snap.seq == core.position == 3
    assert {e.seq for e in snap.events} == {3}
    folder = StreamFolder()
    folder.feed(snap)
    assert msgspec.to_builtins(view_of(folder.state)) == msgspec.to_builtins(
        view_of(network(ab=3.0)))
    later = core.observe(network(ab=4.0), now=3.0).messages[0]
    assert isinstance(later, DeltaBatch)
    assert later.first_seq == 4


def test_position_file_round_trips_and_refuses_another_sources_file(tmp_path: Path) -> None:
    path = tmp_path / "agent" / "position.json"
    assert PositionFile(path, SOURCE).load() == 0
    PositionFile(path, SOURCE).save(1234)
    assert PositionFile(path, SOURCE).load() == 1234
    with pytest.raises(ConfigError, match="belongs to source"):
        PositionFile(path, "other").load()


def small_trace() -> TraceReader:
    return trace_reader("builtin:geant", days=1, seed=3)


async def run_agent(tmp_path: Path, polls: int) -> tuple[Agent, FakeTransport]:
    transport = FakeTransport()
    position = PositionFile(tmp_path / "position.json", SOURCE)
    core = AgentCore(AgentSettings(source=SOURCE, digest_every_events=500),
                     position=position.load())
    agent = Agent(core, small_trace(), transport, position=position, poll_interval_s=0.0)
    await agent.run(polls=polls)
    return agent, transport


async def test_a_consumer_folding_the_stream_agrees_with_every_digest(tmp_path: Path) -> None:
    agent, transport = await run_agent(tmp_path, polls=6)
    folder = StreamFolder()
    for payload in transport.sent:
        folder.feed_bytes(payload)
    assert folder.gaps == []
    assert folder.digest_mismatches == []
    assert folder.digests_checked >= 2
    assert view_digest(folder.state) == agent.core.view_digest()
    assert folder.position == agent.stats.acked_seq == PositionFile(
        tmp_path / "position.json", SOURCE).load()


async def test_a_restarted_agent_continues_above_its_saved_position(tmp_path: Path) -> None:
    first, _ = await run_agent(tmp_path, polls=2)
    _, transport = await run_agent(tmp_path, polls=1)
    snap = decode_message(transport.sent[0])
    assert isinstance(snap, Snapshot)
    assert snap.seq == first.core.position + 1


async def test_the_running_agent_answers_a_resync_request(tmp_path: Path) -> None:
    transport = FakeTransport()
    core = AgentCore(AgentSettings(source=SOURCE))
    agent = Agent(core, small_trace(), transport, poll_interval_s=0.001)
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(30):
            await agent.until(lambda stats: stats.messages >= 3)
            request = ResyncRequest(source=SOURCE, from_seq=5, reason="gap")
            transport.control(encode_message(request))
            transport.control(b"not a message")  # logged and ignored
            await agent.until(lambda stats: stats.snapshots >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    folder = StreamFolder()
    for payload in transport.sent:
        folder.feed_bytes(payload)
    assert len(folder.snapshots) == 2
    assert folder.digest_mismatches == []
