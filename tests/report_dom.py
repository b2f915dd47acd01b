"""Reading a report page back: its elements and tables, as a browser's DOM or the file.

``Dom`` parses HTML (the page, or ``chromium --dump-dom``'s output) with the stdlib
parser: every element with its attributes and the ids of the elements around it, and each
table's rows as cell texts. ``chromium_dom`` runs Debian's chromium headless.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

CHROMIUM: Final = shutil.which("chromium")
VOID: Final = frozenset({"meta", "br", "img", "input", "link", "hr", "wbr", "col", "source"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    within: tuple[str, ...]  # ids of the enclosing elements, outermost first

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.tables: dict[str, list[list[str]]] = {}  # id -> its body's rows of cell texts
        self._stack: list[tuple[str, str]] = []  # (tag, id) of the open elements
        self._cell: list[str] | None = None

    @classmethod
    def of(cls, text: str) -> Dom:
        dom = cls()
        dom.feed(text)
        dom.close()
        return dom

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append(Element(tag, values, tuple(i for _, i in self._stack if i)))
        table = self._table()
        if tag == "tr" and table is not None and "tbody" in (t for t, _ in self._stack):
            self.tables[table].append([])
        elif tag == "td" and table is not None:
            self._cell = []
        if tag == "table":
            self.tables[values.get("id", "")] = []
        if tag not in VOID:
            self._stack.append((tag, values.get("id", "")))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            table = self._table()
            if table is not None and self.tables[table]:
                self.tables[table][-1].append("".join(self._cell).strip())
            self._cell = None
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def _table(self) -> str | None:
        return next((i for t, i in reversed(self._stack) if t == "table"), None)

    def find(self, tag: str, cls: str | None = None, within: str | None = None) -> list[Element]:
        return [e for e in self.elements if e.tag == tag
                and (cls is None or cls in e.classes)
                and (within is None or within in e.within)]


def chromium_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after Chromium loaded it (``--dump-dom``)."""
    assert CHROMIUM is not None
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def chromium_screenshot(page: Path, profile: Path, png: Path) -> None:
    assert CHROMIUM is not None
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--hide-scrollbars", "--window-size=1280,2000", f"--screenshot={png}",
         page.resolve().as_uri()], capture_output=True, timeout=120, check=True)
