"""The socket file and the peer on the other end: bind, permissions, stale files, creds.

The file gets its mode and group between ``bind()`` and ``listen()``, so no client can
connect through looser permissions in between.
"""

from __future__ import annotations

import errno
import grp
import os
import socket
import stat
import struct
from pathlib import Path
from typing import Final

from shadowd.control.errors import ControlError, SocketInUse
from shadowd.control.service import Peer

_UCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid
_SO_PEERGROUPS: Final = getattr(socket, "SO_PEERGROUPS", 59)  # Linux >= 4.13
_MAX_PEER_GROUPS: Final = 256  # CPython caps getsockopt buffers at 1024 bytes
_LIVE_ERRNOS: Final = (0, errno.EAGAIN)  # accepted into the backlog, or backlog full


def bind_socket(path: Path, *, mode: int, gid: int | None) -> socket.socket:
    """A bound, not yet listening, non-blocking Unix socket at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        _bind(sock, path)
        os.chmod(path, mode)
        if gid is not None:
            os.chown(path, -1, gid)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _bind(sock: socket.socket, path: Path) -> None:
    try:
        sock.bind(str(path))
    except OSError as err:
        if err.errno == errno.EADDRINUSE:  # another daemon bound it since we looked
            raise SocketInUse(str(path)) from None
        raise


def remove_stale(path: Path) -> None:
    """Remove a socket file nobody listens on; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlError(f"{path} exists and is not a socket; refusing to replace it")
    if answers(path):
        raise SocketInUse(str(path))
    path.unlink(missing_ok=True)


def answers(path: Path) -> bool:
    """Whether something listens on the Unix socket at ``path`` (never blocks)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        return probe.connect_ex(str(path)) in _LIVE_ERRNOS
    finally:
        probe.close()


def file_identity(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def remove_if_ours(path: Path, identity: tuple[int, int]) -> None:
    """Unlink ``path`` unless another daemon has since replaced it with its own socket."""
    try:
        if file_identity(path) == identity:
            path.unlink()
    except FileNotFoundError:
        pass


def group_id(group: str | int) -> int:
    if isinstance(group, int):
        return group
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ControlError(f"unknown group {group!r} for the control socket") from None


def peer_of(sock: socket.socket) -> Peer:
    """The connecting process's credentials, as the kernel recorded them at connect()."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return Peer(pid=pid, uid=uid, gid=gid, groups=_peer_groups(sock))


def _peer_groups(sock: socket.socket) -> frozenset[int]:
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, _SO_PEERGROUPS, 4 * _MAX_PEER_GROUPS)
    except OSError:  # an old kernel, or more groups than we asked room for
        return frozenset()
    return frozenset(struct.unpack(f"{len(raw) // 4}I", raw))
