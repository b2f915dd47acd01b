"""What every format parser produces: a draft of nodes, links and demands, in SI units.

A draft still speaks the file's language: nodes are known by their ``key`` (the file's
own id, as a string) and may carry a display ``name``; links and demands refer to keys.
``build.build_events`` turns a draft into validated events. ``where`` says where in the
file an item came from (``line 12``, ``edges[3]``, ``$.links[2]``), for error messages.
"""

from __future__ import annotations

from typing import Final

import msgspec

MBPS: Final = 1e6
DEFAULT_CAPACITY_BPS: Final = 10e9
DEFAULT_DEMAND_UNIT_BPS: Final = MBPS


class ImportOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How imported events are stamped, and the units a file leaves unsaid.

    ``default_capacity_bps`` is used for links whose file gives no capacity (10 Gbit/s).
    ``demand_unit_bps`` is what one unit of a bare demand number means in node-link JSON
    and SNDlib files (SNDlib and topohub give Mbit/s, so 1e6); SNDlib capacities use it
    too. Demand files and shadowd's own format are in bits per second.
    """

    source: str = "import"
    ts: float = 0.0
    default_capacity_bps: float = DEFAULT_CAPACITY_BPS
    demand_unit_bps: float = DEFAULT_DEMAND_UNIT_BPS


class NodeSpec(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str | None = None
    pos: tuple[float, float] | None = None
    loopback: str | None = None
    where: str = ""


class LinkSpec(msgspec.Struct, frozen=True, kw_only=True):
    a: str
    b: str
    where: str
    id: str | None = None
    metric: int = 1
    reverse_metric: int | None = None
    capacity_bps: float | None = None
    delay_ms: float | None = None
    dist_km: float | None = None
    srlgs: tuple[str, ...] = ()


class DemandSpec(msgspec.Struct, frozen=True, kw_only=True):
    src: str
    dst: str
    rate_bps: float
    where: str


class PeerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """An external BGP peer of the egress router ``router`` (a node key)."""

    name: str
    router: str
    asn: int
    prefixes: tuple[str, ...]
    capacity_bps: float | None  # None: the import's default capacity
    where: str
    as_path_len: int = 1
    med: int = 0


class ExtDemandSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Traffic from ``src`` (a node key) toward the external ``prefix``."""

    src: str
    prefix: str
    rate_bps: float
    where: str


class Draft(msgspec.Struct, kw_only=True):
    nodes: list[NodeSpec] = msgspec.field(default_factory=list)
    links: list[LinkSpec] = msgspec.field(default_factory=list)
    demands: list[DemandSpec] = msgspec.field(default_factory=list)
    peers: list[PeerSpec] = msgspec.field(default_factory=list)
    ext_demands: list[ExtDemandSpec] = msgspec.field(default_factory=list)


def link_label(a: str, b: str, where: str) -> str:
    return f"link {a}--{b} ({where})"


def demand_label(src: str, dst: str, where: str) -> str:
    return f"demand {src}->{dst} ({where})"
