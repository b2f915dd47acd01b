"""The shadow lab as a policy ``Target``: its routers' pathspaces and interfaces, read
from its plan, so a driver can put a policy on the lab exactly as on production."""

from __future__ import annotations

from collections.abc import Mapping

from shadowd.lab.plan import LabPlan
from shadowd.policy.targets import Peers, RenderError


class LabTarget(Peers):
    """Routers and links of a lab plan (lab link ids)."""

    def __init__(self, plan: LabPlan, *,
                 neighbors: Mapping[tuple[str, str], str] | None = None) -> None:
        super().__init__(neighbors)
        self.plan = plan

    def pathspace(self, router: str) -> str:
        try:
            return self.plan.routers[router].ns
        except KeyError:
            raise RenderError(f"router {router!r} is not in lab {self.plan.lab_id}") from None

    def neighbor(self, router: str, peer: str) -> str:
        found = self.plan.peers.get(peer)
        if found is not None and found.router == router:
            return found.peer_addr
        return super().neighbor(router, peer)

    def interface(self, router: str, link: str) -> str:
        found = self.plan.links.get(link)
        if found is None or router not in (found.a, found.b):
            raise RenderError(f"router {router!r} has no end on lab link {link!r}")
        return found.ifname
