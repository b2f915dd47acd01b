"""Test and benchmark helpers: a small network's events, telemetry for it, a fake fsync."""

from __future__ import annotations

import threading

from shadowd.core.events import (
    AnyEvent,
    DemandSet,
    LinkAdded,
    LinkStatus,
    LinkUtilization,
    RouterAdded,
    RouterHealth,
)

TS0 = 1_700_000_000.0


def ring(routers: int, *, source: str = "topology") -> list[AnyEvent]:
    """Routers ``r0..rN-1`` joined in a ring by links ``l0..lN-1``, and a few demands."""
    names = [f"r{i}" for i in range(routers)]
    events: list[AnyEvent] = [
        RouterAdded(source=source, seq=i + 1, ts=TS0, router=name) for i, name in enumerate(names)
    ]
    for i, name in enumerate(names):
        events.append(LinkAdded(
            source=source, seq=len(events) + 1, ts=TS0, link=f"l{i}", a=name,
            b=names[(i + 1) % routers], metric=10 + i % 7, capacity_bps=10e9,
        ))
    for i in range(0, routers - 1, 2):
        events.append(DemandSet(
            source=source, seq=len(events) + 1, ts=TS0, src=names[i], dst=names[i + 1],
            rate_bps=1e8 * (i + 1),
        ))
    return events


def telemetry(count: int, routers: int, *, source: str = "collector",
              first_seq: int = 1) -> list[AnyEvent]:
    """Counters for a ``ring(routers)``: mostly link utilisation, some health and status."""
    return [_sample(seq, routers, source) for seq in range(first_seq, first_seq + count)]


def _sample(seq: int, routers: int, source: str) -> AnyEvent:
    ts, i = TS0 + seq * 0.01, seq % routers
    if seq % 50 == 0:
        return RouterHealth(source=source, seq=seq, ts=ts, router=f"r{i}", up=True,
                            cpu_pct=float(seq % 100), mem_pct=40.0)
    if seq % 97 == 0:
        return LinkStatus(source=source, seq=seq, ts=ts, link=f"l{i}", up=seq % 2 == 0)
    return LinkUtilization(source=source, seq=seq, ts=ts, link=f"l{i}",
                           ab_bps=1e9 + seq % 1000 * 1e6, ba_bps=5e8 + seq % 777 * 1e6,
                           drops=seq % 3)


class FakeFsync:
    """Stands in for ``os.fsync``: counts calls, and can be held shut to watch what waits."""

    def __init__(self) -> None:
        self.fds: list[int] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, fd: int) -> None:
        self.entered.set()
        self.gate.wait()
        self.fds.append(fd)

    @property
    def calls(self) -> int:
        return len(self.fds)
