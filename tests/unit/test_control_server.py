"""The control server behind a real Unix socket: answers, limits, bad input, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import structlog

from shadowd.control import protocol as p
from shadowd.control.client import ControlClient, call_once
from shadowd.control.errors import DaemonUnavailable, ProtocolError, RemoteError
from shadowd.control.replies import ErrorReply, Reply, SnapshotReply, StatusReply
from shadowd.control.server import ControlServer, running
from shadowd.control.service import Handlers, Peer
from shadowd.core.state import digest, fold
from shadowd.logs import Throttle
from tests.fakes.control import FakeService
from tests.unit.samples import SAMPLES

TEN_MB = 10 * 1024 * 1024


@pytest.fixture
def service() -> FakeService:
    return FakeService(SAMPLES, uptime_s=42.0)


@pytest.fixture
async def server(tmp_path: Path, service: FakeService) -> AsyncIterator[ControlServer]:
    async with running(ControlServer(tmp_path / "ctl.sock", service)) as srv:
        yield srv


async def status(path: Path) -> StatusReply:
    return await call_once(p.StatusRequest(), path, timeout_s=10)


async def raw_exchange(path: Path, data: bytes, *, half_close: bool = False) -> p.AnyReply:
    """Send raw bytes, then read one reply frame, whatever the server did to our sending."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, str(path))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await loop.sock_sendall(sock, data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        received = await _receive_all(loop, sock)
    length = p.frame_length(received[:4])
    return p.decode_reply(received[4 : 4 + length])


async def _receive_all(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
    received = b""
    async with asyncio.timeout(30):  # a hang guard, not a timing assertion
        with contextlib.suppress(ConnectionResetError):
            while chunk := await loop.sock_recv(sock, 1 << 16):
                received += chunk
    return received


def error_of(reply: p.AnyReply) -> ErrorReply:
    assert isinstance(reply, ErrorReply), reply
    return reply


# --- answers ----------------------------------------------------------------------------


async def test_status_round_trip(server: ControlServer) -> None:
    reply = await status(server.path)
    state = fold(SAMPLES)
    assert (reply.seq, reply.digest) == (state.lsn, digest(state))
    assert reply.uptime_s == 42.0
    assert reply.sources["golden"].seq == 13


async def test_topology_round_trip(server: ControlServer) -> None:
    reply = await call_once(p.TopologyRequest(), server.path, timeout_s=10)
    state = fold(SAMPLES)
    assert reply.routers == list(state.routers.values())
    assert reply.links == list(state.links.values())


async def test_log_tail_round_trip(server: ControlServer) -> None:
    reply = await call_once(p.LogTailRequest(count=3), server.path, timeout_s=10)
    assert [(e.lsn, e.event) for e in reply.events] == [(11, SAMPLES[10]), (12, SAMPLES[11]),
                                                        (13, SAMPLES[12])]


async def test_snapshot_round_trip(server: ControlServer) -> None:
    reply = await call_once(p.SnapshotRequest(), server.path, timeout_s=10)
    assert reply.lsn == 13


async def test_one_connection_carries_several_requests(
    server: ControlServer, service: FakeService
) -> None:
    async with ControlClient(server.path) as client:
        for _ in range(3):
            await client.call(p.StatusRequest())
        await client.call(p.SnapshotRequest())
    assert len({peer.pid for peer in service.peers}) == 1
    assert len(service.peers) == 4


async def test_the_service_sees_the_peer_credentials(
    server: ControlServer, service: FakeService
) -> None:
    await status(server.path)
    assert service.peers == [Peer(pid=os.getpid(), uid=os.getuid(), gid=os.getgid(),
                                  groups=service.peers[0].groups)]


async def test_200_concurrent_clients_are_all_answered(
    server: ControlServer, service: FakeService
) -> None:
    replies = await asyncio.gather(*(status(server.path) for _ in range(200)))
    assert {r.seq for r in replies} == {13}
    assert len(service.peers) == 200


# --- the service misbehaving --------------------------------------------------------------


async def test_a_service_exception_is_internal_and_the_server_carries_on(
    server: ControlServer, service: FakeService
) -> None:
    service.fail.add("status")
    async with ControlClient(server.path) as client:
        with structlog.testing.capture_logs() as logs, pytest.raises(RemoteError) as err:
            await client.call(p.StatusRequest())
        assert err.value.code == p.INTERNAL
        assert any(e["event"] == "control.handler_failed" for e in logs)
        service.fail.clear()
        assert (await client.call(p.StatusRequest())).seq == 13  # same connection


class _WrongReplies(Handlers):
    async def on_status(self, request: p.StatusRequest, peer: Peer) -> Reply:
        return SnapshotReply(lsn=1, path="/nowhere")


class _StatusOnly(Handlers):
    async def on_status(self, request: p.StatusRequest, peer: Peer) -> StatusReply:
        return StatusReply(seq=0, digest="", uptime_s=0.0)


async def test_a_wrong_reply_type_is_internal(tmp_path: Path) -> None:
    async with running(ControlServer(tmp_path / "s", _WrongReplies())) as srv:
        with pytest.raises(RemoteError) as err:
            await status(srv.path)
    assert err.value.code == p.INTERNAL


async def test_a_request_without_handler_is_unsupported(tmp_path: Path) -> None:
    handlers = _StatusOnly()
    assert handlers.missing() == p.REQUEST_TAGS - {"status"}
    async with running(ControlServer(tmp_path / "s", handlers)) as srv:
        with pytest.raises(RemoteError) as err:
            await call_once(p.TopologyRequest(), srv.path, timeout_s=10)
    assert err.value.code == p.UNSUPPORTED
    assert "topology" in err.value.message


def test_the_fake_answers_every_request() -> None:
    assert FakeService().missing() == frozenset()


async def test_an_oversized_reply_becomes_too_large(tmp_path: Path, service: FakeService) -> None:
    async with running(ControlServer(tmp_path / "s", service, max_reply_bytes=300)) as srv:
        with pytest.raises(RemoteError) as err:
            await call_once(p.LogTailRequest(count=13), srv.path, timeout_s=10)
        assert err.value.code == p.TOO_LARGE
        assert (await status(srv.path)).seq == 13


# --- bad input ----------------------------------------------------------------------------


async def test_10_mb_of_garbage_gets_an_error_and_the_server_carries_on(
    server: ControlServer,
) -> None:
    garbage = random.Random(1).randbytes(TEN_MB)
    reply = error_of(await raw_exchange(server.path, garbage))
    assert reply.code in {p.TOO_LARGE, p.BAD_REQUEST}
    assert (await status(server.path)).seq == 13


async def test_an_oversized_frame_is_refused_before_its_body_is_read(
    server: ControlServer,
) -> None:
    # Only the header is sent: the server can only answer if it does not wait for the body.
    reply = error_of(await raw_exchange(server.path, p.HEADER.pack(TEN_MB)))
    assert reply.code == p.TOO_LARGE
    assert str(TEN_MB) in reply.message
    assert (await status(server.path)).seq == 13


async def test_a_truncated_frame_is_named(server: ControlServer) -> None:
    data = p.HEADER.pack(100) + b"x" * 50
    reply = error_of(await raw_exchange(server.path, data, half_close=True))
    assert reply.code == p.BAD_REQUEST
    assert "truncated frame body: expected 100 bytes, got 50" in reply.message


async def test_a_truncated_header_is_named(server: ControlServer) -> None:
    reply = error_of(await raw_exchange(server.path, b"\x00\x00", half_close=True))
    assert "truncated frame header" in reply.message


async def test_an_unknown_request_type_is_named(server: ControlServer) -> None:
    body = msgspec.msgpack.encode({"type": "teleport", "router": "fra"})
    reply = error_of(await raw_exchange(server.path, p.frame(body)))
    assert reply.code == p.BAD_REQUEST
    assert "unknown request type 'teleport'" in reply.message


async def test_non_msgpack_is_named(server: ControlServer) -> None:
    reply = error_of(await raw_exchange(server.path, p.frame(b"\xc1\xc1 GET / HTTP/1.1")))
    assert reply.code == p.BAD_REQUEST
    assert "not valid msgpack" in reply.message


async def test_a_slow_frame_times_out(tmp_path: Path, service: FakeService) -> None:
    async with running(ControlServer(tmp_path / "s", service, request_timeout_s=0.05)) as srv:
        reply = error_of(await raw_exchange(srv.path, p.HEADER.pack(100) + b"x" * 10))
    assert reply.code == p.TIMEOUT


async def test_an_idle_connection_is_closed(tmp_path: Path, service: FakeService) -> None:
    async with running(ControlServer(tmp_path / "s", service, idle_timeout_s=0.05)) as srv:
        reader, writer = await asyncio.open_unix_connection(str(srv.path))
        async with asyncio.timeout(30):  # a hang guard, not a timing assertion
            assert await reader.read() == b""
        writer.close()


# --- the client's side ----------------------------------------------------------------------


async def test_client_refuses_an_oversized_reply(server: ControlServer) -> None:
    async with ControlClient(server.path, max_reply_bytes=64) as client:
        with pytest.raises(ProtocolError, match="exceeds the 64-byte limit"):
            await client.call(p.LogTailRequest(count=13))


async def test_client_names_a_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(DaemonUnavailable, match=r"no shadowd at .*: is it running"):
        await status(tmp_path / "nobody.sock")


async def test_client_names_a_refusing_socket(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # bound, never listening, closed: a stale file
    with pytest.raises(DaemonUnavailable, match="refused the connection"):
        await status(path)


# --- limits across connections ------------------------------------------------------------


async def _idle_peer(path: Path) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await loop.sock_connect(sock, str(path))
    return sock


async def test_a_new_connection_closes_the_longest_idle_one_at_the_cap(
        tmp_path: Path, service: FakeService) -> None:
    async with running(ControlServer(tmp_path / "s", service, max_connections=3)) as srv:
        idle = [await _idle_peer(srv.path) for _ in range(3)]
        assert (await status(srv.path)).seq == 13  # answered: the oldest idle one made room
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(30):  # a hang guard
            assert await loop.sock_recv(idle[0], 16) == b""  # closed by the server
        for sock in idle:
            sock.close()


async def test_a_crowd_of_connections_logs_a_few_lines_and_a_count(
        tmp_path: Path, service: FakeService) -> None:
    """200 idle connections over a cap of 2: 198 evictions, 10 lines about them."""
    with structlog.testing.capture_logs() as logged:
        async with running(ControlServer(tmp_path / "s", service, max_connections=2)) as srv:
            peers = [await _idle_peer(srv.path) for _ in range(200)]
            assert (await status(srv.path)).seq == 13
            for sock in peers:
                sock.close()
    evicted = [e for e in logged if e["event"] == "control.idle_closed"]
    assert len(evicted) == 10
    assert all(e["held_back"] == 0 for e in evicted)


async def test_when_every_connection_is_mid_request_a_new_one_is_told_busy(
        tmp_path: Path, service: FakeService) -> None:
    async with running(ControlServer(tmp_path / "s", service, max_connections=2)) as srv:
        loop = asyncio.get_running_loop()
        busy = [await _idle_peer(srv.path) for _ in range(2)]
        for sock in busy:  # a header promising a body that has not come yet
            await loop.sock_sendall(sock, p.HEADER.pack(100))
        for _ in range(10_000):  # loop turns until the server has read both headers
            if srv.busy_connections == 2:
                break
            await asyncio.sleep(0)
        with pytest.raises(RemoteError) as err:
            await status(srv.path)
        assert err.value.code == p.BUSY
        assert "2 control connections busy" in err.value.message
        for sock in busy:
            sock.close()


async def test_replies_over_the_unread_budget_are_busy_and_small_ones_flow(
        tmp_path: Path, service: FakeService) -> None:
    async with running(ControlServer(tmp_path / "s", service, max_unread_bytes=400)) as srv:
        assert (await status(srv.path)).seq == 13
        with pytest.raises(RemoteError) as err:
            await call_once(p.LogTailRequest(count=13), srv.path, timeout_s=10)
        assert err.value.code == p.BUSY
        assert (await status(srv.path)).seq == 13  # the budget is given back


async def test_a_fuzzer_s_frames_are_answered_but_logged_ten_a_minute(
        server: ControlServer) -> None:
    with structlog.testing.capture_logs() as logs:
        for i in range(100):
            reply = await raw_exchange(server.path, p.frame(bytes([0xc1, i])))
            assert error_of(reply).code == p.BAD_REQUEST
    assert len([e for e in logs if e["event"] == "control.bad_request"]) == 10


def test_a_throttle_lets_a_burst_through_then_counts_what_it_held_back() -> None:
    now = [0.0]
    throttle = Throttle(burst=2, window_s=60.0, clock=lambda: now[0])
    assert [throttle.allow() for _ in range(5)] == [0, 0, None, None, None]
    now[0] = 60.0
    assert throttle.allow() == 3  # the next window's first line says how many were held
    assert throttle.allow() == 0
