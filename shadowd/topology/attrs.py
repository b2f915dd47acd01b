"""Reading nodes and links from loose attribute maps (node-link JSON, GraphML, clab vars).

Recognised link attributes, first one present wins:

- metric: ``metric``, ``igp_metric``, ``weight`` (default 1); ``reverse_metric`` for b->a;
- capacity in bit/s: ``capacity_bps``, ``capacity``, ``bandwidth``, ``LinkSpeedRaw``
  (Topology Zoo); a number is bit/s, a string may say ``"10G"``;
- ``delay_ms``; ``dist`` (km, as topohub gives it) for a fibre delay;
- ``srlgs``: a list of names, or one comma-separated string.

Node attributes: ``name`` or ``label``; position from ``pos`` = [lon, lat] or
``Longitude``/``Latitude``; ``loopback``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, TypeVar

from shadowd.topology.errors import TopologyError, naming
from shadowd.topology.model import LinkSpec, NodeSpec, link_label
from shadowd.topology.units import geo_pos, parse_metric, parse_rate

METRIC_KEYS: Final = ("metric", "igp_metric", "weight")
CAPACITY_KEYS: Final = ("capacity_bps", "capacity", "bandwidth", "LinkSpeedRaw")

T = TypeVar("T")
Attrs = Mapping[str, object]


def first(attrs: Attrs, keys: tuple[str, ...]) -> tuple[str, object] | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return key, value
    return None


def _opt(attrs: Attrs, keys: tuple[str, ...], parse: Callable[[object, str], T]) -> T | None:
    found = first(attrs, keys)
    return None if found is None else parse(found[1], found[0])


def non_negative(value: object, what: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise TopologyError(f"{what} {value!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0.0:
        raise TopologyError(f"{what} {value!r} must be a number >= 0")
    return float(value)


def srlg_names(value: object, what: str = "srlgs") -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str | int) for v in value):
        return tuple(str(v) for v in value)
    raise TopologyError(f"{what} {value!r} must be a list of names")


def link_from_attrs(a: str, b: str, attrs: Attrs, where: str) -> LinkSpec:
    with naming(link_label(a, b, where)):
        return LinkSpec(
            a=a, b=b, where=where,
            metric=_opt(attrs, METRIC_KEYS, parse_metric) or 1,
            reverse_metric=_opt(attrs, ("reverse_metric",), parse_metric),
            capacity_bps=_opt(attrs, CAPACITY_KEYS, parse_rate),
            delay_ms=_opt(attrs, ("delay_ms",), non_negative),
            dist_km=_opt(attrs, ("dist",), non_negative),
            srlgs=_opt(attrs, ("srlgs",), srlg_names) or (),
        )


def node_from_attrs(key: str, attrs: Attrs, where: str) -> NodeSpec:
    found = first(attrs, ("name", "label"))
    name = str(found[1]).strip() if found else ""
    loopback = attrs.get("loopback")
    return NodeSpec(key=key, where=where, name=name or None, pos=_node_pos(attrs),
                    loopback=str(loopback) if loopback else None)


def _node_pos(attrs: Attrs) -> tuple[float, float] | None:
    pos = attrs.get("pos")
    if isinstance(pos, list | tuple) and len(pos) == 2:
        return geo_pos(pos[0], pos[1])
    return geo_pos(attrs.get("Longitude"), attrs.get("Latitude"))


def pair_directed(links: list[LinkSpec]) -> list[LinkSpec]:
    """Fold a directed graph's a->b and b->a edges into one link with ``reverse_metric``.

    Each edge pairs with the first unpaired edge running the other way between the same
    nodes; the pair keeps the smaller capacity. An unpaired edge stays a link of its own.
    """
    out: list[LinkSpec] = []
    open_by_pair: dict[tuple[str, str], list[int]] = {}
    for link in links:
        waiting = open_by_pair.get((link.b, link.a))
        if waiting:
            i = waiting.pop(0)
            out[i] = _merge(out[i], link)
            continue
        open_by_pair.setdefault((link.a, link.b), []).append(len(out))
        out.append(link)
    return out


def _merge(fwd: LinkSpec, rev: LinkSpec) -> LinkSpec:
    caps = [c for c in (fwd.capacity_bps, rev.capacity_bps) if c is not None]
    return LinkSpec(
        a=fwd.a, b=fwd.b, where=f"{fwd.where} + {rev.where}", id=fwd.id,
        metric=fwd.metric, reverse_metric=rev.metric if rev.metric != fwd.metric else None,
        capacity_bps=min(caps) if caps else None,
        delay_ms=fwd.delay_ms, dist_km=fwd.dist_km,
        srlgs=tuple(dict.fromkeys(fwd.srlgs + rev.srlgs)),
    )
