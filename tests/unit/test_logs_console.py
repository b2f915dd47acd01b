"""The console is for people: long lists summarised, lines within the terminal's width;
the JSON log, for machines, keeps everything."""

from __future__ import annotations

import io
import json

import pytest

from shadowd import logs

CHANGES = [f"router r{i}: interface eth{i} cost 10 -> 20" for i in range(80)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore() -> object:
    yield
    logs.configure("info", "json")


@pytest.mark.parametrize("columns", [60, 100, 400])
def test_a_console_line_summarises_long_lists_and_fits_the_terminal(
        monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    screen = Terminal()
    logs.configure("info", "auto", stream=screen)
    logs.get_logger().info("lab applied", lab_id="shadow", changes=CHANGES)
    (line,) = screen.getvalue().splitlines()
    assert len(line.replace("\x1b[0m", "")) <= columns
    assert CHANGES[3] not in line
    if columns == 400:  # room for the whole summary
        assert "+77 more" in line


def test_the_json_log_keeps_every_change() -> None:
    pipe = io.StringIO()
    logs.configure("info", "auto", stream=pipe)
    logs.get_logger().info("lab applied", lab_id="shadow", changes=CHANGES)
    assert json.loads(pipe.getvalue())["changes"] == CHANGES


@pytest.mark.parametrize("columns", [60, 100])
def test_the_guides_narration_is_wrapped_not_cut(monkeypatch: pytest.MonkeyPatch,
                                                 columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    screen = Terminal()
    logs.configure("info", "auto", stream=screen)
    text = ("[4/6 policy] policy p10 (" + ", ".join(CHANGES[:4]) + ") takes the worst case "
            "from 96% to 74% (target 80%); confirmed in the lab")
    logs.get_logger(component="guide").info(text)
    lines = screen.getvalue().splitlines()
    assert len(lines) > 1
    assert all(len(line) <= columns for line in lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert " ".join(" ".join(line.split()) for line in lines).count("confirmed in the lab") == 1
