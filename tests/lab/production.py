"""A "production" network for the policy tests: five FRR routers (OSPF) built by the lab
under its own lab id, read by the real FRR agent (``shadowd agent``, a subprocess) and
published over a real mosquitto; the demands, which no agent reads, come from a second
source (``demands``) through the same broker. shadowd (a subprocess) follows both.

The network: r1--r2, r1--r3, r2--r3, r1--r4, r4--r5, r2--r5; every link 10 Gbit/s (the
veths' speed, as the agent reads it), every OSPF cost 10.

r1->r2 (6 Gbit/s) goes direct; when r1--r2 fails it detours over r1->r3->r2 (cost 20;
r1->r4->r5->r2 costs 30), where r4->r3 (2.5 Gbit/s, over r4->r1->r3) already runs: 85 %
on r1->r3 (and r3->r1 likewise for the reverse demands), over the 0.8 target. Raising
r1--r3's cost splits both over the long way round.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final, Self

import aiomqtt

from shadowd.agent.frr import link_id
from shadowd.core.events import AnyEvent, DemandSet, LinkAdded, RouterAdded
from shadowd.core.state import State, fold
from shadowd.core.wire import DeltaBatch, encode_message
from shadowd.lab import cleanup
from shadowd.lab.lab import Lab
from shadowd.lab.plan import LabPlan
from shadowd.policy.targets import agent_link_ends
from tests.brokers import _SPAWNER, Mosquitto, _spawn
from tests.integration.harness import CONFIG, Daemon, poll, shadowctl_json
from tests.lab.labs import running_lab

PROD_ID: Final = "prod"  # production's lab id (namespaces prod-r1 ...)
SHADOW_LAB: Final = "prodshd"  # shadowd's own lab, next to production
LOCK: Final = Path(tempfile.gettempdir()) / "shadowd-lab-prod.lock"
ROUTERS: Final = ("r1", "r2", "r3", "r4", "r5")
LINKS: Final = (("r1", "r2"), ("r1", "r3"), ("r2", "r3"), ("r1", "r4"), ("r4", "r5"),
                ("r2", "r5"))
CAPACITY_BPS: Final = 10e9  # what the agent reads: the veths' speed
DEMANDS: Final = (("r1", "r2", 6e9), ("r2", "r1", 6e9), ("r4", "r3", 2.5e9),
                  ("r3", "r4", 2.5e9))
TARGET_UTIL: Final = 0.8
DEMAND_SOURCE: Final = "demands"


def production_state() -> State:
    events: list[AnyEvent] = [RouterAdded(source="t", seq=1, ts=0.0, router=r) for r in ROUTERS]
    events += [LinkAdded(source="t", seq=1, ts=0.0, link=f"{a}--{b}", a=a, b=b, metric=10,
                         capacity_bps=CAPACITY_BPS) for a, b in LINKS]
    return fold(events)


@asynccontextmanager
async def production() -> AsyncIterator[Lab]:
    """Production, converged; gone afterwards (``running_lab`` checks nothing is left).
    One test session at a time has it (and ``SHADOW_LAB``): its lab ids are fixed, and a
    second session's purge would tear down the first's routers."""
    with LOCK.open("w") as lock:
        await asyncio.to_thread(poll, "the production lab's lock",
                                lambda: _locked(lock.fileno()), interval=0.2)
        await cleanup.purge(SHADOW_LAB)
        try:
            async with running_lab(production_state(), PROD_ID) as lab:
                yield lab
        finally:
            await cleanup.purge(SHADOW_LAB)


def _locked(fd: int) -> bool | None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return None
    return True


class ProdDaemon(Daemon):
    """shadowd as the harness runs it, but killed by the kernel if the test process dies
    (a pytest killed outright leaves no shadowd driving production's routers)."""

    def start(self, *, env: dict[str, str] | None = None, max_files: int | None = None,
              umask: int = -1) -> Self:
        assert env is None
        assert max_files is None
        assert umask == -1
        self.proc = spawn(self.command(), self.dir, self.log_path)
        return self


def spawn(cmd: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` from the brokers' long-lived spawner thread, dying with the tests."""
    return _SPAWNER.submit(_spawn, cmd, cwd, log).result()


def plan_of(lab: Lab) -> LabPlan:
    assert lab.plan is not None
    return lab.plan


def agent_links(plan: LabPlan) -> set[str]:
    """The link ids production's links get from the agent (``a:IFACE--b:IFACE``)."""
    return {link_id(lk.a, lk.ifname, lk.b, lk.ifname) for lk in plan.links.values()}


# --- the agent ---------------------------------------------------------------------------

AGENT_TOML: Final = """
[agent]
source = "prod"
state_file = "{state}"
poll_interval_s = 0.5
digest_every_s = 5
util_deadband = 0.5

[reader]
kind = "frr"
igp = "ospf"
{routers}

[publisher]
kind = "mqtt"
host = "{host}"
port = {port}
telemetry_prefix = "{prefix}/telemetry"
control_prefix = "{prefix}/control"

[logging]
format = "json"
"""


@contextmanager
def running_agent(directory: Path, plan: LabPlan, broker: Mosquitto,
                  prefix: str) -> Iterator[subprocess.Popen[bytes]]:
    """``shadowd agent`` reading production; stopped (SIGTERM, then SIGKILL) afterwards."""
    routers = "".join(f'[[reader.routers]]\nname = "{r}"\nnamespace = "{plan.routers[r].ns}"\n'
                      for r in ROUTERS)
    config = directory / "agent.toml"
    config.write_text(AGENT_TOML.format(state=directory / "agent.position", routers=routers,
                                        host=broker.host, port=broker.port, prefix=prefix))
    proc = spawn([sys.executable, "-m", "shadowd.cli", "agent", "--config", str(config)],
                 directory, directory / "agent.log")
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the demands --------------------------------------------------------------------------


class DemandFeed:
    """Source ``demands``: the traffic matrix, as delta batches on the daemon's topic."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.broker, self.topic = broker, f"{prefix}/telemetry/{DEMAND_SOURCE}"
        self.seq = 0

    def send(self, demands: tuple[tuple[str, str, float], ...]) -> int:
        """Publish ``demands`` (from a thread without a loop); the last seq sent."""
        events: list[AnyEvent] = []
        for src, dst, rate in demands:
            self.seq += 1
            events.append(DemandSet(source=DEMAND_SOURCE, seq=self.seq, ts=time.time(),
                                    src=src, dst=dst, rate_bps=rate))
        payload = encode_message(DeltaBatch(source=DEMAND_SOURCE, events=events))

        async def publish() -> None:
            async with aiomqtt.Client(self.broker.host, self.broker.port,
                                      timeout=10.0) as client:
                await client.publish(self.topic, payload, qos=1)

        asyncio.run(publish())
        return self.seq


# --- shadowd -----------------------------------------------------------------------------

DAEMON_TOML: Final = """
[[sources]]
kind = "mqtt"
name = "mqtt"
host = "{host}"
port = {port}
client_id = "shadowd-{prefix}"
topics = ["{prefix}/telemetry/+"]
control_prefix = "{prefix}/control/"
reconnect_initial_s = 0.1
reconnect_max_s = 1.0

[lab]
enabled = {lab}
id = "{lab_id}"
igp = "ospf"
converge_timeout_s = 60.0

[predict]
enabled = false

[policy]
target_util = {target}
propose_on = "manual"
driver = "frr"
igp = "ospf"
feedback_after_s = 1.0
routers = [{routers}]

[[policy.probes]]
src_namespace = "{probe_ns}"
dst = "{probe_dst}"
{probe_extra}
"""


def daemon_config(directory: Path, plan: LabPlan, broker: Mosquitto, prefix: str, *,
                  lab_id: str | None, udp_bps: float = 0.0) -> Path:
    """shadowd on ``broker``, deploying to production with the FRR driver; its own
    shadow lab under ``lab_id`` (None: no lab, validation in the model). The gates ping
    r1 -> r2's loopback; with ``udp_bps``, an iperf3 UDP stream at that rate instead."""
    extra = (f'dst_namespace = "{plan.routers["r2"].ns}"\noffered_bps = {udp_bps}'
             if udp_bps else "")
    routers = ", ".join(f'{{ name = "{r}", namespace = "{plan.routers[r].ns}" }}'
                        for r in ROUTERS)
    sources = DAEMON_TOML.format(
        host=broker.host, port=broker.port, prefix=prefix,
        lab="true" if lab_id else "false", lab_id=lab_id or "unused", target=TARGET_UTIL,
        routers=routers, probe_ns=plan.routers["r1"].ns,
        probe_dst=plan.routers["r2"].loopback, probe_extra=extra)
    text = CONFIG.format(window=2.0, snapshot_every=200_000, socket=directory / "shadowd.sock",
                         sources=sources)
    path = directory / "shadowd.toml"
    path.write_text(text)
    return path


def ctl(d: Daemon, *args: str) -> dict[str, Any]:
    return shadowctl_json(d, *args)


def wait_view(d: Daemon, plan: LabPlan) -> dict[str, Any]:
    """Poll until shadowd sees production as the agent reads it: every link, up."""
    want = agent_links(plan)

    def probe() -> dict[str, Any] | None:
        topo = ctl(d, "topology")
        links = {lk["id"]: lk for lk in topo["links"]}
        done = set(links) == want and all(lk["up"] for lk in links.values())
        return topo if done else None

    return poll("shadowd to see production through the agent", probe, interval=0.2)


def wait_source(d: Daemon, source: str, seq: int) -> None:
    poll(f"source {source} at seq {seq}",
         lambda: True if (s := d.status().sources.get(source)) and s.seq >= seq else None,
         interval=0.1)


def wait_lab_mirrors(d: Daemon) -> None:
    """Poll until shadowd's own lab is up with every router and link of production."""
    def probe() -> bool | None:
        s = ctl(d, "lab", "status")
        last = s["convergences"][-1] if s["convergences"] else {}
        done = s["up"] and s["routers"] == len(ROUTERS) and s["links_up"] == len(LINKS) \
            and not s["pending"] and last.get("converged")
        return True if done else None

    poll("shadowd's lab to mirror production", probe, interval=0.3)


def history(d: Daemon, policy_id: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = ctl(d, "policies", "history", policy_id)["steps"]
    return steps


def wait_outcome(d: Daemon, policy_id: str, outcomes: tuple[str, ...]) -> dict[str, Any]:
    """Poll ``policies show`` until the policy's status is one of ``outcomes``."""
    def probe() -> dict[str, Any] | None:
        shown = ctl(d, "policies", "show", policy_id)
        return shown if shown["entry"]["status"] in outcomes else None

    return poll(f"policy {policy_id} to end {outcomes}", probe, interval=0.3)


# --- production's configuration ----------------------------------------------------------


def running_config(plan: LabPlan, router: str) -> str:
    out = subprocess.run(["vtysh", "-N", plan.routers[router].ns, "-c", "show running-config"],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout


def configs(plan: LabPlan) -> dict[str, str]:
    return {r: running_config(plan, r) for r in ROUTERS}


def interface_cost(config: str, iface: str) -> int | None:
    """The ``ip ospf cost`` under ``interface IFACE`` in a running config (None: none)."""
    inside = False
    for line in config.splitlines():
        if line.startswith("interface "):
            inside = line.split()[1] == iface
        elif inside and line.strip().startswith("ip ospf cost "):
            return int(line.split()[-1])
        elif line.startswith("exit") or line == "!":
            inside = False
    return None


def changed_iface(change: dict[str, Any]) -> str:
    ends = agent_link_ends(change["target"])
    assert ends is not None, change
    return dict(ends)[change["router"]]


def holds_policy(plan: LabPlan, changes: list[dict[str, Any]]) -> bool:
    """Every change's new cost is in its router's running config."""
    return all(interface_cost(running_config(plan, c["router"]), changed_iface(c)) == c["new"]
               for c in changes)


def view_has_metrics(d: Daemon, changes: list[dict[str, Any]]) -> bool:
    """shadowd's view (from the agent) reports every change's new metric."""
    links = {lk["id"]: lk for lk in ctl(d, "topology")["links"]}
    for c in changes:
        lk = links[c["target"]]
        if (lk["metric"] if c["router"] == lk["a"] else lk["reverse_metric"]) != c["new"]:
            return False
    return True


def leftover_processes() -> list[str]:
    """FRR daemons of the production lab still running."""
    out = subprocess.run(["pgrep", "-a", "zebra"], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if f"{PROD_ID}-" in line]


def dump(d: Daemon) -> str:
    return json.dumps(d.log_records()[-30:], indent=1)[-6000:] if os.path.exists(
        d.log_path) else ""
