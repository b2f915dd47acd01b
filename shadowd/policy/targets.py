"""Where a policy's changes land on real routers: a ``Target`` names a router's vtysh
pathspace, its interface on a link and a BGP peer's address on it.

Two kinds of link names reach the policy code: the lab's own link ids
(``shadowd.services.lab_target.LabTarget``, resolved through a ``LabPlan``: interface
``lN``, pathspace ``ID-ROUTER``) and the FRR agent's ``a:IFACE--b:IFACE``
(``AgentLinkTarget``: production as the agent reports it, where the interface is spelled
in the link's name). BGP peers are given as a mapping
``(router, peer) -> address`` (a lab plan with peers answers for its own; a driver falls
back on the router's ``neighbor ADDR route-map PEER-<peer>-in in``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shadowd.core.errors import ShadowdError


class RenderError(ShadowdError):
    """A change cannot be spelled as router configuration (unknown router, link or peer)."""


class Target(Protocol):
    """How a driver finds a router's configuration handles."""

    def pathspace(self, router: str) -> str: ...  # vtysh -N
    def interface(self, router: str, link: str) -> str: ...  # router's interface on link
    def neighbor(self, router: str, peer: str) -> str: ...  # peer's address on router


class Peers:
    """BGP peers' addresses, given as ``(router, peer) -> address``."""

    def __init__(self, neighbors: Mapping[tuple[str, str], str] | None) -> None:
        self._neighbors = dict(neighbors or {})

    def neighbor(self, router: str, peer: str) -> str:
        try:
            return self._neighbors[(router, peer)]
        except KeyError:
            raise RenderError(f"router {router!r} has no BGP neighbour for peer {peer!r}") \
                from None

class AgentLinkTarget(Peers):
    """Production as the FRR agent names it: links ``a:IFACE--b:IFACE``, routers found
    through ``pathspaces`` (router -> vtysh ``-N`` name, ``""`` for the default FRR).
    ``interfaces`` resolves the links whose names the agent had to shorten (hashed)."""

    def __init__(self, pathspaces: Mapping[str, str], *,
                 interfaces: Mapping[tuple[str, str], str] | None = None,
                 neighbors: Mapping[tuple[str, str], str] | None = None) -> None:
        super().__init__(neighbors)
        self._pathspaces = dict(pathspaces)
        self._interfaces = dict(interfaces or {})

    def pathspace(self, router: str) -> str:
        try:
            return self._pathspaces[router]
        except KeyError:
            raise RenderError(f"router {router!r} has no known pathspace") from None

    def interface(self, router: str, link: str) -> str:
        if (router, link) in self._interfaces:
            return self._interfaces[(router, link)]
        ends = agent_link_ends(link)
        if ends is not None:
            for name, iface in ends:
                if name == router:
                    return iface
        raise RenderError(f"router {router!r}: no interface on link {link!r}")


def agent_link_ends(link: str) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """``((a, a_iface), (b, b_iface))`` of an agent link id, None if it is not one."""
    a, sep, b = link.partition("--")
    if not sep or ":" not in a or ":" not in b:
        return None
    a_router, _, a_iface = a.rpartition(":")
    b_router, _, b_iface = b.rpartition(":")
    if not (a_router and a_iface and b_router and b_iface):
        return None
    return (a_router, a_iface), (b_router, b_iface)
