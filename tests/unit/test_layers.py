"""The dependency rule, read from the source: every import in ``shadowd`` (those under
TYPE_CHECKING and inside functions too) against ``docs/layers.toml``. A forbidden edge,
or an import cycle, fails unless the file's ``known`` lists name it, and a ``known`` one
that is gone fails too, so those lists only shrink.

And the package holds no test fakes: they live in ``tests/fakes``, so no module of
``shadowd`` defines a class named ``Fake*``, is named ``testing`` or ``fake*``, or imports
``tests``."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import rustworkx as rx

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "shadowd"
TABLE = tomllib.loads((ROOT / "docs" / "layers.toml").read_text())


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The ``shadowd`` modules ``path`` imports (a name imported from a package counts as
    its submodule when there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("shadowd"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1],
                                 *([base] if base else [])])
            if not base.startswith("shadowd"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def fakes(name: str, path: Path) -> Iterator[str]:
    """What in module ``name`` belongs in ``tests/fakes``: the module itself if it is named
    as a test helper, each class named ``Fake*`` (nested ones too), each import of
    ``tests``."""
    last = name.rpartition(".")[2]
    if last == "testing" or last.startswith("fake"):
        yield name
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and node.name.lstrip("_").startswith("Fake"):
            yield f"{name}.{node.name}"
        elif isinstance(node, ast.Import):
            yield from (f"{name} imports {a.name}" for a in node.names
                        if a.name.split(".")[0] == "tests")
        elif (isinstance(node, ast.ImportFrom) and not node.level
              and (node.module or "").split(".")[0] == "tests"):
            yield f"{name} imports {node.module}"


def part(module: str) -> str:
    """The top-level part of ``shadowd`` a module belongs to (``shadowd`` itself: "")."""
    return module.split(".")[1] if "." in module else ""


def edges() -> set[tuple[str, str]]:
    known = {name for name, _ in modules()}
    return {(name, target) for name, path in modules()
            for target in imported(name, path, known) if target != name}


def forbidden(source: str, target: str) -> bool:
    mine, theirs = part(source), part(target)
    if not theirs or mine == theirs:
        return False
    allowed = TABLE["allow"].get(mine)
    assert allowed is not None, f"{mine!r} is not in docs/layers.toml: give it a row"
    return "*" not in allowed and theirs not in allowed


def test_every_part_of_the_package_has_a_row() -> None:
    parts = {part(name) for name, _ in modules()} - {""}
    assert parts == set(TABLE["allow"]), parts ^ set(TABLE["allow"])


def test_no_import_crosses_the_layers_beyond_the_known_edges() -> None:
    found = {f"{s} -> {t}" for s, t in edges() if forbidden(s, t)}
    known = set(TABLE["known"]["edges"])
    assert found - known == set(), "new edges the layers forbid"
    assert known - found == set(), "gone: take them out of docs/layers.toml's known list"


def test_no_import_cycle_beyond_the_known_ones() -> None:
    graph = rx.PyDiGraph()
    index: dict[str, int] = {}
    for source, target in edges():
        for name in (source, target):
            if name not in index:
                index[name] = graph.add_node(name)
        graph.add_edge(index[source], index[target], None)
    cycles = sorted(sorted(graph[i] for i in component)
                    for component in rx.strongly_connected_components(graph)
                    if len(component) > 1)
    assert cycles == sorted(sorted(c) for c in TABLE["known"]["cycles"])


def test_no_test_fake_lives_in_the_package() -> None:
    found = [thing for name, path in modules() for thing in fakes(name, path)]
    assert found == [], "test fakes and helpers belong in tests/fakes"


@pytest.mark.parametrize(("file", "source", "found"), [
    ("x.py", "class FakeClock:\n    pass\n", ["shadowd.core.x.FakeClock"]),
    ("x.py", "def f() -> None:\n    class _FakeTarget:\n        pass\n",
     ["shadowd.core.x._FakeTarget"]),
    ("x.py", "from tests.fakes.store import ring\n",
     ["shadowd.core.x imports tests.fakes.store"]),
    ("x.py", "import tests.fakes\n", ["shadowd.core.x imports tests.fakes"]),
    ("testing.py", "", ["shadowd.core.testing"]),
    ("fake_policies.py", "", ["shadowd.core.fake_policies"]),
    ("x.py", "import testfixtures\nclass Transport:\n    fake = True\n", []),
], ids=["class", "nested-class", "from-tests", "import-tests", "testing-module",
        "fake-module", "none"])
def test_the_rule_sees_a_fake(tmp_path: Path, file: str, source: str, found: list[str]) -> None:
    module = tmp_path / file
    module.write_text(source)
    name = f"shadowd.core.{module.stem}"
    assert list(fakes(name, module)) == found


@pytest.mark.parametrize(("source", "target"), [
    ("shadowd.core.state", "shadowd.engine.loads"),
    ("shadowd.engine.spf", "shadowd.store.log"),
    ("shadowd.policy.rollout", "shadowd.services.policy"),
])
def test_the_rule_forbids_an_upward_import(source: str, target: str) -> None:
    assert forbidden(source, target)


def test_the_rule_sees_imports_under_type_checking(tmp_path: Path) -> None:
    module = tmp_path / "x.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from shadowd.daemon import Daemon\n")
    assert list(imported("shadowd.core.x", module, set())) == ["shadowd.daemon"]


def design_table(allow: dict[str, list[str]]) -> str:
    """``layers.toml``'s rule as the design doc shows it: one row per part."""
    rows = ["| part | may import |", "|---|---|"]
    for name, allowed in allow.items():
        rule = "everything" if "*" in allowed else ", ".join(f"`{a}`" for a in allowed)
        rows.append(f"| `{name}` | {rule or 'nothing of shadowd'} |")
    return "\n".join(rows)


def test_the_design_doc_shows_the_rule() -> None:
    doc = (ROOT / "docs" / "DESIGN.md").read_text()
    start = "<!-- layers: generated from docs/layers.toml; test_layers checks they agree -->\n"
    shown = doc.split(start, 1)[1].split("<!-- /layers -->", 1)[0].strip()
    assert shown == design_table(TABLE["allow"]), \
        "docs/DESIGN.md's table is not docs/layers.toml's rule; paste:\n" + \
        design_table(TABLE["allow"])
