"""An operator's own history as a trace: time series of link counters and/or a traffic
matrix, over a topology, turned into the batches a replay source plays.

A *series* is a table: one row per interval (its time), one column per link direction
(counters) or per router pair (a traffic matrix), in bit/s. It comes from CSV text (a
header ``ts,COL,...`` then one row per interval) or from arrays (NumPy files); see
``parse_csv`` and ``series_of``. Columns are named

- counters: ``LINK:ab`` / ``LINK:ba`` (a link id and its direction), or ``A->B`` when
  exactly one link joins routers A and B;
- matrix: ``SRC->DST``, two router names (``separator`` may name another joiner, e.g.
  ``_`` for ``ATLAng_CHINng``; a name that splits two ways is an error).

Every problem is one ``SeriesError`` naming the file, the row (1 = the first data row)
and the column: a number that is not one, negative, NaN or infinite; a time that does not
increase; an unknown link or router; a row of the wrong length. ``imported_batches`` then
makes the trace: the topology's events first, then per interval one batch of
``link_util`` events (each link's two directions) and ``demand_set`` events.

Pure: text and arrays in, events out.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from shadowd.core.errors import ShadowdError
from shadowd.core.events import AnyEvent, DemandSet, Direction, LinkUtilization
from shadowd.core.state import State, fold

Kind = Literal["counters", "matrix"]
FloatArray = npt.NDArray[np.float64]


class SeriesError(ShadowdError):
    """A series that cannot be imported: the file, row and column, and what is wrong."""

    def __init__(self, reason: str, *, file: str, row: int = 0, column: str = "") -> None:
        where = [file] + ([f"row {row}"] if row else []) + ([f"column {column!r}"] if column
                                                            else [])
        super().__init__(f"{': '.join(where)}: {reason}")
        self.file, self.row, self.column, self.reason = file, row, column, reason


@dataclass(frozen=True, slots=True)
class Series:
    kind: Kind
    file: str
    ts: FloatArray  # (intervals,), strictly increasing
    columns: list[str]
    values: FloatArray  # (intervals, columns), bit/s, finite, >= 0


def parse_csv(text: str, *, kind: Kind, file: str, unit_bps: float = 1.0) -> Series:
    """A series from CSV: the header ``ts,COL,...``, then one row per interval."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not rows[0] or rows[0][0].strip() != "ts":
        raise SeriesError("the header must start with a 'ts' column", file=file, row=0)
    columns = [c.strip() for c in rows[0][1:]]
    if not columns:
        raise SeriesError("no columns after 'ts'", file=file)
    table = [_numbers(row, rows[0], file, n) for n, row in enumerate(rows[1:], 1) if row]
    if not table:
        raise SeriesError("no data rows", file=file)
    data = np.array(table, dtype=np.float64)
    return series_of(data[:, 0], data[:, 1:] * unit_bps, columns, kind=kind, file=file)


def _numbers(row: list[str], header: list[str], file: str, n: int) -> list[float]:
    if len(row) != len(header):
        raise SeriesError(f"{len(row)} fields, the header has {len(header)}", file=file, row=n)
    out = []
    for name, cell in zip(header, row, strict=True):
        try:
            out.append(float(cell))
        except ValueError:
            raise SeriesError(f"{cell.strip()!r} is not a number", file=file, row=n,
                              column=name.strip()) from None
    return out


def series_of(ts: npt.ArrayLike, values: npt.ArrayLike, columns: Sequence[str], *,
              kind: Kind, file: str) -> Series:
    """A series from arrays (times, intervals x columns in bit/s), checked."""
    times = np.asarray(ts, dtype=np.float64)
    table = np.asarray(values, dtype=np.float64)
    if table.ndim != 2 or table.shape != (times.size, len(columns)):
        raise SeriesError(f"values are {table.shape}, times {times.shape}, columns "
                          f"{len(columns)}: want (times, columns)", file=file)
    _check_times(times.tolist(), file)
    bad = ~np.isfinite(table) | (table < 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise SeriesError(f"{table[row, col]} is not a rate (finite, >= 0)", file=file,
                          row=row + 1, column=columns[col])
    return Series(kind=kind, file=file, ts=times, columns=list(columns), values=table)


def _check_times(times: list[float], file: str) -> None:
    for row, (before, t) in enumerate(zip([-math.inf, *times], times, strict=False), 1):
        if not math.isfinite(t):
            raise SeriesError(f"time {t} is not finite", file=file, row=row, column="ts")
        if t <= before:
            raise SeriesError(f"time {t} does not come after {before}", file=file, row=row,
                              column="ts")


def link_directions(series: Series, state: State) -> list[tuple[str, Direction]]:
    """The (link, direction) each counters column names; every link with both."""
    found = [_direction(name, state, series.file) for name in series.columns]
    for link, direction in found:
        other: Direction = "ba" if direction == "ab" else "ab"
        if (link, other) not in found:
            raise SeriesError(f"link {link!r} has its {direction} counters but no {other}",
                              file=series.file, column=f"{link}:{other}")
    if len(set(found)) != len(found):
        raise SeriesError("two columns name the same link direction", file=series.file)
    return found


def _direction(name: str, state: State, file: str) -> tuple[str, Direction]:
    link, _, side = name.rpartition(":")
    if side in ("ab", "ba") and link in state.links:
        return link, side  # type: ignore[return-value]
    a, _, b = name.partition("->")
    joining = [(link.id, "ab" if link.a == a else "ba") for link in state.links.values()
               if {link.a, link.b} == {a, b}]
    if len(joining) == 1:
        return joining[0]  # type: ignore[return-value]
    reason = (f"{len(joining)} links join {a} and {b}: name one as LINK:ab" if joining else
              "not a link direction of the topology (LINK:ab, LINK:ba or A->B)")
    raise SeriesError(reason, file=file, column=name)


def router_pairs(series: Series, state: State, separator: str = "->") -> list[tuple[str, str]]:
    """The (source, destination) routers each matrix column names."""
    return [_pair(name, state, series.file, separator) for name in series.columns]


def _pair(name: str, state: State, file: str, separator: str) -> tuple[str, str]:
    cuts = [i for i in range(len(name)) if name.startswith(separator, i)]
    pairs = [(name[:i], name[i + len(separator):]) for i in cuts]
    known = [(s, d) for s, d in pairs if s in state.routers and d in state.routers and s != d]
    if len(known) == 1:
        return known[0]
    reason = ("names two router pairs" if known else
              f"not a pair of two routers of the topology joined by {separator!r}")
    raise SeriesError(reason, file=file, column=name)


def imported_batches(topology: list[AnyEvent], *, counters: Series | None = None,
                     matrix: Series | None = None, source: str,
                     separator: str = "->") -> Iterator[list[AnyEvent]]:
    """The trace: ``topology`` (stamped by the importer), then one batch per interval."""
    state = fold(topology)
    both = [s for s in (counters, matrix) if s is not None]
    if not both:
        raise SeriesError("no series: give counters, a matrix, or both", file="")
    if len(both) == 2 and not np.array_equal(both[0].ts, both[1].ts):
        row = _first_difference(both[0].ts, both[1].ts)
        raise SeriesError(f"its times differ from {both[0].file}'s", file=both[1].file,
                          row=row, column="ts")
    links = link_directions(counters, state) if counters is not None else []
    pairs = router_pairs(matrix, state, separator) if matrix is not None else []
    yield topology
    numbers = itertools.count(len(topology) + 1)
    for row, ts in enumerate(both[0].ts.tolist()):
        yield (_demands(matrix, row, pairs, source=source, numbers=numbers, ts=ts)
               + _links(counters, row, links, source=source, numbers=numbers, ts=ts))


def _demands(matrix: Series | None, row: int, pairs: list[tuple[str, str]], *, source: str,
             numbers: Iterator[int], ts: float) -> list[AnyEvent]:
    if matrix is None:
        return []
    return [DemandSet(source=source, seq=next(numbers), ts=ts, src=s, dst=d, rate_bps=v)
            for (s, d), v in zip(pairs, matrix.values[row].tolist(), strict=True)]


def _links(counters: Series | None, row: int, links: list[tuple[str, Direction]], *,
           source: str, numbers: Iterator[int], ts: float) -> list[AnyEvent]:
    if counters is None:
        return []
    rates = dict(zip(links, counters.values[row].tolist(), strict=True))
    ids = sorted({link for link, _ in links})
    return [LinkUtilization(source=source, seq=next(numbers), ts=ts, link=link,
                            ab_bps=rates[link, "ab"], ba_bps=rates[link, "ba"])
            for link in ids]


def _first_difference(a: FloatArray, b: FloatArray) -> int:
    n = min(a.size, b.size)
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) + 1 if differ.size else n + 1
