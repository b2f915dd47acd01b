"""``call_sync``, shadowctl's blocking client: the real server, and peers that misbehave."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shadowd.control import protocol as p
from shadowd.control.blocking import call_sync
from shadowd.control.client import call_once
from shadowd.control.errors import DaemonUnavailable, ProtocolError, RemoteError
from shadowd.control.replies import Reply, TopologyReply
from shadowd.control.server import ControlServer, running
from tests.fakes.control import FakeService
from tests.unit.samples import SAMPLES

Peer = Callable[[socket.socket], None]


async def test_the_blocking_client_gets_what_the_asyncio_one_gets(tmp_path: Path) -> None:
    requests: list[p.Request[Any]] = [p.StatusRequest(), p.TopologyRequest(),
                                      p.LogTailRequest(count=5)]
    async with running(ControlServer(tmp_path / "s", FakeService(SAMPLES))) as srv:
        for request in requests:
            blocking = await asyncio.to_thread(call_sync, request, srv.path, timeout_s=10)
            assert blocking == await call_once(request, srv.path, timeout_s=10)


async def test_an_error_reply_is_a_remote_error(tmp_path: Path) -> None:
    service = FakeService(SAMPLES)
    async with running(ControlServer(tmp_path / "s", service, max_reply_bytes=300)) as srv:
        with pytest.raises(RemoteError) as err:
            await asyncio.to_thread(call_sync, p.LogTailRequest(count=13), srv.path,
                                    timeout_s=10)
    assert err.value.code == p.TOO_LARGE


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[Callable[[Peer], Path]]:
    """A socket whose one connection ``behave`` handles, in a thread of its own."""
    threads: list[threading.Thread] = []

    def start(behave: Peer) -> Path:
        path = tmp_path / "peer.sock"
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        listener.listen(1)

        def serve() -> None:
            with listener, listener.accept()[0] as conn:
                behave(conn)

        threads.append(threading.Thread(target=serve, daemon=True))
        threads[-1].start()
        return path

    yield start
    for thread in threads:
        thread.join(timeout=30)


def _read_request(conn: socket.socket) -> None:
    length = p.frame_length(conn.recv(4))
    while length > 0:
        length -= len(conn.recv(length))


def _answers(reply: Reply) -> Peer:
    def behave(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(p.frame(p.encode(reply)))
    return behave


def _sends(data: bytes) -> Peer:
    def behave(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(data)
    return behave


def _stalls(conn: socket.socket) -> None:
    _read_request(conn)
    conn.recv(1)  # until the client gives up and closes


def test_a_reply_of_another_type_is_named(peer: Callable[[Peer], Path]) -> None:
    path = peer(_answers(TopologyReply(routers=[], links=[])))
    with pytest.raises(ProtocolError, match="answered 'status' with TopologyReply"):
        call_sync(p.StatusRequest(), path, timeout_s=10)


@pytest.mark.parametrize(("behave", "error", "match"), [
    (_sends(b""), DaemonUnavailable, "hung up without answering"),
    (_sends(b"\x00\x00"), ProtocolError, "truncated frame header: expected 4 bytes, got 2"),
    (_sends(p.HEADER.pack(9) + b"abc"), ProtocolError, "truncated frame body"),
    (_sends(p.HEADER.pack(p.MAX_REPLY_BYTES + 1)), ProtocolError, "exceeds the"),
    (_sends(p.frame(b"\xc1")), ProtocolError, "unreadable reply"),
    (_stalls, DaemonUnavailable, r"did not answer within 0.3s"),
], ids=["hang-up", "short header", "short body", "oversized", "not msgpack", "silent"])
def test_a_misbehaving_peer_is_named(
    peer: Callable[[Peer], Path], behave: Peer, error: type[Exception], match: str
) -> None:
    path = peer(behave)
    with pytest.raises(error, match=match):
        call_sync(p.StatusRequest(), path, timeout_s=0.3)


def test_no_daemon_is_named(tmp_path: Path) -> None:
    with pytest.raises(DaemonUnavailable, match=r"no shadowd at .*: is it running"):
        call_sync(p.StatusRequest(), tmp_path / "nobody.sock")


def test_a_stale_socket_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # bound, never listening, closed: a stale file
    with pytest.raises(DaemonUnavailable, match="refused the connection"):
        call_sync(p.StatusRequest(), path)
