"""FRR configuration rendered from a lab plan: a whole ``frr.conf`` per router at start,
and the vtysh lines that change one interface's cost while it runs.

OSPFv2: area 0 on every interface (``ip ospf area``), point-to-point links, the loopback
passive; IS-IS: one level-2 instance with wide metrics, point-to-point circuits, the
loopback passive, the NET spelled from the loopback. Hellos every ``hello_s`` and
neighbours dead after ``dead_s``; SPF and LSA throttles near zero so the lab converges
in about a second or two after a change, not the protocols' default tens of seconds.

BGP (when the plan has peers): ``router bgp ASN`` with the loopback as router id, an iBGP
session to every other router's loopback (``update-source lo``, ``next-hop-self``), and
an eBGP session to each of the router's own peers through the inbound route-map
``PEER-<peer>-in``, rendered as one bare ``permit 10`` stanza for policies to fill. Timers
are the lab's too: keepalive 1 s, hold 3 s, connect retry 1 s, no advertisement delay,
and a changed route-map is applied after 1 s (``bgp route-map delay-timer 1``; FRR's
default is 5 s, and 0 would mean never, until a ``clear``).
``bgp deterministic-med`` and ``bgp bestpath compare-routerid`` make the choice
independent of the order routes arrived in, as ``shadowd.policy.bgp`` models it.
FRR 8.4's ``bgp ebgp-requires-policy`` (on by default) stays on: the inbound route-map is
the policy that lets the egress router accept a peer's routes, and with no outbound one
it announces nothing to its peers. Each peer announces its prefixes (``network``, the
prefix being connected on its loopback) through the outbound route-map ``EXPORT``, which
sets its MED and prepends its AS to the path length it has in the state.
"""

from __future__ import annotations

import re
from typing import Final

from shadowd.lab.plan import LabPlan, LabSettings, LinkPlan, PeerPlan, loopback_net

ISIS_AREA: Final = "lab"
_NOT_A_WORD: Final = re.compile(r"[^A-Za-z0-9_.-]")


def word(name: str) -> str:
    """``name`` as one word of a config line (a hostname): anything else becomes ``_``."""
    return _NOT_A_WORD.sub("_", name)


def text(name: str) -> str:
    """``name`` for a free-text tail (a description): printable characters only, so no
    name, whatever got past the schema, can end the line and start another."""
    return "".join(c if c.isprintable() else "?" for c in name)


def render(lab: LabPlan, router: str, settings: LabSettings) -> str:
    """The ``frr.conf`` of ``router``."""
    me = lab.routers[router]
    lines = ["frr defaults traditional", f"hostname {word(router)}", "!"]
    lines += _loopback(lab)
    for link in sorted(lab.links_of(router), key=lambda lk: lk.index):
        lines += _interface(lab, router, link, settings)
    lines += _process(lab, me.loopback)
    if lab.bgp:
        lines += bgp_lines(lab, router)
    return "\n".join(lines) + "\n"


def _loopback(lab: LabPlan) -> list[str]:
    if lab.igp == "isis":
        return ["interface lo", f" ip router isis {ISIS_AREA}", " isis passive", "!"]
    return ["interface lo", " ip ospf area 0", "!"]


def _interface(lab: LabPlan, router: str, link: LinkPlan, s: LabSettings) -> list[str]:
    _, peer, cost = link.end(router)
    head = [f"interface {link.ifname}", f" description {text(link.id)} to {text(peer)}"]
    if lab.igp == "isis":
        return [*head, f" ip router isis {ISIS_AREA}", " isis network point-to-point",
                f" isis metric {cost}", f" isis hello-interval {s.hello_s}",
                f" isis hello-multiplier {max(2, s.dead_s // s.hello_s)}",
                " isis psnp-interval 1", " isis csnp-interval 1", "!"]
    return [*head, " ip ospf area 0", " ip ospf network point-to-point",
            f" ip ospf cost {cost}", f" ip ospf hello-interval {s.hello_s}",
            f" ip ospf dead-interval {s.dead_s}", "!"]


def _process(lab: LabPlan, loopback: str) -> list[str]:
    if lab.igp == "isis":
        # lsp-gen-interval first: every later line schedules an LSP regeneration, and
        # one scheduled under the default 30 s interval holds back all that follow
        return [f"router isis {ISIS_AREA}", " lsp-gen-interval 1",
                f" net {loopback_net(loopback)}", " is-type level-2-only",
                " metric-style wide",
                " spf-delay-ietf init-delay 0 short-delay 50 long-delay 500 holddown 1000"
                " time-to-learn 500", "!"]
    return ["router ospf", f" ospf router-id {loopback}", " passive-interface lo",
            " timers throttle spf 0 50 500", " timers throttle lsa all 0",
            " timers lsa min-arrival 0", "!"]


def cost_commands(lab: LabPlan, router: str, link: LinkPlan) -> list[str]:
    """vtysh ``-c`` arguments that set ``router``'s cost on ``link`` to the plan's."""
    _, _, cost = link.end(router)
    line = f"isis metric {cost}" if lab.igp == "isis" else f"ip ospf cost {cost}"
    return ["configure terminal", f"interface {link.ifname}", line]


def interface_commands(lab: LabPlan, router: str, link: LinkPlan,
                       settings: LabSettings) -> list[str]:
    """vtysh ``-c`` arguments that configure a link added while ``router`` runs."""
    lines = _interface(lab, router, link, settings)
    return ["configure terminal", *(ln.strip() for ln in lines if ln != "!")]


BGP_KEEPALIVE_S: Final = 1
BGP_HOLD_S: Final = 3
ROUTE_MAP_DELAY_S: Final = 1  # FRR waits 5 s by default before applying a changed route-map


def _session(addr: str, asn: int) -> list[str]:
    return [f" neighbor {addr} remote-as {asn}", f" neighbor {addr} timers connect 1",
            f" neighbor {addr} advertisement-interval 0"]


def bgp_lines(lab: LabPlan, router: str) -> list[str]:
    """``router bgp`` of an internal router, and its peers' inbound route-maps."""
    me = lab.routers[router]
    mates = [r.loopback for r in sorted(lab.routers.values(), key=lambda r: r.index)
             if r.name != router]
    peers = lab.peers_of(router)
    lines = [f"bgp route-map delay-timer {ROUTE_MAP_DELAY_S}", "!",
             f"router bgp {lab.asn}", f" bgp router-id {me.loopback}",
             " bgp log-neighbor-changes", " bgp deterministic-med",
             " bgp bestpath compare-routerid", f" timers bgp {BGP_KEEPALIVE_S} {BGP_HOLD_S}"]
    for mate in mates:
        lines += [*_session(mate, lab.asn), f" neighbor {mate} update-source lo"]
    for peer in peers:
        lines += [*_session(peer.peer_addr, peer.asn),
                  f" neighbor {peer.peer_addr} description peer {text(peer.name)}"]
    lines += [" !", " address-family ipv4 unicast"]
    lines += [f"  neighbor {mate} next-hop-self" for mate in mates]
    lines += [f"  neighbor {p.peer_addr} route-map {p.route_map} in" for p in peers]
    lines += [" exit-address-family", "!"]
    for peer in peers:
        lines += [f"route-map {peer.route_map} permit 10", "!"]
    return lines


def render_peer(lab: LabPlan, name: str) -> str:
    """The ``frr.conf`` of external peer ``name``: its AS announcing its prefixes."""
    peer = lab.peers[name]
    lines = ["frr defaults traditional", f"hostname peer-{word(name)}", "!",
             f"router bgp {peer.asn}", f" bgp router-id {peer.peer_addr}",
             f" timers bgp {BGP_KEEPALIVE_S} {BGP_HOLD_S}", *_session(peer.addr, lab.asn),
             " !", " address-family ipv4 unicast"]
    lines += [f"  network {prefix}" for prefix in peer.prefixes]
    lines += [f"  neighbor {peer.addr} route-map EXPORT out", " exit-address-family", "!",
              "route-map EXPORT permit 10"]
    if peer.med:
        lines.append(f" set metric {peer.med}")
    if peer.as_path_len > 1:
        lines.append(" set as-path prepend " + " ".join([str(peer.asn)] * (peer.as_path_len - 1)))
    return "\n".join([*lines, "!"]) + "\n"


def peer_commands(lab: LabPlan, peer: PeerPlan, present: bool) -> list[str]:
    """vtysh ``-c`` arguments that add (or remove) ``peer``'s session on its egress."""
    if not present:
        return ["configure terminal", f"router bgp {lab.asn}", f"no neighbor {peer.peer_addr}",
                "exit", f"no route-map {peer.route_map}"]
    return ["configure terminal", f"route-map {peer.route_map} permit 10", "exit",
            f"router bgp {lab.asn}", *(ln.strip() for ln in _session(peer.peer_addr, peer.asn)),
            f"neighbor {peer.peer_addr} description peer {text(peer.name)}",
            "address-family ipv4 unicast",
            f"neighbor {peer.peer_addr} route-map {peer.route_map} in"]


def mesh_commands(lab: LabPlan, added: list[str], removed: list[str]) -> list[str]:
    """vtysh ``-c`` arguments that add iBGP sessions to the loopbacks ``added`` and drop
    those to ``removed`` (routers that joined or left the lab)."""
    lines = ["configure terminal", f"router bgp {lab.asn}"]
    lines += [f"no neighbor {lb}" for lb in removed]
    for lb in added:
        lines += [*(ln.strip() for ln in _session(lb, lab.asn)),
                  f"neighbor {lb} update-source lo"]
    lines += ["address-family ipv4 unicast", *(f"neighbor {lb} next-hop-self" for lb in added)]
    return lines
