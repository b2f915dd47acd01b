"""``make bench``: every benchmark in turn, each in its own process, each printing JSON.

``python -m bench`` runs them all; ``python -m bench log_bench engine_pyntm`` runs some.
A fresh process per benchmark keeps one's memory and warm caches out of the next.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Final

BENCHMARKS: Final = (
    "log_bench", "pipeline_bench", "kafka_e2e", "agent_wire", "engine_pyntm", "engine_scale",
    "engine_schemes", "lab_bench", "predict_bench", "spike_path", "startup", "analyze_output",
    "estimate_accuracy", "estimate_speed",
)


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {BENCHMARKS}",
              file=sys.stderr)
        return 2
    failed = 0
    for name in chosen:
        print(f"# bench.{name}", file=sys.stderr, flush=True)
        failed |= subprocess.run([sys.executable, "-m", f"bench.{name}"], check=False).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
