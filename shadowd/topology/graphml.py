"""GraphML, as the Internet Topology Zoo publishes it (stdlib ``xml.etree``, no networkx).

``<key id="d29" for="node" attr.name="Latitude" attr.type="double"/>`` declares an
attribute; ``<data key="d29">52.37</data>`` inside a ``<node>`` or ``<edge>`` sets it.
Topology Zoo nodes carry ``label``, ``Longitude``, ``Latitude``; some edges carry
``LinkSpeedRaw`` (bit/s), which becomes the capacity. Everything else is read as
``attrs`` describes. ``edgedefault="directed"`` pairs the two directions of a link.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

from shadowd.topology.attrs import link_from_attrs, node_from_attrs, pair_directed
from shadowd.topology.errors import TopologyError
from shadowd.topology.model import Draft, ImportOptions, LinkSpec, NodeSpec

_CASTS: Final = {"int": int, "long": int, "float": float, "double": float}
Keys = dict[str, tuple[str, str]]  # key id -> (attr.name, attr.type)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_text(text: str, opts: ImportOptions) -> Draft:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        line = err.position[0]
        raise TopologyError(f"not well-formed XML: {err}", item=f"line {line}") from None
    graph = next((el for el in root if _local(el.tag) == "graph"), None)
    if _local(root.tag) != "graphml" or graph is None:
        raise TopologyError("not a GraphML document with a <graph>", item="file")
    keys = _keys(root)
    nodes = [_node(el, keys, i) for i, el in enumerate(_children(graph, "node"))]
    links = [_link(el, keys, i) for i, el in enumerate(_children(graph, "edge"))]
    directed = graph.get("edgedefault") == "directed"
    return Draft(nodes=nodes, links=pair_directed(links) if directed else links)


def _children(parent: ET.Element, tag: str) -> list[ET.Element]:
    return [el for el in parent if _local(el.tag) == tag]


def _keys(root: ET.Element) -> Keys:
    return {el.get("id", ""): (el.get("attr.name", el.get("id", "")),
                               el.get("attr.type", "string"))
            for el in _children(root, "key")}


def _data(el: ET.Element, keys: Keys, where: str) -> dict[str, object]:
    attrs: dict[str, object] = {}
    for data in _children(el, "data"):
        name, kind = keys.get(data.get("key", ""), (data.get("key", ""), "string"))
        attrs[name] = _cast(data.text or "", kind, f"{where}: data {name!r}")
    return attrs


def _cast(text: str, kind: str, item: str) -> object:
    cast = _CASTS.get(kind)
    if cast is None:
        return text.strip()
    try:
        return cast(text.strip())
    except ValueError:
        raise TopologyError(f"{text!r} is not of type {kind}", item=item) from None


def _node(el: ET.Element, keys: Keys, i: int) -> NodeSpec:
    key = el.get("id")
    if not key:
        raise TopologyError("a <node> needs an id", item=f"node #{i + 1}")
    where = f"<node id={key!r}>"
    return node_from_attrs(key, _data(el, keys, where), where)


def _link(el: ET.Element, keys: Keys, i: int) -> LinkSpec:
    a, b = el.get("source"), el.get("target")
    where = f"edge #{i + 1}"
    if not a or not b:
        raise TopologyError("an <edge> needs source and target", item=where)
    return link_from_attrs(a, b, _data(el, keys, where), where)
