"""Benchmark: FRR labs of real networks (topohub's SNDlib GEANT, 22 routers, and
germany50, 50 routers), under OSPF and under IS-IS.

Measures, per network and IGP: the kernel build (namespaces, veths, addresses, tc) and
the whole bring-up to full RIB agreement with the model; memory per router (RSS and PSS
of its FRR daemons, and the fall in the machine's MemAvailable over the lab, which also
counts the kernel's share); then a failure drill (5 links and 2 routers fail and come
back, one at a time), each step's convergence time to 100% agreement.

Baseline, in the same run: the same kernel build done the way shell scripts do it, one
``ip``/``tc`` process per operation (the agent's FRR test builds its lab like that).

    python -m bench.lab_bench [--networks sndlib/germany50 ...] [--igps ospf isis]

Prints one JSON document. Target (issue 5): 50 routers up and agreeing in <= 60 s, <= 30
MB per router. Needs root and FRR; without them it prints why and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from shadowd.core.igp import Igp
from shadowd.core.state import State, fold
from shadowd.engine.incremental import Engine, next_hop_links
from shadowd.lab import cleanup
from shadowd.lab.availability import LabUnavailable, check_available
from shadowd.lab.lab import Lab
from shadowd.lab.netlink import Netlink
from shadowd.lab.plan import LabPlan, LabSettings, plan
from shadowd.services.drill import failure_drill, run_steps
from shadowd.topology import topohub_topology

LAB_ID = "bench"
TARGET_S, TARGET_MB, TARGET_ROUTERS = 60.0, 30.0, 50


def _mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


async def _kernel_build_netlink(target: LabPlan) -> float:
    nl = Netlink()
    start = time.perf_counter()
    for router in target.routers.values():
        await nl.create(router.ns, router.loopback)
    for link in target.links.values():
        await nl.add_link(link, target.routers[link.a].ns, target.routers[link.b].ns)
    took = time.perf_counter() - start
    await nl.close()
    return took


def _kernel_build_ip(target: LabPlan) -> float:
    def sh(*cmd: str) -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    start = time.perf_counter()
    for r in target.routers.values():
        sh("ip", "netns", "add", r.ns)
        sh("ip", "netns", "exec", r.ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        sh("ip", "-n", r.ns, "link", "set", "lo", "up")
        sh("ip", "-n", r.ns, "addr", "add", f"{r.loopback}/32", "dev", "lo")
    for lk in target.links.values():
        a, b = target.routers[lk.a].ns, target.routers[lk.b].ns
        sh("ip", "-n", a, "link", "add", lk.ifname, "type", "veth", "peer", "name", lk.ifname,
           "netns", b)
        for ns, addr in ((a, lk.a_addr), (b, lk.b_addr)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/31", "dev", lk.ifname)
            sh("tc", "-n", ns, "qdisc", "add", "dev", lk.ifname, "root", "tbf", "rate",
               f"{int(lk.rate_bps)}bit", "burst", "3200", "latency", "50ms")
            sh("ip", "-n", ns, "link", "set", lk.ifname, "up")
    return time.perf_counter() - start


async def _kernel_builds(state: State) -> dict[str, float]:
    target = plan(state, LabSettings(lab_id=LAB_ID))
    await cleanup.purge(LAB_ID)
    netlink_s = await _kernel_build_netlink(target)
    await cleanup.purge(LAB_ID)
    ip_s = await asyncio.to_thread(_kernel_build_ip, target)
    await cleanup.purge(LAB_ID)
    return {"pyroute2_s": round(netlink_s, 3), "ip_commands_s": round(ip_s, 3),
            "speedup": round(ip_s / netlink_s, 1)}


async def _bring_up(state: State, igp: Igp) -> dict[str, Any]:
    await cleanup.purge(LAB_ID)
    lab = Lab(LabSettings(lab_id=LAB_ID, igp=igp))
    free_before = _mem_available()
    start = time.monotonic()
    try:
        await lab.up(state)
        built = time.monotonic() - start
        done = await lab.converge(next_hop_links(Engine(state)), since=start, timeout_s=180.0)
        memory = lab.memory()
        free_after = _mem_available()
        steps = await run_steps(lab, state, failure_drill(state), timeout_s=90.0)
    finally:
        await lab.down()
    n = len(state.routers)
    up_s = round(done.seconds, 2)
    rss = statistics.mean(m[0] for m in memory.values()) / 1e6
    pss = statistics.mean(m[1] for m in memory.values()) / 1e6
    return {
        "routers": n, "links": len(state.links), "built_s": round(built, 2),
        "up_to_full_agreement_s": up_s, "agreement": done.report.agreement,
        "routes": done.report.routes,
        "rss_mb_per_router": round(rss, 1), "pss_mb_per_router": round(pss, 1),
        "memavailable_drop_mb_per_router": round((free_before - free_after) / n / 1e6, 1),
        "drill": [{"step": s.name, "converged": s.converged, "seconds": s.seconds,
                   "agreement": s.agreement} for s in steps],
        "drill_all_converged": all(s.converged for s in steps),
        "drill_median_s": statistics.median(s.seconds for s in steps),
        "drill_max_s": max(s.seconds for s in steps),
        "target_met": None if n < TARGET_ROUTERS else (
            done.converged and up_s <= TARGET_S and rss <= TARGET_MB),
    }


async def _main(networks: list[str], igps: list[Igp]) -> dict[str, Any]:
    out: dict[str, Any] = {"targets": {"bring_up_s": TARGET_S, "mb_per_router": TARGET_MB,
                                       "routers": TARGET_ROUTERS}}
    for network in networks:
        state = fold(topohub_topology(network))
        entry: dict[str, Any] = {"kernel_build": await _kernel_builds(state)}
        for igp in igps:
            entry[igp] = await _bring_up(state, igp)
        out[network] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.lab_bench")
    parser.add_argument("--networks", nargs="+", default=["sndlib/geant", "sndlib/germany50"])
    parser.add_argument("--igps", nargs="+", choices=("ospf", "isis"), default=["ospf", "isis"])
    args = parser.parse_args()
    try:
        check_available()
    except LabUnavailable as err:
        print(json.dumps({"skipped": str(err)}))
        return
    print(json.dumps(asyncio.run(_main(args.networks, args.igps)), indent=1))


if __name__ == "__main__":
    main()
