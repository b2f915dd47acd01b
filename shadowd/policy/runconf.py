"""FRR running-config text, read and edited as FRR prints it (pure).

``show running-config`` prints top-level stanzas (``interface l3``, ``route-map NAME
permit 10``, ``router bgp 65001``) whose settings are indented by one space and which
end with ``exit`` (FRR 8) or, in older output, at the next unindented line. A policy
setting is one *slot*: a stanza header plus a command prefix (``ip ospf cost``,
``isis metric``, ``set local-preference``...); a slot holds zero lines (the default),
one, or — IS-IS with per-level metrics — several (``isis metric level-1 N`` and
``isis metric level-2 M``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_PEER_MAP: Final = re.compile(r"^\s+neighbor (\S+) route-map PEER-(.+)-in in\s*$")


@dataclass(frozen=True, slots=True)
class Slot:
    """One setting's place: ``header`` (a top-level line) and ``key`` (command prefix)."""

    header: str
    key: str

    def holds(self, line: str) -> bool:
        body = line.strip()
        return line.startswith(" ") and (body == self.key or body.startswith(self.key + " "))


def stanza(lines: list[str], header: str) -> tuple[int, int] | None:
    """``(start, end)`` of the stanza ``header``: ``lines[start]`` is the header and
    ``lines[end]`` its ``exit`` (or the first line after it); None if absent."""
    try:
        start = lines.index(header)
    except ValueError:
        return None
    end = start + 1
    while end < len(lines) and lines[end].startswith(" "):
        end += 1
    return start, end


def slot_lines(running: str, slot: Slot) -> list[str] | None:
    """The slot's lines in ``running`` (stripped), None if its stanza is absent."""
    lines = running.splitlines()
    found = stanza(lines, slot.header)
    if found is None:
        return None
    start, end = found
    return [ln.strip() for ln in lines[start + 1:end] if slot.holds(ln)]


def set_slot(running: str, slot: Slot, line: str | None) -> str:
    """``running`` with the slot holding exactly ``line`` (None: nothing, the default):
    the slot's lines are replaced where the first of them stood, or the line is added at
    the end of its stanza, or a new stanza is added before ``end``."""
    lines = running.splitlines()
    found = stanza(lines, slot.header)
    if found is None:
        if line is None:
            return running
        at = lines.index("end") if "end" in lines else len(lines)
        lines[at:at] = [slot.header, f" {line}", "exit", "!"]
        return _join(lines, running)
    start, end = found
    body = lines[start + 1:end]
    held = {j for j, ln in enumerate(body) if slot.holds(ln)}
    at = min(held, default=len(body))
    new = [f" {line}"] if line is not None else []
    lines[start + 1:end] = [*body[:at], *new,
                            *(ln for j, ln in enumerate(body[at:], at) if j not in held)]
    return _join(lines, running)


def _join(lines: list[str], like: str) -> str:
    return "\n".join(lines) + ("\n" if like.endswith("\n") or not like else "")


def peer_neighbors(running: str) -> dict[str, str]:
    """Peer name -> neighbour address, from ``neighbor ADDR route-map PEER-<peer>-in in``."""
    out: dict[str, str] = {}
    for line in running.splitlines():
        found = _PEER_MAP.match(line)
        if found:
            out.setdefault(found.group(2), found.group(1))
    return out
