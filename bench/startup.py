"""How fast the commands an operator types start: whole processes, as a shell runs them.

    python -m bench.startup [--runs N]

Prints one JSON document: the median and p90 wall time of N runs each of ``python -c
pass`` (the floor, measured in the same run), ``shadowd --help``, ``shadowctl --help`` and
``shadowctl status`` against a real daemon (a shadowd with no sources, started here on a
temporary state dir and stopped afterwards), and what each adds to the floor. Targets (the
issue's): ``shadowctl status`` round trip <= 100 ms, ``shadowd --help`` <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

BIN: Final = Path(sys.executable).parent
TARGETS_S: Final = {"shadowd --help": 0.150, "shadowctl status": 0.100}
CONFIG: Final = """
[control]
socket = "{socket}"
[logging]
format = "json"
level = "warning"
"""


def timed(cmd: list[str], runs: int) -> dict[str, float]:
    """Median and p90 seconds of ``runs`` runs of ``cmd``, after one warm-up run."""
    subprocess.run(cmd, capture_output=True, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {"median_s": statistics.median(samples),
            "p90_s": samples[min(len(samples) - 1, int(0.9 * len(samples)))]}


def start_daemon(directory: Path) -> tuple[subprocess.Popen[bytes], Path]:
    socket = directory / "shadowd.sock"
    config = directory / "shadowd.toml"
    config.write_text(CONFIG.format(socket=socket))
    cmd = [str(BIN / "shadowd"), "run", "--config", str(config),
           "--state-dir", str(directory / "state")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = [str(BIN / "shadowctl"), "--socket", str(socket), "status"]
    deadline = time.monotonic() + 60.0
    while subprocess.run(status, capture_output=True, check=False).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"shadowd did not answer (exit {proc.poll()})")
        time.sleep(0.05)
    return proc, socket


def measure(runs: int) -> dict[str, Any]:
    floor = timed([sys.executable, "-c", "pass"], runs)
    rows = {
        "shadowd --help": timed([str(BIN / "shadowd"), "--help"], runs),
        "shadowctl --help": timed([str(BIN / "shadowctl"), "--help"], runs),
    }
    with tempfile.TemporaryDirectory(prefix="shadowd-startup-") as tmp:
        proc, socket = start_daemon(Path(tmp))
        try:
            rows["shadowctl status"] = timed(
                [str(BIN / "shadowctl"), "--socket", str(socket), "status"], runs)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    for name, row in rows.items():
        row["over_python_s"] = row["median_s"] - floor["median_s"]
        if name in TARGETS_S:
            row["target_s"] = TARGETS_S[name]
            row["met"] = row["median_s"] <= TARGETS_S[name]
    return {"benchmark": "startup", "runs": runs, "cpus": os.cpu_count(),
            "python -c pass": floor, **rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    args = parser.parse_args()
    print(json.dumps(measure(args.runs), indent=1))


if __name__ == "__main__":
    main()
