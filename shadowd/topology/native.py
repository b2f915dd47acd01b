"""shadowd's own topology file, in TOML or YAML (same schema, strictly decoded).

Unknown keys are rejected and every schema error names its ``$.path``. Example
(``tests/data/topologies/example.toml``; ``example.yaml`` is the same in YAML)::

    name = "lab"                        # optional, for people
    [defaults]                          # optional
    metric = 10                         # default IGP metric of links (else 1)
    capacity = "10G"                    # default capacity (else the importer's default)

    [[routers]]
    name = "fra"                        # required, unique, 1-64 characters
    pos = [8.68, 50.11]                 # optional (longitude, latitude) in degrees
    loopback = "10.0.0.1"               # optional

    [[links]]
    a = "fra"                           # required: router names
    b = "ams"
    id = "fra-ams-1"                    # optional; default "a--b", "a--b#2" for parallels
    metric = 10                         # optional, 1..16777214, a -> b
    reverse_metric = 12                 # optional, b -> a (default: metric)
    capacity = "100G"                   # optional: "100M", "10G", "1.5T" or bit/s as a number
    delay_ms = 2.5                      # optional; default from the routers' positions
    srlgs = ["duct-7"]                  # optional shared-risk link groups

    [[srlgs]]                           # optional: declare groups, add members by link id
    name = "duct-7"
    links = ["ams--lon"]
    description = "Amsterdam ducts"

    [[demands]]                         # optional traffic matrix, directed
    src = "fra"
    dst = "lon"
    rate = "2.5G"                       # bit/s, with an optional SI suffix

    [[peers]]                           # optional external BGP peers
    name = "isp-a"                      # required, unique
    router = "fra"                      # required: its egress router
    asn = 64501                         # required
    prefixes = ["203.0.113.0/24"]       # required: what it announces
    capacity = "10G"                    # optional: the peer link (else the default)
    as_path_len = 2                     # optional (1)
    med = 10                            # optional (0)

    [[external_demands]]                # optional traffic toward external prefixes
    src = "ams"
    prefix = "203.0.113.0/24"
    rate = "1G"                         # it leaves by whichever peer BGP chooses

When a ``[[srlgs]]`` section is present, every SRLG a link names must be declared there.
Delay defaults to fibre over the great circle between the routers' positions (5 µs/km),
else 0.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

import msgspec

from shadowd.topology.build import link_ids
from shadowd.topology.errors import TopologyError, naming
from shadowd.topology.model import (
    DemandSpec,
    Draft,
    ExtDemandSpec,
    LinkSpec,
    NodeSpec,
    PeerSpec,
    demand_label,
    link_label,
)
from shadowd.topology.units import parse_metric, parse_rate


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


Rate = str | float


class Defaults(_Strict, frozen=True):
    metric: int = 1
    capacity: Rate | None = None


Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]


class RouterDef(_Strict, frozen=True):
    name: str
    pos: tuple[Longitude, Latitude] | None = None
    loopback: str | None = None


class LinkDef(_Strict, frozen=True):
    a: str
    b: str
    id: str | None = None
    metric: int | None = None
    reverse_metric: int | None = None
    capacity: Rate | None = None
    delay_ms: float | None = None
    srlgs: list[str] = []


class SrlgDef(_Strict, frozen=True):
    name: str
    links: list[str] = []
    description: str = ""


class DemandDef(_Strict, frozen=True):
    src: str
    dst: str
    rate: Rate


class PeerDef(_Strict, frozen=True):
    name: str
    router: str
    asn: int
    prefixes: list[str]
    capacity: Rate | None = None
    as_path_len: int = 1
    med: int = 0


class ExternalDemandDef(_Strict, frozen=True):
    src: str
    prefix: str
    rate: Rate


class TopologyFile(_Strict, frozen=True):
    routers: list[RouterDef]
    name: str = ""
    description: str = ""
    defaults: Defaults = Defaults()
    links: list[LinkDef] = []
    srlgs: list[SrlgDef] = []
    demands: list[DemandDef] = []
    peers: list[PeerDef] = []
    external_demands: list[ExternalDemandDef] = []


_AT: Final = re.compile(r"^(.*) - at `(\$[^`]*)`$")


def decode(text: str, syntax: Literal["toml", "yaml"]) -> TopologyFile:
    try:
        if syntax == "toml":
            return msgspec.toml.decode(text, type=TopologyFile)
        return msgspec.yaml.decode(text, type=TopologyFile)
    except msgspec.ValidationError as err:
        match = _AT.match(str(err))
        reason, path = match.groups() if match else (str(err), "$")
        raise TopologyError(reason, item=path) from None
    except msgspec.DecodeError as err:
        raise TopologyError(f"not valid {syntax.upper()}: {err}", item="file") from None


def parse_text(text: str, syntax: Literal["toml", "yaml"]) -> Draft:
    spec = decode(text, syntax)
    nodes = [NodeSpec(key=r.name, pos=r.pos, loopback=r.loopback, where=f"$.routers[{i}]")
             for i, r in enumerate(spec.routers)]
    links = [_link(spec.defaults, lk, i) for i, lk in enumerate(spec.links)]
    links = _with_srlgs(links, spec.srlgs)
    return Draft(nodes=nodes, links=links, demands=_demands(spec.demands),
                 peers=[_peer(spec.defaults, p, i) for i, p in enumerate(spec.peers)],
                 ext_demands=_ext_demands(spec.external_demands))


def _peer(defaults: Defaults, peer: PeerDef, i: int) -> PeerSpec:
    where = f"$.peers[{i}]"
    capacity = peer.capacity if peer.capacity is not None else defaults.capacity
    with naming(f"peer {peer.name!r} ({where})"):
        return PeerSpec(
            name=peer.name, router=peer.router, asn=peer.asn, prefixes=tuple(peer.prefixes),
            capacity_bps=None if capacity is None else parse_rate(capacity, "capacity"),
            where=where, as_path_len=peer.as_path_len, med=peer.med)


def _ext_demands(demands: list[ExternalDemandDef]) -> list[ExtDemandSpec]:
    out = []
    for i, d in enumerate(demands):
        where = f"$.external_demands[{i}]"
        with naming(f"external demand {d.src}->{d.prefix} ({where})"):
            out.append(ExtDemandSpec(src=d.src, prefix=d.prefix, rate_bps=parse_rate(d.rate),
                                     where=where))
    return out


def _link(defaults: Defaults, link: LinkDef, i: int) -> LinkSpec:
    where = f"$.links[{i}]"
    capacity = link.capacity if link.capacity is not None else defaults.capacity
    metric = link.metric if link.metric is not None else defaults.metric
    with naming(link_label(link.a, link.b, where) if link.id is None else f"link {link.id!r}"):
        return LinkSpec(
            a=link.a, b=link.b, where=where, id=link.id, metric=parse_metric(metric),
            reverse_metric=None if link.reverse_metric is None
            else parse_metric(link.reverse_metric, "reverse_metric"),
            capacity_bps=None if capacity is None else parse_rate(capacity, "capacity"),
            delay_ms=_delay(link.delay_ms), srlgs=tuple(link.srlgs),
        )


def _delay(delay_ms: float | None) -> float | None:
    if delay_ms is not None and not delay_ms >= 0.0:
        raise TopologyError(f"delay_ms {delay_ms!r} must be >= 0")
    return delay_ms


def _with_srlgs(links: list[LinkSpec], srlgs: list[SrlgDef]) -> list[LinkSpec]:
    """Give every link its id, add ``[[srlgs]]`` members, check declared SRLG names."""
    ids = link_ids(links, {})
    members: dict[str, list[str]] = {link_id: [] for link_id in ids}
    for i, group in enumerate(srlgs):
        for j, link_id in enumerate(group.links):
            if link_id not in members:
                raise TopologyError(f"no link has id {link_id!r}", item=f"$.srlgs[{i}].links[{j}]")
            members[link_id].append(group.name)
    declared = {group.name for group in srlgs}
    return [_add_srlgs(link, link_id, members[link_id], declared)
            for link, link_id in zip(links, ids, strict=True)]


def _add_srlgs(link: LinkSpec, link_id: str, extra: list[str], declared: set[str]) -> LinkSpec:
    names = tuple(dict.fromkeys(link.srlgs + tuple(extra)))
    unknown = [name for name in names if declared and name not in declared]
    if unknown:
        raise TopologyError(f"SRLG {unknown[0]!r} is not declared in 'srlgs'",
                            item=f"link {link_id!r} ({link.where})")
    return msgspec.structs.replace(link, id=link_id, srlgs=names)


def _demands(demands: list[DemandDef]) -> list[DemandSpec]:
    out = []
    for i, d in enumerate(demands):
        where = f"$.demands[{i}]"
        with naming(demand_label(d.src, d.dst, where)):
            out.append(DemandSpec(src=d.src, dst=d.dst, rate_bps=parse_rate(d.rate), where=where))
    return out
