"""Pick the format, parse, build, validate: ``load_topology`` and ``topohub_topology``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal, get_args

import topohub

from shadowd.core.events import AnyEvent
from shadowd.topology import clab, graphml, native, nodelink, sndlib
from shadowd.topology import demands as demand_files
from shadowd.topology.build import build_events, router_names, unique_demands
from shadowd.topology.errors import TopologyError
from shadowd.topology.model import (
    DEFAULT_CAPACITY_BPS,
    DEFAULT_DEMAND_UNIT_BPS,
    DemandSpec,
    Draft,
    ImportOptions,
)

Format = Literal["nodelink", "sndlib", "graphml", "clab", "toml", "yaml"]
FORMATS: Final[tuple[str, ...]] = get_args(Format)

_BY_SUFFIX: Final[dict[str, Format]] = {
    ".json": "nodelink", ".txt": "sndlib", ".sndlib": "sndlib", ".graphml": "graphml",
    ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
}
_TOML_TABLE: Final = re.compile(r"^\s*\[\[?[\w.-]+\]\]?\s*$", re.M)


def detect_format(path: Path, text: str) -> Format:
    """By file name (``.clab.yml`` before ``.yml``), else by a look at the content."""
    name = path.name.lower()
    if name.endswith((".clab.yml", ".clab.yaml")):
        return "clab"
    return _BY_SUFFIX.get(path.suffix.lower()) or _sniff(text)


def _sniff(text: str) -> Format:
    head = text.lstrip()
    if head.startswith("?SNDlib") or re.search(r"^\s*NODES\s*\(", text, re.M):
        return "sndlib"
    if head.startswith("<"):
        return "graphml"
    if head.startswith("{"):
        return "nodelink"
    return "toml" if _TOML_TABLE.search(text) else "yaml"


def parse(text: str, fmt: str, opts: ImportOptions) -> Draft:
    """The draft of ``text`` in format ``fmt`` (``yaml`` is containerlab or shadowd's own)."""
    if fmt == "nodelink":
        return nodelink.parse_text(text, opts)
    if fmt == "sndlib":
        return sndlib.parse_text(text, opts)
    if fmt == "graphml":
        return graphml.parse_text(text, opts)
    if fmt == "clab":
        return clab.parse_text(text)
    if fmt == "toml":
        return native.parse_text(text, "toml")
    if fmt == "yaml":
        return _parse_yaml(text)
    raise TopologyError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}",
                        item="format")


def _parse_yaml(text: str) -> Draft:
    data = clab.load_yaml(text)
    return clab.parse_data(data) if clab.is_clab(data) else native.parse_text(text, "yaml")


def load_topology(path: Path, demands: Path | None = None, *, source: str = "import",
                  ts: float = 0.0, default_capacity_bps: float = DEFAULT_CAPACITY_BPS,
                  demand_unit_bps: float = DEFAULT_DEMAND_UNIT_BPS,
                  format: str | None = None) -> list[AnyEvent]:
    """The complete, validated events of a topology file (see the package docstring)."""
    opts = ImportOptions(source=source, ts=ts, default_capacity_bps=default_capacity_bps,
                         demand_unit_bps=demand_unit_bps)
    text = demand_files.read_text(path)
    try:
        draft = parse(text, format or detect_format(path, text), opts)
    except TopologyError as err:
        raise err.in_file(str(path)) from None
    except RecursionError:  # the parsers recurse per level: a clean error, not a traceback
        raise TopologyError("nested too deeply to be a topology", file=str(path)) from None
    return _finish(draft, demands, opts, str(path))


def topohub_topology(key: str, demands: Path | None = None, *, source: str = "import",
                     ts: float = 0.0, default_capacity_bps: float = DEFAULT_CAPACITY_BPS,
                     demand_unit_bps: float = DEFAULT_DEMAND_UNIT_BPS) -> list[AnyEvent]:
    """Events for a network bundled in topohub, e.g. ``"sndlib/germany50"``."""
    opts = ImportOptions(source=source, ts=ts, default_capacity_bps=default_capacity_bps,
                         demand_unit_bps=demand_unit_bps)
    file = f"topohub:{key}"
    try:
        data = topohub.get(key)
    except (KeyError, OSError, ValueError):
        raise TopologyError("no such topology in the topohub package", file=file) from None
    try:
        draft = nodelink.parse_data(data, opts)
    except TopologyError as err:
        raise err.in_file(file) from None
    return _finish(draft, demands, opts, file)


def _finish(draft: Draft, demands: Path | None, opts: ImportOptions,
            file: str) -> list[AnyEvent]:
    if demands is not None:
        draft.demands = _demand_file(demands, draft)
    try:
        return build_events(draft, opts)
    except TopologyError as err:
        raise err.in_file(file) from None


def _demand_file(path: Path, draft: Draft) -> list[DemandSpec]:
    """A demands file replaces the topology's own demands; it may use names or ids."""
    try:
        names = router_names(draft.nodes)
    except TopologyError:
        return draft.demands  # the topology itself is broken: build reports that
    aliases = {key: key for key in names} | {name: key for key, name in names.items()}
    text = demand_files.read_text(path)
    try:
        rows = demand_files.parse_text(text, is_json=demand_files.is_json_text(path, text))
        return unique_demands(demand_files.resolve(rows, aliases))
    except TopologyError as err:
        raise err.in_file(str(path)) from None
