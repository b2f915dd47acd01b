"""A policy as router configuration (pure): vtysh lines, ``frr.conf`` snippets, a
vendor-neutral JSON, and a diff against a router's running config.

What each change sets, on FRR 8.4 (checked against a real FRR):

- ``metric``: the router's outgoing cost on the link, under its interface:
  ``ip ospf cost N`` (1..65535) or ``isis metric N`` (both levels; 1..16777214 with
  the lab's wide metrics). ``no ip ospf cost`` / ``no isis metric`` is the default.
- ``local_pref`` / ``med`` / ``prepend``: on routes learnt from BGP peer P, in the stanza
  ``route-map PEER-P-in permit 10`` that every eBGP neighbour has inbound
  (``neighbor ADDR route-map PEER-P-in in``): ``set local-preference N``,
  ``set metric N`` (the MED), ``set as-path prepend last-as N`` (N more copies of the
  peer's own AS, 1..10; 0 is ``no set as-path prepend``). Not the router's own AS: a
  route whose path holds the local AS is dropped as a loop by every iBGP neighbour, so
  the egress would vanish from the rest of the network instead of losing to another
  (seen on FRR 8.4). Switching an explicit AS list to ``last-as`` makes FRR complain
  "Can't find rule" (and do it), so a prepend is always cleared first. A route-map
  change takes effect after ``clear bgp ipv4 unicast ADDR soft in`` (``refresh``).

The public API: ``Target`` (and ``AgentLinkTarget``), ``commands``,
``refresh``, ``restore_commands``, ``render_frr``, ``render_json``, ``with_policy``,
``diff_running``, ``RenderError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, Final

from shadowd.core.events import PolicyChange, PolicyProposed
from shadowd.core.igp import MAX_COST, Igp
from shadowd.policy.runconf import Slot, peer_neighbors, set_slot, slot_lines
from shadowd.policy.targets import AgentLinkTarget, RenderError, Target

__all__ = ["AgentLinkTarget", "RenderError", "Target", "commands",
           "diff_running", "refresh", "render_frr", "render_json", "restore_commands",
           "route_map", "with_policy"]

BGP_KEYS: Final = {"local_pref": "set local-preference", "med": "set metric",
                   "prepend": "set as-path prepend"}
IGP_KEYS: Final = {"ospf": "ip ospf cost", "isis": "isis metric"}
MAX_PREPEND: Final = 10  # FRR's last-as range
NEUTRAL_KIND: Final = {"metric": "igp_metric", "local_pref": "bgp_local_preference",
                       "med": "bgp_med", "prepend": "bgp_as_path_prepend"}


def route_map(peer: str) -> str:
    """The inbound route-map of the eBGP neighbour that is peer ``peer``."""
    return f"PEER-{peer}-in"


def slot(change: PolicyChange, target: Target, igp: Igp) -> Slot:
    """Where ``change`` lives in its router's configuration."""
    if change.attr == "metric":
        header = f"interface {target.interface(change.router, change.target)}"
        return Slot(header, IGP_KEYS[igp])
    return Slot(f"route-map {route_map(change.target)} permit 10", BGP_KEYS[change.attr])


def setting(change: PolicyChange, value: int, igp: Igp) -> str | None:
    """The configuration line that sets ``value``; None when the value is the default
    (no line: zero prepends)."""
    key = slot_key(change, igp)
    if change.attr == "metric":
        if not 1 <= value <= MAX_COST[igp]:
            raise RenderError(f"{change.router} {change.target}: metric {value} is outside "
                              f"{igp.upper()}'s 1..{MAX_COST[igp]}")
        return f"{key} {value}"
    if change.attr != "prepend":
        return f"{key} {value}"
    if not 0 <= value <= MAX_PREPEND:
        raise RenderError(f"{change.router} {change.target}: prepend {value} is outside "
                          f"0..{MAX_PREPEND}")
    return f"{key} last-as {value}" if value else None


def slot_key(change: PolicyChange, igp: Igp) -> str:
    return IGP_KEYS[igp] if change.attr == "metric" else BGP_KEYS[change.attr]


def commands(change: PolicyChange, target: Target, igp: Igp, *,
             value: int | None = None) -> list[str]:
    """vtysh configuration-mode lines that set ``change`` to ``value`` (its ``new`` by
    default) on its router."""
    where = slot(change, target, igp)
    line = setting(change, change.new if value is None else value, igp)
    clear = f"no {where.key}"
    if change.attr == "prepend":
        return [where.header, clear, *([line] if line else []), "exit"]
    return [where.header, line or clear, "exit"]


def refresh(changes: Iterable[PolicyChange], target: Target,
            running: str = "") -> list[str]:
    """Exec-mode lines that make BGP re-run its inbound route-maps for the peers that
    ``changes`` touch (one per neighbour); the address comes from ``target`` or else
    from ``running``'s ``neighbor ADDR route-map PEER-<peer>-in in``."""
    out: list[str] = []
    for change in changes:
        if change.attr == "metric":
            continue
        line = f"clear bgp ipv4 unicast {neighbor_of(change, target, running)} soft in"
        if line not in out:
            out.append(line)
    return out


def neighbor_of(change: PolicyChange, target: Target, running: str = "") -> str:
    try:
        return target.neighbor(change.router, change.target)
    except RenderError:
        found = peer_neighbors(running).get(change.target)
        if found is None:
            raise
        return found


def restore_commands(changes: Sequence[PolicyChange], target: Target, igp: Igp,
                     saved: str) -> list[str]:
    """Configuration lines that put every slot ``changes`` touch back to what ``saved``
    (the router's running config before the policy) held: its line again, ``no KEY``
    where it held none, a route-map stanza removed where it did not exist."""
    out: list[str] = []
    for change in changes:
        where = slot(change, target, igp)
        held = slot_lines(saved, where)
        if held is None and change.attr != "metric":
            lines = [f"no {where.header}"]
        elif held is None or not held:
            lines = [where.header, f"no {where.key}", "exit"]
        elif len(held) == 1:
            lines = [where.header, held[0], "exit"]
        else:
            lines = [where.header, f"no {where.key}", *held, "exit"]
        if lines != [f"no {where.header}"] or lines[0] not in out:
            out += lines
    return out


def with_policy(running: str, changes: Iterable[PolicyChange], target: Target,
                igp: Igp) -> str:
    """``running`` with ``changes`` edited in (their ``new`` values)."""
    text = running
    for change in changes:
        text = set_slot(text, slot(change, target, igp), setting(change, change.new, igp))
    return text


def diff_running(router: str, running: str, policy: PolicyProposed, target: Target,
                 igp: Igp) -> str:
    """Unified diff of ``router``'s running config to the same with ``policy`` applied
    (empty when the policy changes nothing there)."""
    mine = [c for c in policy.changes if c.router == router]
    after = with_policy(running, mine, target, igp)
    diff = difflib.unified_diff(running.splitlines(), after.splitlines(),
                                fromfile=f"{router}/running-config",
                                tofile=f"{router}/with-{policy.policy_id}", lineterm="")
    text = "\n".join(diff)
    return text + "\n" if text else ""


def render_frr(policy: PolicyProposed, target: Target, igp: Igp) -> dict[str, str]:
    """Per router, an ``frr.conf``-syntax snippet with the policy's settings."""
    stanzas: dict[str, dict[str, list[str]]] = {}
    for change in policy.changes:
        where = slot(change, target, igp)
        line = setting(change, change.new, igp) or f"no {where.key}"
        stanzas.setdefault(change.router, {}).setdefault(where.header, []).append(f" {line}")
    return {router: "".join(f"{header}\n" + "".join(f"{ln}\n" for ln in lines) + "exit\n!\n"
                            for header, lines in by_header.items())
            for router, by_header in sorted(stanzas.items())}


def render_json(policy: PolicyProposed) -> dict[str, Any]:
    """Vendor-neutral: per router, per change, what it sets from what to what."""
    routers: dict[str, list[dict[str, Any]]] = {}
    for change in policy.changes:
        routers.setdefault(change.router, []).append({
            "kind": NEUTRAL_KIND[change.attr], "target": change.target,
            "from": change.old, "to": change.new})
    return {"policy_id": policy.policy_id, "kind": policy.kind, "reason": policy.reason,
            "routers": dict(sorted(routers.items())),
            "predicted": {"target_util": policy.target_util, "wc_before": policy.wc_before,
                          "wc_after": policy.wc_after, "demands_moved": policy.demands_moved,
                          "disconnected": policy.disconnected}}
