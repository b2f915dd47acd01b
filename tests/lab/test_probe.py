"""Lab probes against real ping and iperf3 between two namespaces joined by one veth pair,
shaped by tc tbf on the prb-a -> prb-b side. Every check compares two measurements taken
in the same test, never against the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from shadowd.lab.probe import ProbeError, listening, loss, rtt, throughput

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("iperf3") is None,
                       reason="needs root and iperf3 (make sysdeps)"),
]

A, B = "prb-a", "prb-b"
A_LO, B_LO = "10.255.0.1", "10.255.0.2"
FAST, SLOW = 50_000_000, 5_000_000

Shape = Callable[[int], None]


def ip(*argv: str) -> str:
    return subprocess.run(["ip", *argv], check=True, capture_output=True, text=True).stdout


def pids(ns: str) -> list[int]:
    return [int(pid) for pid in ip("netns", "pids", ns).split()]


def purge() -> None:
    """Remove every prb-* namespace and whatever still runs in it, left by any run."""
    for line in ip("netns", "list").splitlines():
        ns = line.split()[0]
        if not ns.startswith("prb-"):
            continue
        for pid in pids(ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        ip("netns", "del", ns)


def build() -> None:
    ip("netns", "add", A)
    ip("netns", "add", B)
    ip("link", "add", "veth-a", "netns", A, "type", "veth", "peer", "name", "veth-b",
       "netns", B)
    for ns, dev, link_ip, lo_ip, peer_link, peer_lo in [
            (A, "veth-a", "10.99.0.1", A_LO, "10.99.0.2", B_LO),
            (B, "veth-b", "10.99.0.2", B_LO, "10.99.0.1", A_LO)]:
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", f"{lo_ip}/32", "dev", "lo")
        ip("-n", ns, "addr", "add", f"{link_ip}/30", "dev", dev)
        ip("-n", ns, "link", "set", dev, "up")
        ip("-n", ns, "route", "add", f"{peer_lo}/32", "via", peer_link)


def shape(rate_bps: int) -> None:
    subprocess.run(["tc", "-n", A, "qdisc", "replace", "dev", "veth-a", "root", "tbf",
                    "rate", f"{rate_bps}bit", "burst", "16kb", "latency", "50ms"],
                   check=True, capture_output=True)


@pytest.fixture
def pair() -> Iterator[Shape]:
    """prb-a and prb-b, loopbacks routed over one veth pair; yields the a->b shaper."""
    purge()
    try:
        build()
        shape(FAST)
        yield shape
    finally:
        purge()


async def test_rtt_between_loopbacks_loses_nothing(pair: Shape) -> None:
    there = await rtt(A, B_LO)
    back = await rtt(B, A_LO, count=5)
    assert (there.sent, there.received, there.loss_pct) == (10, 10, 0.0)
    assert (back.sent, back.received, back.loss_pct) == (5, 5, 0.0)
    assert there.avg_ms is not None
    assert there.min_ms is not None
    assert there.max_ms is not None
    assert 0 <= there.min_ms <= there.avg_ms <= there.max_ms


async def test_lower_rate_lowers_tcp_throughput(pair: Shape) -> None:
    fast = await throughput(A, B, B_LO)
    pair(SLOW)
    slow = await throughput(A, B, B_LO)
    assert slow.bps < 0.5 * fast.bps
    assert slow.bps < 2 * SLOW  # the shaper is a ceiling whatever the machine's load
    assert pids(A) == pids(B) == []  # client done, one-shot server reaped


async def test_lower_rate_raises_rtt_of_echoes_larger_than_the_bucket(pair: Shape) -> None:
    # A 30000-byte echo leaves as 21 back-to-back fragments, ~14 KB more than the 16 KB
    # bucket holds, so it waits for tokens: ten times longer at a tenth of the rate.
    # 1400-byte echoes do not show the rate at all: the bucket refills between them.
    fast = await rtt(A, B_LO, interval_s=0.1, size=30000)
    pair(SLOW)
    slow = await rtt(A, B_LO, interval_s=0.1, size=30000)
    assert fast.avg_ms is not None
    assert slow.avg_ms is not None
    assert slow.avg_ms > 3 * fast.avg_ms
    assert slow.loss_pct == fast.loss_pct == 0.0


async def test_udp_over_the_shaped_rate_loses_and_under_it_does_not(pair: Shape) -> None:
    pair(SLOW)
    over = await loss(A, B, B_LO, offered_bps=4 * SLOW)
    under = await loss(A, B, B_LO, offered_bps=SLOW / 5)
    assert over.loss_pct > 30
    assert over.received_bps < 0.5 * over.offered_bps
    assert under.loss_pct < 2
    assert under.sent > 0


async def test_server_on_a_foreign_address_names_namespace_and_cause(pair: Shape) -> None:
    with pytest.raises(ProbeError, match=r"iperf3 in prb-b: .*Cannot assign requested address"):
        await throughput(A, B, "10.255.0.77")
    assert pids(B) == []


async def test_missing_namespace_is_a_probe_error(pair: Shape) -> None:
    with pytest.raises(ProbeError, match="ping in prb-nowhere: exited 255"):
        await rtt("prb-nowhere", B_LO, count=1)


async def test_cancelled_probe_kills_its_server(pair: Shape) -> None:
    probe = asyncio.create_task(throughput(A, B, B_LO, seconds=30), name="probe")
    async with asyncio.timeout(30):
        while True:
            if listening(await asyncio.to_thread(ip, "netns", "exec", B, "ss", "-ltnH"),
                         B_LO, 5201):
                break
            await asyncio.sleep(0.05)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert pids(A) == pids(B) == []
