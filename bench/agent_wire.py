"""Bytes on the wire: the agent's steady-state deltas per poll, as a share of a snapshot.

    python -m bench.agent_wire [--days N] [--topology KEY] [--format msgpack|json]

Prints one JSON document. The agent follows the GEANT trace (``builtin:geant``: the
traffic matrix and every link's counters change every 5-minute interval, with a few link
flaps), one poll per interval. For each deadband setting it reports the delta bytes
(delta batches and digests) per interval against the bytes of one full ``Snapshot`` of
the same view, and checks that a consumer folding the stream ends on the agent's view
(within the band, it is the *sent* view the digests prove). The issue's target is 1 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from shadowd.agent.core import AgentCore, AgentSettings
from shadowd.agent.view import view_digest
from shadowd.cli.agent import trace_reader
from shadowd.core.diff import Deadband
from shadowd.core.events import tag_of
from shadowd.core.wire import DeltaBatch, Format, encode_message
from tests.fakes.agent import StreamFolder

BANDS = (0.0, 0.01, 0.05, 0.10)


async def measure(topology: str, days: int, fmt: Format, band: float,
                  links_only: bool) -> dict[str, Any]:
    reader = trace_reader(f"builtin:{topology}", days=days, seed=1)
    deadband = Deadband(util=band, demand=band)
    core = AgentCore(AgentSettings(source="bench", fmt=fmt, deadband=deadband,
                                   digest_every_events=0, digest_every_s=3600.0))
    folder = StreamFolder()
    shares, delta_bytes, events = [], [], []
    by_type: dict[str, int] = {}
    now = 0.0
    while True:
        state = await reader.poll(now)
        if reader.done:
            break
        if links_only:
            state.demands = {}
        outbox = core.start(state, now) if now == 0.0 else core.observe(state, now)
        payloads = [encode_message(m, fmt) for m in outbox.messages]
        for m in outbox.messages:
            folder.feed(m)
        if now > 0.0:
            snap = core.resync_preview(now)
            size = sum(map(len, payloads))
            shares.append(size / len(encode_message(snap, fmt)))
            delta_bytes.append(size)
            events.append(outbox.events)
            for m in outbox.messages:
                if isinstance(m, DeltaBatch):
                    for e in m.events:
                        by_type[tag_of(e)] = by_type.get(tag_of(e), 0) + 1
        now += 300.0
    snapshot_bytes = len(encode_message(core.resync_preview(now), fmt))
    return {
        "deadband": band,
        "intervals": len(shares),
        "snapshot_bytes": snapshot_bytes,
        "delta_bytes_per_interval_median": statistics.median(delta_bytes),
        "share_of_snapshot_median_pct": round(100 * statistics.median(shares), 3),
        "share_of_snapshot_mean_pct": round(100 * statistics.fmean(shares), 3),
        "share_of_snapshot_p95_pct": round(100 * sorted(shares)[int(0.95 * len(shares))], 3),
        "events_per_interval_median": statistics.median(events),
        "events_by_type": by_type,
        "consumer_agrees": view_digest(folder.state) == core.view_digest()
        and not folder.digest_mismatches,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--topology", default="geant")
    parser.add_argument("--format", choices=("msgpack", "json"), default="msgpack")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs = {}
    for links_only in (False, True):
        name = "links_only" if links_only else "links_and_demands"
        runs[name] = [asyncio.run(measure(args.topology, args.days, args.format, band,
                                          links_only)) for band in BANDS]
    print(json.dumps({
        "benchmark": "agent_wire", "topology": args.topology, "days": args.days,
        "format": args.format, "interval_s": 300, "target_pct": 1.0, "runs": runs,
        "seconds": round(time.perf_counter() - started, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
