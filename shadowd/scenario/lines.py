"""Where each key of a scenario file is: ``$.path`` -> 1-based line, for error messages.

msgspec names a bad value by its path (``$.steps[2].kind``); a person wants the line.
``yaml_lines`` walks PyYAML's node graph, whose nodes carry their marks. ``toml_lines``
scans the text, since tomllib keeps no positions: it follows table headers (``[[steps]]``
counts array-of-tables entries, ``[name]`` opens a table) and ``key = value`` lines,
skipping the inside of multi-line strings and arrays. Shapes it does not follow (inline
tables, dotted keys) fall back to their enclosing key: ``line_of`` walks up the path until
it finds a line. The texts given here have already decoded once, so they are well formed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import yaml

Lines = dict[str, int]

_HEADER: Final = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY: Final = re.compile(r"""^\s*([A-Za-z0-9_-]+|"[^"\\]*"|'[^']*')\s*=""")
_PARENT: Final = re.compile(r"(\.[^.\[]+|\[\d+\])$")


def line_of(lines: Mapping[str, int], path: str) -> int | None:
    """The line of ``path``, else of its nearest enclosing key that has one."""
    while path:
        if path in lines:
            return lines[path]
        parent = _PARENT.sub("", path)
        if parent == path:
            return None
        path = parent
    return None


def yaml_lines(text: str) -> Lines:
    lines: Lines = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        _walk(root, "$", lines)
    return lines


def _walk(node: yaml.Node, path: str, lines: Lines) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}"
            lines.setdefault(child, key.start_mark.line + 1)
            _walk(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, f"{path}[{i}]", lines)


def toml_lines(text: str) -> Lines:
    lines: Lines = {}
    table = "$"
    counts: dict[str, int] = {}
    scan = _Scanner(lines)
    for number, line in enumerate(text.splitlines(), start=1):
        if scan.busy():
            scan.feed(line, number)
            continue
        header = _HEADER.match(line)
        if header:
            name = ".".join(_unquoted(part.strip()) for part in header[2].split("."))
            if header[1] == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"$.{name}[{counts[name]}]"
            else:
                table = f"$.{name}"
            lines.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            scan.path = f"{table}.{_unquoted(key[1])}"
            lines.setdefault(scan.path, number)
            scan.feed(line[key.end():], number)
    return lines


class _Scanner:
    """Follows one TOML value across lines (open brackets, multi-line strings), noting
    the line of each item of an array value: ``$.sources[1]``, ``$.steps[0]``."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.path = "$"  # the key whose value is being read
        self.depth = 0
        self.quote = ""  # the open multi-line string's delimiter
        self.items = 0  # items seen in the outermost array
        self.expect = False  # the next value starts an item of the outermost array

    def busy(self) -> bool:
        return self.depth > 0 or bool(self.quote)

    def feed(self, text: str, number: int) -> None:
        i = 0
        while i < len(text):
            if self.quote:
                end = text.find(self.quote, i)
                if end < 0:
                    return
                i, self.quote = end + 3, ""
                continue
            i = self._step(text, i, number)

    def _step(self, text: str, i: int, number: int) -> int:
        ch = text[i]
        if ch.isspace():
            return i + 1
        if ch == "#":
            return len(text)
        if self.depth == 1 and self.expect and ch not in ",]":
            self.lines.setdefault(f"{self.path}[{self.items}]", number)
            self.items, self.expect = self.items + 1, False
        if text.startswith(('"""', "'''"), i):
            self.quote = text[i:i + 3]
            return i + 3
        if ch in "\"'":
            return _string_end(text, i)
        if ch in "[{":
            self.depth += 1
            if self.depth == 1 and ch == "[":
                self.items, self.expect = 0, True
        elif ch in "]}":
            self.depth -= 1
        elif ch == "," and self.depth == 1:
            self.expect = True
        return i + 1


def _unquoted(key: str) -> str:
    return key.strip("\"'")


def _string_end(text: str, start: int) -> int:
    """The index after the one-line string that opens at ``start``."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\" and quote == '"':
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return i
