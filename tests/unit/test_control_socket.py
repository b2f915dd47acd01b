"""The socket file and who may use it: mode, group, stale files, peer credentials."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shadowd.control import protocol as p
from shadowd.control.client import ControlClient, call_once
from shadowd.control.errors import ControlError, SocketInUse
from shadowd.control.server import ControlServer, running
from tests.fakes.control import FakeService
from tests.unit.samples import SAMPLES

NOBODY = 65534
OPERATORS = 4242  # a group no account on the machine needs to exist for

# Starts as root (the interpreter lives under /root), drops to another user, asks for
# status and prints the error code, or "ok".
CLIENT = """
import asyncio, os, sys
from shadowd.control.client import ControlClient
from shadowd.control.protocol import ErrorReply, StatusRequest

path, uid, gid, *groups = sys.argv[1:]
os.setgroups([int(g) for g in groups])
os.setgid(int(gid))
os.setuid(int(uid))

async def main() -> None:
    async with ControlClient(path, timeout_s=30) as client:
        reply = await client.exchange(StatusRequest())
    print(reply.code if isinstance(reply, ErrorReply) else "ok")

asyncio.run(main())
"""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching uid needs root")


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory any user may reach, unlike pytest's tmp_path (0700, owned by root)."""
    path = Path(tempfile.mkdtemp(prefix="shadowd-ctl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def status_as(path: Path, *, uid: int, gid: int, groups: tuple[int, ...] = ()) -> str:
    argv = [sys.executable, "-c", CLIENT, str(path), str(uid), str(gid), *map(str, groups)]
    done = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def server(path: Path, **options: object) -> ControlServer:
    return ControlServer(path, FakeService(SAMPLES), **options)  # type: ignore[arg-type]


# --- the file ---------------------------------------------------------------------------


async def test_socket_mode_is_0660(tmp_path: Path) -> None:
    async with running(server(tmp_path / "s")) as srv:
        st = os.lstat(srv.path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660


async def test_socket_group_is_set_when_configured(tmp_path: Path) -> None:
    async with running(server(tmp_path / "s", group=OPERATORS)) as srv:
        assert os.lstat(srv.path).st_gid == OPERATORS


async def test_missing_parent_directory_is_created(tmp_path: Path) -> None:
    async with running(server(tmp_path / "run" / "shadowd" / "s")) as srv:
        assert (await call_once(p.StatusRequest(), srv.path, timeout_s=10)).seq == 13


async def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(path))  # a crashed daemon's leftover: a file nobody listens on
    async with running(server(path)) as srv:
        assert (await call_once(p.StatusRequest(), srv.path, timeout_s=10)).seq == 13


async def test_a_live_daemon_socket_is_not_stolen(tmp_path: Path) -> None:
    async with running(server(tmp_path / "s")) as first:
        second = server(tmp_path / "s")
        with pytest.raises(SocketInUse):
            await second.serve()
        with pytest.raises(SocketInUse):
            await second.wait_bound()
        assert (await call_once(p.StatusRequest(), first.path, timeout_s=10)).seq == 13


async def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.write_text("precious")
    with pytest.raises(ControlError, match="not a socket"):
        await server(path).serve()
    assert path.read_text() == "precious"


async def test_the_socket_file_is_removed_on_stop(tmp_path: Path) -> None:
    srv = server(tmp_path / "s")
    async with running(srv):
        assert srv.bound
    assert not srv.bound
    assert not srv.path.exists()


async def test_stopping_ends_open_connections(tmp_path: Path) -> None:
    async with running(server(tmp_path / "s")) as srv:
        client = ControlClient(srv.path)
        await client.connect()
        await client.call(p.StatusRequest())
    reader = client._reader
    assert reader is not None
    async with asyncio.timeout(30):  # a hang guard, not a timing assertion
        assert await reader.read() == b""
    await client.close()


async def test_a_successors_socket_is_not_removed(tmp_path: Path) -> None:
    srv = server(tmp_path / "s")
    async with running(srv):
        srv.path.unlink()
        with socket.socket(socket.AF_UNIX) as successor:
            successor.bind(str(srv.path))
    assert srv.path.exists()


# --- peer credentials --------------------------------------------------------------------


@needs_root
async def test_a_disallowed_uid_is_refused(public_dir: Path) -> None:
    # Mode 0666: the file lets anyone connect, so the refusal must come from SO_PEERCRED.
    async with running(server(public_dir / "s", mode=0o666)) as srv:
        assert await status_as(srv.path, uid=NOBODY, gid=NOBODY) == p.FORBIDDEN
        assert (await call_once(p.StatusRequest(), srv.path, timeout_s=10)).seq == 13


@needs_root
async def test_an_allowed_uid_is_answered(public_dir: Path) -> None:
    async with running(server(public_dir / "s", mode=0o666, allowed_uids=[NOBODY])) as srv:
        assert await status_as(srv.path, uid=NOBODY, gid=NOBODY) == "ok"


@needs_root
async def test_a_supplementary_group_is_allowed(public_dir: Path) -> None:
    async with running(server(public_dir / "s", mode=0o666, allowed_gids=[OPERATORS])) as srv:
        assert await status_as(srv.path, uid=NOBODY, gid=NOBODY) == p.FORBIDDEN
        reply = await status_as(srv.path, uid=NOBODY, gid=NOBODY, groups=(OPERATORS,))
        assert reply == "ok"


@needs_root
async def test_members_of_the_socket_group_are_allowed(public_dir: Path) -> None:
    async with running(server(public_dir / "s", group=OPERATORS)) as srv:  # mode 0660
        reply = await status_as(srv.path, uid=NOBODY, gid=NOBODY, groups=(OPERATORS,))
        assert reply == "ok"
