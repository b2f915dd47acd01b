"""containerlab topology files (``*.clab.yml``).

Nodes are the keys of ``topology.nodes``; links are ``topology.links``, in either form
containerlab accepts::

    - endpoints: ["r1:eth1", "r2:eth1"]                 # brief
      vars: {metric: 10, capacity: 10G, srlgs: [duct-7]}
    - type: veth                                        # extended
      endpoints: [{node: r1, interface: eth1}, {node: r2, interface: eth1}]
      vars: {...}

A link's optional ``vars`` (or ``labels``) carry shadowd's attributes as ``attrs``
describes: ``metric``, ``reverse_metric``, ``capacity`` (``"10G"`` or bit/s),
``delay_ms``, ``srlgs``; otherwise metric 1 and the default capacity.

What is not a router-to-router link is left out: links with one endpoint (``host``,
``macvlan``, ``mgmt-net``, ``vxlan`` types), endpoints on the pseudo-nodes ``host``,
``mgmt-net``, ``macvlan:*``, and nodes of kind ``bridge``/``ovs-bridge`` with their links.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeGuard

import yaml

from shadowd.topology.attrs import link_from_attrs
from shadowd.topology.errors import TopologyError
from shadowd.topology.model import Draft, LinkSpec, NodeSpec

_SWITCH_KINDS: Final = frozenset({"bridge", "ovs-bridge"})
_PSEUDO_NODES: Final = frozenset({"host", "mgmt-net", "macvlan", "vxlan", "vxlan-stitch"})


def load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise TopologyError(f"not valid YAML: {getattr(err, 'problem', err)}",
                            item=where) from None


def is_clab(data: object) -> TypeGuard[Mapping[str, Any]]:
    """True for a mapping with ``topology.nodes``, as every containerlab file has."""
    topology = data.get("topology") if isinstance(data, Mapping) else None
    return isinstance(topology, Mapping) and "nodes" in topology


def parse_text(text: str) -> Draft:
    return parse_data(load_yaml(text))


def parse_data(data: object) -> Draft:
    if not is_clab(data):
        raise TopologyError("not a containerlab file: no 'topology.nodes'", item="$.topology")
    nodes, links = data["topology"].get("nodes") or {}, data["topology"].get("links") or []
    if not isinstance(nodes, Mapping) or not isinstance(links, list):
        raise TopologyError("'nodes' must be a mapping, 'links' a list", item="$.topology")
    switches = {str(k) for k, v in nodes.items() if _kind(v) in _SWITCH_KINDS}
    routers = [NodeSpec(key=str(k), where=f"$.topology.nodes.{k}")
               for k in nodes if str(k) not in switches]
    kept = [_link(link, i) for i, link in enumerate(links)]
    return Draft(nodes=routers, links=[lk for lk in kept if lk and not _touches(lk, switches)])


def _kind(node: object) -> object:
    return node.get("kind") if isinstance(node, Mapping) else None


def _touches(link: LinkSpec, nodes: set[str]) -> bool:
    return link.a in nodes or link.b in nodes


def _link(link: object, i: int) -> LinkSpec | None:
    where = f"$.topology.links[{i}]"
    if not isinstance(link, Mapping):
        raise TopologyError("a link must be a mapping", item=where)
    if "endpoint" in link and "endpoints" not in link:
        return None  # host / macvlan / mgmt-net: one end outside the lab
    ends = [_endpoint(e, f"{where}.endpoints[{j}]") for j, e in enumerate(_ends(link, where))]
    if any(node in _PSEUDO_NODES for node in ends):
        return None
    attrs = link.get("vars") or link.get("labels") or {}
    if not isinstance(attrs, Mapping):
        raise TopologyError("'vars' must be a mapping", item=f"{where}.vars")
    return link_from_attrs(ends[0], ends[1], attrs, where)


def _ends(link: Mapping[str, Any], where: str) -> list[object]:
    ends = link.get("endpoints")
    if not isinstance(ends, list) or len(ends) != 2:
        raise TopologyError("'endpoints' must list exactly two endpoints", item=where)
    return ends


def _endpoint(end: object, where: str) -> str:
    if isinstance(end, str) and ":" in end:
        return end.split(":", 1)[0]
    if isinstance(end, Mapping) and isinstance(end.get("node"), str):
        return str(end["node"])
    raise TopologyError(f"endpoint {end!r} must be 'node:interface' or {{node: ...}}",
                        item=where)
