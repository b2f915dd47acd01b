"""``shadowd analyze`` on AS-scale networks: output size and peak memory of each output.

    python -m bench.analyze_output [--networks KEY ...] [--pops 40] [--shadowd PATH]

Prints one JSON document. For each topohub network (default CAIDA AS 3356 and AS 7018)
it picks ``--pops`` routers (seeded) and a demand between every ordered pair of them
(0.1-1 Gbit/s each), then runs a single-link sweep three ways, each a whole process:
the human tables (the baseline: the sweep's own cost), ``--json`` (the summary) and
``--detail`` (JSON lines, counted as they stream and thrown away). Per run: bytes
written, lines, peak RSS and wall time. Targets (the issue's): summary <= 5 MB and peak
RSS <= 400 MB; ``--detail``'s peak RSS within 1.5x the summary's. ``--shadowd`` measures
another build (an older one without ``--detail`` gets a ``null`` there).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from shadowd.core.events import RouterAdded
from shadowd.topology import topohub_topology

NETWORKS: Final = ("caida/2024-08/3356", "caida/2024-08/7018")
SUMMARY_BYTES: Final = 5 * 2**20
SUMMARY_RSS: Final = 400 * 2**20
DETAIL_OVER_SUMMARY: Final = 1.5


def write_demands(key: str, pops: int, seed: int, path: Path) -> int:
    routers = sorted(e.router for e in topohub_topology(key) if isinstance(e, RouterAdded))
    rng = random.Random(seed)
    chosen = rng.sample(routers, min(pops, len(routers)))
    lines = [f"{s},{d},{rng.uniform(0.1e9, 1e9):.0f}" for s in chosen for d in chosen if s != d]
    path.write_text("src,dst,rate\n" + "\n".join(lines) + "\n")
    return len(lines)


def run(cmd: list[str]) -> dict[str, Any]:
    """One whole process: what it wrote to stdout (counted, not kept), its peak RSS."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr)
        assert proc.stdout is not None
        size = lines = 0
        while chunk := proc.stdout.read(1 << 20):
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, status, usage = os.wait4(proc.pid, 0)
        stderr.seek(0)
        error = stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"exit": proc.returncode, "stderr": error.strip()[-300:]}
    return {"bytes": size, "lines": lines, "peak_rss_bytes": usage.ru_maxrss * 1024,
            "seconds": round(time.perf_counter() - start, 2)}


def measure(shadowd: str, key: str, pops: int, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shadowd-analyze-") as tmp:
        demands = Path(tmp) / "demands.csv"
        count = write_demands(key, pops, seed, demands)
        base = [shadowd, "analyze", "--topology", f"topohub:{key}", "--demands", str(demands),
                "--failures", "links"]
        out: dict[str, Any] = {"network": key, "demands": count}
        out["tables"] = run(base)
        out["json"] = run([*base, "--json"])
        detail = run([*base, "--detail"])
        out["detail"] = detail if "bytes" in detail else None
    out["targets"] = _targets(out["json"], out["detail"])
    return out


def _targets(summary: dict[str, Any], detail: dict[str, Any] | None) -> dict[str, Any]:
    if "bytes" not in summary:
        return {}
    met = {
        "summary_bytes_le_5mb": summary["bytes"] <= SUMMARY_BYTES,
        "summary_rss_le_400mb": summary["peak_rss_bytes"] <= SUMMARY_RSS,
    }
    if detail is not None:
        ratio = detail["peak_rss_bytes"] / summary["peak_rss_bytes"]
        met["detail_rss_over_summary"] = round(ratio, 3)
        met["detail_rss_le_1.5x"] = ratio <= DETAIL_OVER_SUMMARY
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), metavar="KEY")
    parser.add_argument("--pops", type=int, default=40, help="routers with demands")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shadowd", default=str(Path(sys.executable).parent / "shadowd"),
                        help="the shadowd to measure (default: this venv's)")
    args = parser.parse_args()
    results = [measure(args.shadowd, key, args.pops, args.seed) for key in args.networks]
    print(json.dumps({"benchmark": "analyze_output", "pops": args.pops, "seed": args.seed,
                      "results": results}, indent=1))


if __name__ == "__main__":
    main()
