"""Demand files (``--demands``): a directed traffic matrix in CSV or JSON, in bit/s.

CSV, one demand a line, ``src,dst,rate``; a header line (``src,dst,rate``), blank lines
and ``#`` comments are skipped::

    src,dst,rate
    fra,ams,2.5G
    0,3,1000000        # node ids work too

JSON, either ``{"fra": {"ams": "2.5G", "lon": 1e9}}`` or
``[{"src": "fra", "dst": "ams", "rate": "2.5G"}, ...]``.

A rate is bit/s: a number, or a string with an SI suffix (``"10M"``, ``"2.5G"``).
Nodes are named by router name or by the topology file's node id. A rate of 0 is kept
by ``load_demands`` (a ``DemandSet`` of 0 removes that demand) and skipped at import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import msgspec

from shadowd.core.events import DemandSet
from shadowd.topology.build import check_schema, unique_demands
from shadowd.topology.errors import TopologyError, naming
from shadowd.topology.model import DemandSpec, demand_label
from shadowd.topology.units import parse_rate

_HEADER_WORDS = frozenset({"src", "source", "from"})


class _Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    src: str | int
    dst: str | int
    rate: str | float


def parse_text(text: str, *, is_json: bool) -> list[DemandSpec]:
    """Rows as written: ``src``/``dst`` are still the file's names or ids."""
    return _parse_json(text) if is_json else _parse_csv(text)


def is_json_text(path: Path, text: str) -> bool:
    return path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "[")


def _row(src: str, dst: str, rate: object, where: str) -> DemandSpec:
    with naming(demand_label(src, dst, where)):
        return DemandSpec(src=src, dst=dst, rate_bps=parse_rate(rate), where=where)


def _parse_csv(text: str) -> list[DemandSpec]:
    rows: list[DemandSpec] = []
    for n, line in enumerate(text.splitlines(), 1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        cells = [cell.strip() for cell in next(csv.reader([body]))]
        if len(cells) != 3:
            raise TopologyError(f"expected 'src,dst,rate', got {line.strip()!r}", item=f"line {n}")
        if not rows and cells[0].lower() in _HEADER_WORDS:
            continue
        rows.append(_row(cells[0], cells[1], cells[2], f"line {n}"))
    return rows


def _parse_json(text: str) -> list[DemandSpec]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise TopologyError(f"not valid JSON: {err.msg}", item=f"line {err.lineno}") from None
    if isinstance(data, Mapping):
        return [_row(str(s), str(d), rate, f"[{s!r}][{d!r}]")
                for s, row in data.items() for d, rate in _json_row(s, row).items()]
    if isinstance(data, list):
        return [_entry(item, i) for i, item in enumerate(data)]
    raise TopologyError("expected {src: {dst: rate}} or a list of {src, dst, rate}", item="$")


def _json_row(src: str, row: object) -> Mapping[str, object]:
    if not isinstance(row, Mapping):
        raise TopologyError("must map destination -> rate", item=f"[{src!r}]")
    return row


def _entry(item: object, i: int) -> DemandSpec:
    try:
        entry = msgspec.convert(item, _Entry)
    except msgspec.ValidationError as err:
        raise TopologyError(str(err), item=f"[{i}]") from None
    return _row(str(entry.src), str(entry.dst), entry.rate, f"[{i}]")


def resolve(rows: list[DemandSpec], aliases: Mapping[str, str]) -> list[DemandSpec]:
    """Map each row's names/ids through ``aliases``; unknown nodes and loops are errors."""
    return [_resolve(row, aliases) for row in rows]


def _resolve(row: DemandSpec, aliases: Mapping[str, str]) -> DemandSpec:
    src = _alias(row, row.src, "source", aliases)
    dst = _alias(row, row.dst, "destination", aliases)
    if src == dst:
        raise TopologyError(f"demand from {row.src!r} to itself",
                            item=demand_label(row.src, row.dst, row.where))
    return msgspec.structs.replace(row, src=src, dst=dst)


def _alias(row: DemandSpec, name: str, end: str, aliases: Mapping[str, str]) -> str:
    if name not in aliases:
        raise TopologyError(f"unknown node {name!r} ({end})",
                            item=demand_label(row.src, row.dst, row.where))
    return aliases[name]


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TopologyError(f"cannot read: {err}", file=str(path)) from None


def load_demands(path: Path, names: Mapping[str, str] | Iterable[str], *,
                 source: str = "import", ts: float = 0.0, first_seq: int = 1) -> list[DemandSet]:
    """``DemandSet`` events from a demands file, numbered ``first_seq``, ``first_seq + 1``...

    ``names`` are the routers' names, or a mapping from every accepted spelling (router
    name or node id) to the router name. Raises ``TopologyError`` naming the file and line.
    """
    aliases = names if isinstance(names, Mapping) else {n: n for n in names}
    try:
        text = read_text(path)
        rows = unique_demands(resolve(parse_text(text, is_json=is_json_text(path, text)), aliases))
        events = [DemandSet(source=source, seq=first_seq + i, ts=ts, src=row.src, dst=row.dst,
                            rate_bps=row.rate_bps) for i, row in enumerate(rows)]
        _check_standalone(events, rows)
    except TopologyError as err:
        raise err.in_file(str(path)) from None
    return events


def _check_standalone(events: list[DemandSet], rows: list[DemandSpec]) -> None:
    check_schema(events, [demand_label(r.src, r.dst, r.where) for r in rows])
