"""Data-plane probes between lab routers, each in its own network namespace: a real tool
run with ``ip netns exec``, its output read by a pure parser.

- ``rtt`` (ping): round-trip propagation plus queueing delay, both ways, at probe time.
  A tc tbf shaper delays an echo only when its bucket lacks tokens: sparse MTU-sized pings
  never do, so they cannot tell 5 from 50 Mbit/s; queued traffic, or an echo bigger than
  the bucket (``size=30000`` leaves as 21 fragments), makes the rate show. iputils ping
  keeps about one echo in flight, so a short ``interval_s`` builds no queue either.
- ``throughput`` (iperf3 TCP): what one connection delivers (bytes received over the
  receiver's seconds), not the link capacity: slow start, the tbf burst and a busy CPU
  all shift it. ``max_bps`` caps the sending rate.
- ``loss`` (iperf3 UDP): the share of datagrams paced at ``offered_bps`` that never
  arrived, drops in the sender's own qdisc included, and the receiver's jitter.

iperf3 runs whole seconds. Each iperf3 probe starts a one-shot server in the destination
namespace, polls ``ss`` until it listens, runs the client and always reaps the server;
probes to the same namespace and port must not overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import re
import shutil
from collections.abc import AsyncIterator

import msgspec

from shadowd.core.errors import ShadowdError

PACKAGES = {"ip": "iproute2", "ss": "iproute2", "ping": "iputils-ping", "iperf3": "iperf3"}
_READY_TIMEOUT_S = 5.0
_PING_COUNTS = re.compile(r"(\d+) packets transmitted, (\d+) received")
_PING_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


class ProbeError(ShadowdError):
    """A probe could not measure: tool missing, namespace gone, server down, bad output."""

    def __init__(self, tool: str, namespace: str, reason: str):
        super().__init__(f"{tool} in {namespace}: {reason}" if namespace else f"{tool}: {reason}")
        self.tool = tool
        self.namespace = namespace
        self.reason = reason


class Rtt(msgspec.Struct, frozen=True, kw_only=True):
    src: str  # namespace the pings left from
    dst: str  # address pinged
    size: int  # ICMP payload bytes
    sent: int
    received: int
    loss_pct: float
    min_ms: float | None = None  # None when nothing came back
    avg_ms: float | None = None
    max_ms: float | None = None
    mdev_ms: float | None = None


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    src: str  # namespace of the iperf3 client (the sender)
    dst_ns: str  # namespace of the iperf3 server (the receiver)
    dst: str  # address the server listened on
    seconds: float  # as the receiver measured
    bytes: int  # delivered to the receiver
    bps: float  # delivered bits per second
    retransmits: int  # TCP retransmissions at the sender


class Loss(msgspec.Struct, frozen=True, kw_only=True):
    src: str
    dst_ns: str
    dst: str
    offered_bps: float  # the target iperf3 paced the datagrams at
    seconds: float
    sent: int  # datagrams
    lost: int  # sent but never received, including a lost tail iperf3 does not count
    loss_pct: float
    jitter_ms: float
    received_bps: float


# ---- pure parsing ----------------------------------------------------------------------


def parse_ping(text: str, *, src: str, dst: str, size: int) -> Rtt:
    """The summary of ``ping -q``: counts always, round trips when any reply came back."""
    counts = _PING_COUNTS.search(text)
    if counts is None:
        raise ProbeError("ping", src, f"no 'packets transmitted' summary in {text[-200:]!r}")
    sent, received = int(counts[1]), int(counts[2])
    rtt = _PING_RTT.search(text)
    if received and rtt is None:
        raise ProbeError("ping", src, f"{received} replies but no 'rtt min/avg/max' line")
    low, avg, high, mdev = (float(v) for v in rtt.groups()) if rtt else (None,) * 4
    return Rtt(src=src, dst=dst, size=size, sent=sent, received=received,
               loss_pct=_pct(sent - received, sent),
               min_ms=low, avg_ms=avg, max_ms=high, mdev_ms=mdev)


class _Sum(msgspec.Struct):
    seconds: float
    bytes: int
    bits_per_second: float
    retransmits: int = 0
    packets: int = 0
    lost_packets: int = 0
    jitter_ms: float = 0.0


class _End(msgspec.Struct):
    sum_sent: _Sum | None = None
    sum_received: _Sum | None = None


class _TestStart(msgspec.Struct):
    protocol: str
    target_bitrate: float = 0.0


class _Start(msgspec.Struct):
    test_start: _TestStart | None = None


class _Report(msgspec.Struct):
    start: _Start
    end: _End
    error: str | None = None


_REPORT = msgspec.json.Decoder(_Report)


def parse_iperf3_tcp(raw: bytes, *, src: str, dst_ns: str, dst: str) -> Throughput:
    """An iperf3 3.12 TCP client's ``-J`` report."""
    _, sent, received = _sums(raw, "TCP", src)
    return Throughput(src=src, dst_ns=dst_ns, dst=dst, seconds=received.seconds,
                      bytes=received.bytes, bps=received.bits_per_second,
                      retransmits=sent.retransmits)


def parse_iperf3_udp(raw: bytes, *, src: str, dst_ns: str, dst: str) -> Loss:
    """An iperf3 3.12 UDP client's ``-J`` report; the server's counts are under sum_received."""
    started, sent, received = _sums(raw, "UDP", src)
    arrived = received.packets - received.lost_packets
    lost = max(sent.packets - arrived, 0)
    return Loss(src=src, dst_ns=dst_ns, dst=dst, offered_bps=started.target_bitrate,
                seconds=received.seconds, sent=sent.packets, lost=lost,
                loss_pct=_pct(lost, sent.packets), jitter_ms=received.jitter_ms,
                received_bps=received.bits_per_second)


def _sums(raw: bytes, protocol: str, ns: str) -> tuple[_TestStart, _Sum, _Sum]:
    report = _decode(raw, ns)
    if report.error is not None:
        raise ProbeError("iperf3", ns, report.error)
    started = report.start.test_start
    if started is None or started.protocol != protocol:
        got = started.protocol if started else "no test_start"
        raise ProbeError("iperf3", ns, f"expected a {protocol} report, got {got}")
    if report.end.sum_sent is None or report.end.sum_received is None:
        raise ProbeError("iperf3", ns, "report has no end.sum_sent/end.sum_received")
    return started, report.end.sum_sent, report.end.sum_received


def _decode(raw: bytes, ns: str) -> _Report:
    try:
        return _REPORT.decode(raw)
    except msgspec.DecodeError as err:  # a ValidationError names the $.path
        raise ProbeError("iperf3", ns, f"unreadable -J report: {err}") from None


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def listening(ss_text: str, ip: str, port: int) -> bool:
    """Whether ``ss -ltnH`` output shows a listener on exactly ``ip:port``."""
    want = (ipaddress.ip_address(ip), str(port))
    return any(_listener(line) == want for line in ss_text.splitlines())


def _listener(ss_line: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, str] | None:
    """The local address and port of one ``ss -ltnH`` LISTEN line, if it names an address."""
    fields = ss_line.split()
    if len(fields) < 4 or fields[0] != "LISTEN":
        return None
    host, _, port = fields[3].rpartition(":")
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0]), port
    except ValueError:  # "*": any address, as ss shows an unbound IPv6 wildcard
        return None


# ---- the shell ----------------------------------------------------------------------------


async def rtt(ns: str, dst: str, *, count: int = 10, interval_s: float = 0.05,
              size: int = 56, wait_s: float = 1.0, timeout_s: float = 10.0) -> Rtt:
    """``count`` pings of ``size`` payload bytes from ``ns``; 100% loss is a result.

    ``wait_s``: how long ping lingers for replies after the last echo (``-W``);
    ``timeout_s``: the bound on the whole run."""
    _require("ping")
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", f"{interval_s:g}",
            "-s", str(size), "-W", f"{wait_s:g}", dst]
    rc, out, err = await _run(ns, argv, timeout_s=timeout_s)
    if rc not in (0, 1):  # 1: no reply at all; anything else: ping could not run
        raise ProbeError("ping", ns, f"exited {rc}: {_text(err)}")
    return parse_ping(out.decode(errors="replace"), src=ns, dst=dst, size=size)


async def throughput(src_ns: str, dst_ns: str, dst_ip: str, *, seconds: float = 2.0,
                     max_bps: float | None = None, port: int = 5201) -> Throughput:
    """One TCP flow of ``seconds`` from ``src_ns`` to an iperf3 server on ``dst_ip``."""
    rate = ["-b", str(int(max_bps))] if max_bps is not None else []
    raw = await _iperf3(src_ns, dst_ns, dst_ip, port=port, seconds=seconds, extra=rate)
    return parse_iperf3_tcp(raw, src=src_ns, dst_ns=dst_ns, dst=dst_ip)


async def loss(src_ns: str, dst_ns: str, dst_ip: str, *, offered_bps: float,
               seconds: float = 2.0, port: int = 5201) -> Loss:
    """UDP datagrams paced at ``offered_bps`` from ``src_ns`` to ``dst_ip``: how many vanish."""
    udp = ["-u", "-b", str(int(offered_bps))]
    raw = await _iperf3(src_ns, dst_ns, dst_ip, port=port, seconds=seconds, extra=udp)
    return parse_iperf3_udp(raw, src=src_ns, dst_ns=dst_ns, dst=dst_ip)


async def _iperf3(src_ns: str, dst_ns: str, dst_ip: str, *, port: int, seconds: float,
                  extra: list[str]) -> bytes:
    if seconds < 1 or seconds != math.floor(seconds):
        raise ValueError(f"iperf3 runs whole seconds (it truncates -t), not {seconds}")
    _require("iperf3")
    _require("ss")
    argv = ["iperf3", "-c", dst_ip, "-p", str(port), "-t", str(int(seconds)), "-J", *extra]
    async with _iperf3_server(dst_ns, dst_ip, port):
        rc, out, err = await _run(src_ns, argv, timeout_s=seconds + 15.0)
    if rc != 0 and not out.strip():  # with -J, 3.12 reports errors in the JSON, often rc 0
        raise ProbeError("iperf3", src_ns, f"client exited {rc}: {_text(err)}")
    return out


@contextlib.asynccontextmanager
async def _iperf3_server(ns: str, ip: str, port: int) -> AsyncIterator[None]:
    """A one-shot iperf3 server listening on ``ip:port`` in ``ns``, reaped on the way out."""
    argv = ["iperf3", "-s", "-1", "-J", "-B", ip, "-p", str(port)]
    proc = await _spawn(ns, argv)
    output = asyncio.create_task(proc.communicate(), name=f"iperf3-server-{ns}")
    try:
        await _until_listening(ns, ip, port, output)
        yield  # the client has its results once it exits: the server need not linger
    finally:
        if proc.returncode is None:
            proc.kill()
        with contextlib.suppress(Exception):
            await output


async def _until_listening(ns: str, ip: str, port: int,
                           server: asyncio.Task[tuple[bytes, bytes]]) -> None:
    pause = 0.01
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S):
            while not server.done():
                ss = ["ss", "-ltnH", f"sport = :{port}"]
                rc, out, err = await _run(ns, ss, timeout_s=_READY_TIMEOUT_S)
                if rc != 0:
                    raise ProbeError("ss", ns, _text(err))
                if listening(out.decode(), ip, port):
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.2)
    except TimeoutError:
        raise ProbeError("iperf3", ns, f"server not listening on {ip}:{port} after "
                         f"{_READY_TIMEOUT_S:g} s") from None
    raise ProbeError("iperf3", ns, f"server exited before listening: {_why(server.result())}")


def _why(output: tuple[bytes, bytes]) -> str:
    out, err = output
    with contextlib.suppress(msgspec.DecodeError):
        error = _REPORT.decode(out).error
        if error is not None:
            return error
    return _text(err or out)[-300:]


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace").strip()


async def _run(ns: str, argv: list[str], *, timeout_s: float) -> tuple[int, bytes, bytes]:
    proc = await _spawn(ns, argv)
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        raise ProbeError(argv[0], ns, f"no result within {timeout_s:g} s") from None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out, err


async def _spawn(ns: str, argv: list[str]) -> asyncio.subprocess.Process:
    """``argv`` in namespace ``ns``; ``ip netns exec`` execs it, so the pid is the tool's."""
    try:
        return await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, *argv,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError:
        raise ProbeError("ip", ns, "not installed: apt-get install iproute2") from None


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise ProbeError(tool, "", f"not installed: apt-get install {PACKAGES[tool]}")
