"""networkx node-link JSON, as topohub ships Topology Zoo, SNDlib and CAIDA networks.

``{"directed": false, "nodes": [{"id": 0, "name": "Berlin", "pos": [13.4, 52.5]}, ...],
"edges": [{"source": 0, "target": 1, "dist": 255.1}, ...],
"graph": {"demands": {"0": {"1": 42.0}}}}``. ``links`` is accepted for ``edges`` (older
networkx). Node and link attributes are read as ``attrs`` describes. Demands are
``graph.demands[src][dst]`` in the file's unit (topohub: Mbit/s), times
``demand_unit_bps``. With ``"directed": true`` the two directions of a link are paired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shadowd.topology.attrs import link_from_attrs, node_from_attrs, pair_directed
from shadowd.topology.errors import TopologyError, naming
from shadowd.topology.model import (
    DemandSpec,
    Draft,
    ImportOptions,
    LinkSpec,
    NodeSpec,
    demand_label,
)
from shadowd.topology.units import parse_rate


def parse_text(text: str, opts: ImportOptions) -> Draft:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise TopologyError(f"not valid JSON: {err.msg}", item=f"line {err.lineno}") from None
    return parse_data(data, opts)


def parse_data(data: object, opts: ImportOptions) -> Draft:
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), list):
        raise TopologyError("not a node-link graph: no 'nodes' list", item="$")
    edges = data.get("edges", data.get("links", []))
    if not isinstance(edges, list):
        raise TopologyError("'edges' must be a list", item="$.edges")
    draft = Draft(nodes=[_node(n, i) for i, n in enumerate(data["nodes"])],
                  links=[_link(e, i) for i, e in enumerate(edges)])
    if data.get("directed"):
        draft.links = pair_directed(draft.links)
    graph = data.get("graph") or {}
    draft.demands = _demands(graph.get("demands") if isinstance(graph, Mapping) else None, opts)
    return draft


def _key(value: object, item: str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TopologyError(f"{what} {value!r} must be a string or an integer", item=item)
    return str(value)


def _node(node: Any, i: int) -> NodeSpec:
    where = f"nodes[{i}]"
    if not isinstance(node, Mapping) or "id" not in node:
        raise TopologyError("a node needs an 'id'", item=where)
    return node_from_attrs(_key(node["id"], where, "id"), node, where)


def _link(edge: Any, i: int) -> LinkSpec:
    where = f"edges[{i}]"
    if not isinstance(edge, Mapping) or "source" not in edge or "target" not in edge:
        raise TopologyError("an edge needs 'source' and 'target'", item=where)
    a = _key(edge["source"], where, "source")
    return link_from_attrs(a, _key(edge["target"], where, "target"), edge, where)


def _demands(matrix: object, opts: ImportOptions) -> list[DemandSpec]:
    if matrix is None:
        return []
    if not isinstance(matrix, Mapping):
        raise TopologyError("must map source -> {destination: rate}", item="graph.demands")
    return [_demand(str(src), str(dst), rate, opts)
            for src, row in matrix.items() for dst, rate in _row(src, row).items()]


def _row(src: object, row: object) -> Mapping[object, object]:
    if not isinstance(row, Mapping):
        raise TopologyError("must map destination -> rate", item=f"graph.demands[{src!r}]")
    return row


def _demand(src: str, dst: str, rate: object, opts: ImportOptions) -> DemandSpec:
    where = "graph.demands"
    with naming(demand_label(src, dst, where)):
        if isinstance(rate, str):
            raise TopologyError(f"rate {rate!r} must be a number (in the file's unit)")
        bps = parse_rate(rate) * opts.demand_unit_bps
    return DemandSpec(src=src, dst=dst, rate_bps=bps, where=where)
