"""A BGP proposal proven before deployment: in the model, the egress choices and loads
under the new route-map settings; in the shadow lab, the route-maps really set on its
egress routers (through the FRR driver, so exactly what production would get), every
router with external traffic polled until its best BGP route leaves by the egress the
model chose, then the lab's route-maps restored byte-identical (a proposal is not
deployed, so the mirror would not undo it).

The mirror's lab runs the route-maps the log implies: the settings of production's
deployed BGP policies (``current``, ``shadowd.policy.deployed``), so the proposal is
judged on top of them, as production would run it, and restored to them (the lab is
first brought to ``state``, in case the mirror has not followed the log that far yet).
"""

from __future__ import annotations

import asyncio
import ipaddress
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from shadowd.core.events import PolicyProposed
from shadowd.core.igp import Igp
from shadowd.core.state import State
from shadowd.drivers.frr import FrrDriver
from shadowd.lab.bgpread import BgpBest
from shadowd.lab.lab import Lab
from shadowd.policy.bgp import BgpPolicy, IgpCosts, apply_changes, evaluate
from shadowd.services.lab_target import LabTarget
from shadowd.services.validation import Validation

POLL_S = 0.1
TOLERANCE = 1e-6


def _model(state: State, policy: PolicyProposed, current: BgpPolicy) -> tuple[Validation,
                                                                            dict[str, str]]:
    started = time.monotonic()
    costs = IgpCosts.of(state)
    before = evaluate(state, current, costs)
    after = evaluate(state, apply_changes(current, policy.changes), costs)
    problems = []
    if after.worst_util > policy.wc_after * (1 + TOLERANCE) + TOLERANCE:
        problems.append(f"{after.worst} at {after.worst_util:.2f}, above the predicted "
                        f"{policy.wc_after:.2f}")
    lost = len(before.choices) - len(after.choices)
    if lost > 0:
        problems.append(f"{lost} external demands lose their exit")
    egress = {f"{src} {prefix}": state.peers[peer].router
              for (src, prefix), peer in after.choices.items()}
    return Validation(tier="model", ok=not problems, wc_after=after.worst_util, agreement=1.0,
                      loops=0, unreachable=max(0, lost), steps=1,
                      detail="; ".join(problems)[:160],
                      seconds=time.monotonic() - started), egress


def validate_bgp_in_model(state: State, policy: PolicyProposed,
                          current: BgpPolicy) -> Validation:
    return _model(state, policy, current)[0]


async def validate_bgp_in_lab(lab: Lab, state: State, policy: PolicyProposed,
                              current: BgpPolicy, *, igp: Igp,
                              timeout_s: float = 60.0) -> Validation:
    model, want = _model(state, policy, current)
    plan = lab.plan
    if plan is None or not plan.peers:
        return model  # a lab without BGP cannot say more than the model
    started = time.monotonic()
    await lab.apply(state)  # the lab the mirror may not have caught up yet: ``current`` in
    routers = tuple(sorted({c.router for c in policy.changes}))
    with tempfile.TemporaryDirectory(prefix="shadowd-bgp-") as saved:
        driver = FrrDriver(LabTarget(plan), igp, Path(saved))
        await driver.apply(policy, routers)
        try:
            agreement, differing = await _until_egress(lab, want, timeout_s)
        finally:
            await driver.restore(policy, routers)
    problems = [model.detail] if model.detail else []
    if differing:
        problems.append(f"the lab's egress differs for {len(differing)} demands, e.g. "
                        f"{differing[0]}")
    return Validation(tier="lab", ok=not problems, wc_after=model.wc_after,
                      agreement=agreement, loops=0, unreachable=model.unreachable, steps=1,
                      detail="; ".join(problems)[:160], seconds=time.monotonic() - started)


async def _until_egress(lab: Lab, want: dict[str, str],
                        timeout_s: float) -> tuple[float, list[str]]:
    """Poll until every (source, prefix)'s best route leaves by ``want``'s egress router;
    the share that agreed at the end and the demands that did not."""
    deadline = time.monotonic() + timeout_s
    sources = sorted({key.split(" ")[0] for key in want})
    while True:
        ribs = dict(zip(sources, await asyncio.gather(*(lab.bgp_routes(s) for s in sources)),
                        strict=True))
        differing = []
        for key, egress in sorted(want.items()):
            src, prefix = key.split(" ")
            best = _covering(ribs[src], prefix)
            if best != egress:
                differing.append(f"{src}->{prefix}: lab {best or 'no route'}, model {egress}")
        if not differing or time.monotonic() > deadline:
            return 1.0 - len(differing) / max(len(want), 1), differing
        await asyncio.sleep(POLL_S)


def _covering(rib: Mapping[str, BgpBest], prefix: str) -> str | None:
    """The egress router of the best route the lab holds for ``prefix``: the route of
    that prefix itself, else of the announced prefix covering it."""
    want = ipaddress.IPv4Network(prefix)
    best: tuple[int, str | None] = (-1, None)
    for announced, route in rib.items():
        net = ipaddress.IPv4Network(announced)
        if want.subnet_of(net) and net.prefixlen > best[0]:
            best = (net.prefixlen, route.egress)
    return best[1]
