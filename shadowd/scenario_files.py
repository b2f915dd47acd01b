"""The scenario library on disk: each file of a directory read and parsed
(``shadowd.scenario.library.parse_text``), a broken file costing only itself.

An adapter: the one place that reads scenario files. Parsing and checking them against a
network (``check_library``, ``validate``) stay pure, in ``shadowd.scenario``.
"""

from __future__ import annotations

from pathlib import Path

from shadowd.core.state import State
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.library import (
    MAX_FILE_BYTES,
    SUFFIXES,
    Library,
    Scenario,
    check_library,
    parse_text,
)


def load_file(path: Path) -> Scenario:
    syntax = SUFFIXES.get(path.suffix.lower())
    if syntax is None:
        raise ScenarioError(f"not a scenario file: use one of {', '.join(SUFFIXES)}",
                            file=str(path))
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # refused before it is read
            raise ScenarioError(f"{size:,} bytes, over the limit of {MAX_FILE_BYTES:,} for "
                                "a scenario file", file=str(path))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"cannot read: {err}", file=str(path)) from None
    return parse_text(text, syntax, file=str(path))


def load_library(directory: Path, state: State | None = None) -> Library:
    """Every scenario file directly in ``directory``, by file name; with ``state``, each
    is also validated against it. A broken file costs only itself."""
    library = parse_library(directory)
    return check_library(library, state) if state is not None else library


def parse_library(directory: Path) -> Library:
    """``load_library`` without the network: reads and parses only, so it may run in a
    worker thread while the state changes on the event loop."""
    if not directory.is_dir():
        raise ScenarioError("not a directory", file=str(directory))
    library = Library()
    for path in sorted(p for p in directory.iterdir() if p.suffix.lower() in SUFFIXES):
        try:
            scenario = load_file(path)
            if scenario.name in library.names:
                first = library.get(scenario.name).file
                raise scenario.error("$.name", f"scenario {scenario.name!r} is already "
                                     f"defined in {first}")
        except ScenarioError as err:
            library.errors.append(err)
            continue
        library.scenarios.append(scenario)
    return library
