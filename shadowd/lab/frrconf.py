"""FRR configuration rendered from a lab plan: a whole ``frr.conf`` per router at start,
and the vtysh lines that change one interface's cost while it runs.

OSPFv2: area 0 on every interface (``ip ospf area``), point-to-point links, the loopback
passive; IS-IS: one level-2 instance with wide metrics, point-to-point circuits, the
loopback passive, the NET spelled from the loopback. Hellos every ``hello_s`` and
neighbours dead after ``dead_s``; SPF and LSA throttles near zero so the lab converges
in about a second or two after a change, not the protocols' default tens of seconds.
"""

from __future__ import annotations

from typing import Final

from shadowd.lab.plan import LabPlan, LabSettings, LinkPlan, loopback_net

ISIS_AREA: Final = "lab"


def render(lab: LabPlan, router: str, settings: LabSettings) -> str:
    """The ``frr.conf`` of ``router``."""
    me = lab.routers[router]
    lines = ["frr defaults traditional", f"hostname {router}", "!"]
    lines += _loopback(lab)
    for link in sorted(lab.links_of(router), key=lambda lk: lk.index):
        lines += _interface(lab, router, link, settings)
    lines += _process(lab, me.loopback)
    return "\n".join(lines) + "\n"


def _loopback(lab: LabPlan) -> list[str]:
    if lab.igp == "isis":
        return ["interface lo", f" ip router isis {ISIS_AREA}", " isis passive", "!"]
    return ["interface lo", " ip ospf area 0", "!"]


def _interface(lab: LabPlan, router: str, link: LinkPlan, s: LabSettings) -> list[str]:
    _, peer, cost = link.end(router)
    head = [f"interface {link.ifname}", f" description {link.id} to {peer}"]
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
