from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
import structlog

from shadowd.core.events import AnyEvent
from shadowd.store.commit import GroupCommitter
from shadowd.store.log import EventLog, LogUnavailable
from tests.alerts import assert_alert
from tests.fakes.store import FakeFsync, ring, telemetry

EVENTS = ring(4) + telemetry(500, 4)


@pytest.fixture
def fsync() -> FakeFsync:
    return FakeFsync()


@pytest.fixture
def log(tmp_path: Path, fsync: FakeFsync) -> Iterator[EventLog]:
    with EventLog.open(tmp_path, fsync=fsync) as opened:
        fsync.fds.clear()  # creating the first segment synced the directory
        fsync.entered.clear()
        yield opened


@pytest.fixture
async def running(log: EventLog) -> AsyncIterator[GroupCommitter]:
    committer = GroupCommitter(log, window_s=0.001)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(committer.run(), name="log.commit")
        yield committer
        task.cancel()


def _read(log: EventLog, until: int | None = None) -> list[AnyEvent]:
    return [e for batch in log.read(until=until) for e in batch]


def _durable(committer: GroupCommitter, log: EventLog) -> list[AnyEvent]:
    """The events the committer says are durable (up to its ``durable_lsn``), as the log
    reads them back."""
    return _read(log, until=committer.durable_lsn)


def _records(log: EventLog) -> list[int]:
    """The last lsn of each record in the log, in order: one record per commit."""
    ends: list[int] = []
    lsn = 0
    for batch in log.read():
        lsn += len(batch)
        ends.append(lsn)
    return ends


async def test_append_returns_the_last_lsn_once_durable(
    running: GroupCommitter, log: EventLog, fsync: FakeFsync
) -> None:
    committer = running
    assert await committer.append(EVENTS[:3]) == 3
    assert fsync.calls == 1
    assert await committer.append(EVENTS[3:4]) == 4
    assert _durable(committer, log) == EVENTS[:4]
    assert _read(log) == EVENTS[:4]


async def test_waiters_resolve_only_after_the_fsync(
    running: GroupCommitter, log: EventLog, fsync: FakeFsync
) -> None:
    committer = running
    fsync.gate.clear()
    async with asyncio.TaskGroup() as tg:
        appends = [tg.create_task(committer.append(EVENTS[i : i + 2])) for i in range(0, 10, 2)]
        await asyncio.to_thread(fsync.entered.wait)
        await asyncio.sleep(0)
        assert not any(a.done() for a in appends)
        assert committer.durable_lsn == 0
        assert _durable(committer, log) == []
        fsync.gate.set()
    assert [a.result() for a in appends] == [2, 4, 6, 8, 10]
    assert _durable(committer, log) == EVENTS[:10]


async def test_many_concurrent_appends_share_one_write_and_fsync(
    running: GroupCommitter, log: EventLog, fsync: FakeFsync
) -> None:
    committer = running
    fsync.gate.clear()
    async with asyncio.TaskGroup() as tg:
        first = tg.create_task(committer.append(EVENTS[:1]))
        await asyncio.to_thread(fsync.entered.wait)  # the first commit is stuck in fsync
        rest = [tg.create_task(committer.append(EVENTS[i : i + 1])) for i in range(1, 101)]
        await asyncio.sleep(0)
        fsync.gate.set()
    assert first.result() == 1
    assert [a.result() for a in rest] == list(range(2, 102))
    assert fsync.calls == 2
    assert committer.commits == 2
    assert committer.durable_lsn == 101
    assert _records(log) == [1, 101]
    assert _read(log) == EVENTS[:101]


async def test_a_batch_never_exceeds_max_batch_events(log: EventLog, fsync: FakeFsync) -> None:
    committer = GroupCommitter(log, window_s=3600.0, max_batch_events=20)
    async with asyncio.TaskGroup() as tg:
        runner = tg.create_task(committer.run())
        appends = [tg.create_task(committer.append(EVENTS[i : i + 10])) for i in range(0, 100, 10)]
        await asyncio.gather(*appends)
        runner.cancel()
    assert _records(log) == [20, 40, 60, 80, 100]
    assert fsync.calls == 5
    assert _durable(committer, log) == EVENTS[:100]


async def test_cancelling_run_flushes_what_is_queued(log: EventLog, fsync: FakeFsync) -> None:
    committer = GroupCommitter(log, window_s=3600.0)
    runner = asyncio.create_task(committer.run())
    appends = [asyncio.create_task(committer.append(EVENTS[i : i + 3])) for i in range(0, 30, 3)]
    await asyncio.sleep(0)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert [await a for a in appends] == list(range(3, 31, 3))
    assert _durable(committer, log) == EVENTS[:30]
    assert _read(log) == EVENTS[:30]
    with pytest.raises(RuntimeError, match="stopped"):
        await committer.append(EVENTS[30:31])


async def test_cancelling_run_mid_fsync_finishes_that_commit(
    log: EventLog, fsync: FakeFsync
) -> None:
    committer = GroupCommitter(log, window_s=0.0)
    runner = asyncio.create_task(committer.run())
    fsync.gate.clear()
    first = asyncio.create_task(committer.append(EVENTS[:5]))
    await asyncio.to_thread(fsync.entered.wait)
    later = asyncio.create_task(committer.append(EVENTS[5:7]))
    await asyncio.sleep(0)
    runner.cancel()
    await asyncio.sleep(0)
    fsync.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert (await first, await later) == (5, 7)
    assert _read(log) == EVENTS[:7]


async def test_a_cancelled_append_is_still_committed(
    running: GroupCommitter, log: EventLog, fsync: FakeFsync
) -> None:
    committer = running
    fsync.gate.clear()
    doomed = asyncio.create_task(committer.append(EVENTS[:4]))
    await asyncio.to_thread(fsync.entered.wait)
    doomed.cancel()
    fsync.gate.set()
    assert await committer.append(EVENTS[4:5]) == 5
    assert _durable(committer, log) == EVENTS[:5]


async def test_wait_durable_waits_for_the_commit_covering_the_lsn(
    running: GroupCommitter, fsync: FakeFsync
) -> None:
    committer = running
    fsync.gate.clear()
    async with asyncio.TaskGroup() as tg:
        append = tg.create_task(committer.append(EVENTS[:6]))
        waiting = tg.create_task(committer.wait_durable(6))
        await asyncio.to_thread(fsync.entered.wait)
        assert not waiting.done()
        fsync.gate.set()
    assert append.result() == 6
    await committer.wait_durable(3)  # already durable: returns at once


async def test_a_failed_write_fails_its_waiters_and_stops_run(log: EventLog) -> None:
    def broken(fd: int) -> None:
        raise OSError(28, "No space left on device")

    log._fsync = broken
    committer = GroupCommitter(log, window_s=0.0)
    runner = asyncio.create_task(committer.run())
    append = asyncio.create_task(committer.append(EVENTS[:2]))
    with pytest.raises(LogUnavailable, match="space"):
        await append
    with pytest.raises(LogUnavailable, match="space"):
        await runner


async def test_enqueued_events_commit_in_order_without_a_waiter(
    running: GroupCommitter, log: EventLog, fsync: FakeFsync
) -> None:
    committer = running
    fsync.gate.clear()
    committer.enqueue(EVENTS[:1])
    await asyncio.to_thread(fsync.entered.wait)  # the first commit is stuck in fsync
    for start in range(1, 40, 3):
        committer.enqueue(EVENTS[start : start + 3])
    fsync.gate.set()
    await committer.wait_durable(40)
    assert committer.durable_lsn == 40
    assert _records(log) == [1, 40]
    assert _read(log) == _durable(committer, log) == EVENTS[:40]


class FullDisk:
    """The log's ``write`` while the disk is full: ENOSPC, as the kernel says it."""

    def __init__(self, log: EventLog) -> None:
        self.full = True
        self.refused = 0
        self._write = log.write

    def __call__(self, events: Sequence[AnyEvent]) -> int:
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._write(events)


async def test_a_full_disk_holds_appends_until_space_returns(log: EventLog) -> None:
    committer = GroupCommitter(log, window_s=0.001, retry_s=0.01)
    disk = FullDisk(log)
    log.write = disk  # type: ignore[method-assign]  # the kernel's answer, faked
    with structlog.testing.capture_logs() as logs:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(committer.run(), name="log.commit")
            first = tg.create_task(committer.append(EVENTS[:10]))
            second = tg.create_task(committer.append(EVENTS[10:20]))
            for _ in range(10_000):  # loop turns until it has tried and waited a few times
                if disk.refused >= 3:
                    break
                await asyncio.sleep(0)
            assert committer.stalled is not None
            assert not first.done()
            assert not second.done()
            assert committer.durable_lsn == 0  # nothing is said durable that is not
            disk.full = False  # space returns
            assert (await first, await second) == (10, 20)
            task.cancel()
    assert _read(log) == EVENTS[:20]
    assert _durable(committer, log) == EVENTS[:20]
    assert committer.stalled is None
    assert_alert(logs, "disk_full", path=str(log.directory))
    assert len([e for e in logs if e.get("kind") == "disk_full"]) == 1
