"""Experiment: metric schemes on SNDlib germany50 -> one table (issue 3).

germany50 has demands but no capacities, so links are provisioned the way a planner
would: each gets the smallest SDH module (155M, 622M, 2.5G, 10G) that keeps its
shortest-path (km) load under 50%. Then hop, inverse-capacity (reference 100 Gbit/s, the default),
latency (link km) and weights optimised for the single-link-failure worst case are
compared: max utilisation with no failure, worst-case max utilisation over all single
link failures, and the traffic-weighted mean expected latency.

    python -m bench.engine_schemes [--budget N] [--seed S]

Prints one JSON document whose "table" is Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np

from shadowd.core.state import State
from shadowd.engine.loads import route
from shadowd.engine.network import Network, demand_matrix
from shadowd.engine.optimize import compare_schemes, table
from tests.fakes.engine import topohub_state

NETWORK = "sndlib/germany50"
MODULES = (155.52e6, 622.08e6, 2.48832e9, 9.95328e9)


def provision(state: State, target: float = 0.5) -> State:
    """Give each link the smallest module that keeps its base (igp) load under ``target``."""
    net = Network.from_state(state)
    load = route(net, demand_matrix(state, net)).load
    per_link = np.maximum(load[0::2], load[1::2])
    out = state.fork()
    for k, link in enumerate(net.link_ids):
        need = per_link[k] / target
        out.links[link].capacity_bps = next((m for m in MODULES if m >= need), MODULES[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    state, km = topohub_state(NETWORK)
    state = provision(state)
    t = time.perf_counter()
    scores = compare_schemes(state, km, budget=args.budget, seed=args.seed)
    report = {
        "experiment": "engine_schemes",
        "network": NETWORK,
        "reference_bps_inverse_capacity": 100e9,
        "seconds": round(time.perf_counter() - t, 1),
        "rows": [dataclasses.asdict(s) for s in scores],
        "table": table(scores),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
