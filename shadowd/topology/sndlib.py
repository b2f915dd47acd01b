"""SNDlib native network files (``?SNDlib native format; type: network; version: 1.0``).

Sections, each ``NAME (`` ... ``)``; ``#`` starts a comment::

    NODES (  node_id ( longitude latitude ) [( ) ( )]  )
    LINKS (  link_id ( source target ) pre_installed_capacity pre_installed_capacity_cost
             routing_cost setup_cost ( {module_capacity module_cost}* )  )
    DEMANDS (  demand_id ( source target ) routing_unit demand_value max_path_length  )
    ADMISSIBLE_PATHS ( ... )   META ( ... )        -- read past, not used

Mapping to shadowd (SNDlib is a planning format, so some choices are ours):

- a node's id is its router name; coordinates become ``pos`` when they are on the globe;
- a link's capacity is the largest of its pre-installed capacity and its module
  capacities (the biggest that could be installed), in ``demand_unit_bps`` (SNDlib's
  published networks use Mbit/s); a link with none gets the default capacity;
- routing cost is a planning cost, not an IGP metric: every link gets metric 1; link
  ids are shadowd's ``a--b`` form; delay comes from the great circle between the nodes;
- a demand's rate is ``routing_unit * demand_value * demand_unit_bps``; two demands
  between the same ordered pair add up.
"""

from __future__ import annotations

import re
from typing import Final

from shadowd.topology.errors import TopologyError
from shadowd.topology.model import DemandSpec, Draft, ImportOptions, LinkSpec, NodeSpec
from shadowd.topology.units import geo_pos

Lines = list[tuple[int, str]]

_SECTIONS: Final = ("NODES", "LINKS", "DEMANDS", "ADMISSIBLE_PATHS", "META")
_OPEN: Final = re.compile(r"^([A-Z_]+)\s*\($")
_ENDS: Final = r"(\S+)\s*\(\s*(\S+)\s+(\S+)\s*\)"
_NODE: Final = re.compile(rf"^{_ENDS}(?:\s*\(\s*\)){{0,2}}$")
_LINK: Final = re.compile(rf"^{_ENDS}\s+(\S+)\s+\S+\s+\S+\s+\S+\s*\(([^()]*)\)$")
_DEMAND: Final = re.compile(rf"^{_ENDS}\s+(\S+)\s+(\S+)\s+\S+$")


def parse_text(text: str, opts: ImportOptions) -> Draft:
    sections = split_sections(text)
    if "NODES" not in sections:
        raise TopologyError("no NODES section: not an SNDlib network", item="file")
    return Draft(
        nodes=[_node(n, line) for n, line in sections["NODES"]],
        links=[_link(n, line, opts) for n, line in sections.get("LINKS", [])],
        demands=_demands(sections.get("DEMANDS", []), opts),
    )


def split_sections(text: str) -> dict[str, Lines]:
    """Section name -> its content lines (numbered), comments and blank lines dropped."""
    sections: dict[str, Lines] = {}
    current: str | None = None
    depth = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if current is None:
            current, depth = _open_section(n, line, sections), 0
            continue
        depth += _paren_change(n, line, current)
        if depth < 0:
            current = None
            continue
        sections[current].append((n, line))
    if current is not None:
        raise TopologyError(f"section {current} is never closed with ')'", item="end of file")
    return sections


def _paren_change(n: int, line: str, section: str) -> int:
    """Nesting change of one line; only ADMISSIBLE_PATHS entries may span lines."""
    change = line.count("(") - line.count(")")
    if change and line != ")" and section != "ADMISSIBLE_PATHS":
        raise TopologyError(f"unbalanced parentheses in {section} entry {line!r}",
                            item=f"line {n}")
    return change


def _open_section(n: int, line: str, sections: dict[str, Lines]) -> str | None:
    if line.startswith("?"):
        if "type: network" not in line:
            raise TopologyError(f"not an SNDlib network file: {line!r}", item=f"line {n}")
        return None
    match = _OPEN.match(line)
    if match is None or match.group(1) not in _SECTIONS:
        raise TopologyError(f"expected a section such as 'NODES (', got {line!r}",
                            item=f"line {n}")
    if match.group(1) in sections:
        raise TopologyError(f"section {match.group(1)} appears twice", item=f"line {n}")
    sections[match.group(1)] = []
    return match.group(1)


def _match(pattern: re.Pattern[str], n: int, line: str, what: str) -> re.Match[str]:
    match = pattern.match(line)
    if match is None:
        raise TopologyError(f"malformed {what} entry {line!r}", item=f"line {n}")
    return match


def _number(token: str, n: int, what: str) -> float:
    try:
        return float(token)
    except ValueError:
        raise TopologyError(f"{what} {token!r} is not a number", item=f"line {n}") from None


def _node(n: int, line: str) -> NodeSpec:
    key, lon, lat = _match(_NODE, n, line, "NODES").groups()
    x, y = _number(lon, n, "longitude"), _number(lat, n, "latitude")
    return NodeSpec(key=key, pos=geo_pos(x, y), where=f"line {n}")


def _link(n: int, line: str, opts: ImportOptions) -> LinkSpec:
    _, a, b, pre, modules = _match(_LINK, n, line, "LINKS").groups()
    tokens = modules.split()
    if len(tokens) % 2:
        raise TopologyError("modules must be 'capacity cost' pairs", item=f"line {n}")
    caps = [_number(t, n, "capacity") for t in [pre, *tokens[0::2]]]
    if min(caps) < 0.0:
        raise TopologyError(f"negative capacity in {line!r}", item=f"line {n}")
    best = max(caps) * opts.demand_unit_bps
    return LinkSpec(a=a, b=b, where=f"line {n}", capacity_bps=best or None)


def _demands(lines: Lines, opts: ImportOptions) -> list[DemandSpec]:
    total: dict[tuple[str, str], DemandSpec] = {}
    for n, line in lines:
        _, src, dst, unit, value = _match(_DEMAND, n, line, "DEMANDS").groups()
        rate = _number(unit, n, "routing unit") * _number(value, n, "demand value")
        old = total.get((src, dst))
        bps = rate * opts.demand_unit_bps + (old.rate_bps if old else 0.0)
        where = old.where if old else f"line {n}"
        total[(src, dst)] = DemandSpec(src=src, dst=dst, rate_bps=bps, where=where)
    return list(total.values())
