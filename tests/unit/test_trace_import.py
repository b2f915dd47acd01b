"""``shadowd trace import``: an operator's counters and traffic matrix over their topology
become a trace that replays into exactly those numbers; every bad file is one error
naming the file, the row and the column."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shadowd.cli.shadowd import main
from shadowd.core.checks import apply_valid
from shadowd.core.events import AnyEvent, RouterAdded
from shadowd.core.state import State
from shadowd.ingest.tracefile import read_trace
from shadowd.topology import load_topology
from shadowd.traffic.series import SeriesError, imported_batches, parse_csv

SQUARE = Path(__file__).parents[1] / "data" / "topologies" / "square.toml"
COUNTERS = "ts,r1--r2:ab,r1--r2:ba,r3->r4,r4->r3\n0,1e9,2e9,5,6\n300,1.5e9,2.5e9,7,8\n"
MATRIX = "ts,r1->r2,r2->r1,r1->r3\n0,1e9,2e9,3e8\n300,1.5e9,2.5e9,4e8\n"


def _replayed(batches: list[list[AnyEvent]]) -> State:
    state = State()
    for batch in batches:
        assert apply_valid(state, batch)[1] == []  # nothing rejected
    return state


def test_the_trace_replays_into_the_last_row() -> None:
    topology = load_topology(SQUARE, source="replay")
    batches = list(imported_batches(
        topology, counters=parse_csv(COUNTERS, kind="counters", file="c.csv"),
        matrix=parse_csv(MATRIX, kind="matrix", file="m.csv"), source="replay"))
    assert len(batches) == 3  # the topology, then one batch per row
    state = _replayed(batches)
    assert state.demands["r1"]["r2"] == 1.5e9
    assert state.demands["r1"]["r3"] == 4e8
    assert (state.links["r1--r2"].ab_bps, state.links["r1--r2"].ba_bps) == (1.5e9, 2.5e9)
    assert (state.links["r3--r4"].ab_bps, state.links["r3--r4"].ba_bps) == (7.0, 8.0)
    assert {e.ts for e in batches[2]} == {300.0}
    seqs = [e.seq for batch in batches for e in batch]
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.parametrize(("kind", "text", "message"), [
    ("matrix", "ts,r1->r2\n0,x\n", "m.csv: row 1: column 'r1->r2': 'x' is not a number"),
    ("matrix", "ts,r1->r2\n0,-1\n", "m.csv: row 1: column 'r1->r2': -1.0 is not a rate"),
    ("matrix", "ts,r1->r2\n0,nan\n", "m.csv: row 1: column 'r1->r2': nan is not a rate"),
    ("matrix", "ts,r1->r2\n0,1,2\n", "m.csv: row 1: 3 fields, the header has 2"),
    ("matrix", "ts,r1->r2\n0,1\n0,1\n", "m.csv: row 2: column 'ts': time 0.0 does not come"),
    ("matrix", "r1->r2\n0\n", "m.csv: the header must start with a 'ts' column"),
    ("matrix", "ts,r1->r9\n0,1\n", "m.csv: column 'r1->r9': not a pair of two routers"),
    ("counters", "ts,r1->r3\n0,1\n", "m.csv: column 'r1->r3': not a link direction"),
    ("counters", "ts,r1--r2:ab\n0,1\n", "m.csv: column 'r1--r2:ba': link 'r1--r2' has its ab"),
])
def test_a_bad_series_names_its_row_and_column(kind: str, text: str, message: str) -> None:
    with pytest.raises(SeriesError) as err:
        _imported(kind, text)
    assert str(err.value).startswith(message)


def _imported(kind: str, text: str) -> None:
    series = parse_csv(text, kind=kind, file="m.csv")  # type: ignore[arg-type]
    list(imported_batches(load_topology(SQUARE), source="x",
                          **{kind: series}))  # type: ignore[arg-type]


def test_a_pair_that_splits_two_ways_is_refused() -> None:
    topology = load_topology(SQUARE)
    series = parse_csv("ts,r1_r2\n0,1\n", kind="matrix", file="m.csv")
    list(imported_batches(topology, matrix=series, source="x", separator="_"))  # one way: fine
    ambiguous = [*topology]
    ambiguous.append(RouterAdded(source="import", seq=len(topology) + 1, ts=0.0, router="r1_r2"))
    ambiguous.append(RouterAdded(source="import", seq=len(topology) + 2, ts=0.0, router="r2_r1"))
    series = parse_csv("ts,r1_r2_r1\n0,1\n", kind="matrix", file="m.csv")
    with pytest.raises(SeriesError, match="names two router pairs"):
        list(imported_batches(ambiguous, matrix=series, source="x", separator="_"))


def test_counters_and_matrix_must_share_their_times() -> None:
    with pytest.raises(SeriesError, match=r"m.csv: row 2: column 'ts': its times differ"):
        list(imported_batches(
            load_topology(SQUARE), counters=parse_csv(COUNTERS, kind="counters", file="c.csv"),
            matrix=parse_csv("ts,r1->r2\n0,1\n600,1\n", kind="matrix", file="m.csv"),
            source="x"))


def test_the_command_imports_numpy_arrays(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A matrix as NumPy arrays named like the Abilene week's (``X``, ``X__dim_1``), pairs
    joined by ``_``, in bytes per 5 minutes, with no time array."""
    matrix = tmp_path / "tm.npz"
    np.savez(matrix, X=np.array([[300.0, 600.0], [900.0, 0.0]]),
             X__dim_1=np.array(["r1_r2", "r2_r1"]))
    out = tmp_path / "t.trace"
    assert main(["trace", "import", "--topology", str(SQUARE), "--matrix", str(matrix),
                 "--npz-keys", "ts,X,X__dim_1", "--separator", "_", "--unit-bps",
                 str(8 / 300), "--start", "1000", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["intervals"], summary["series"]) == (2, ["matrix"])
    state = _replayed(list(read_trace(out)))
    assert state.demands["r1"]["r2"] == pytest.approx(900.0 * 8 / 300)
    assert state.sources["replay"].ts == 1300.0


def test_the_command_says_what_is_wrong(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text("ts,r1->r2\n0,1\n300,oops\n")
    assert main(["trace", "import", "--topology", str(SQUARE), "--matrix", str(bad),
                 "--out", str(tmp_path / "t.trace")]) == 2
    assert capsys.readouterr().err.strip() == \
        f"shadowd trace: {bad}: row 2: column 'r1->r2': 'oops' is not a number"
