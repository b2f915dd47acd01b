"""Demand files on their own (``load_demands``): CSV or JSON, names or ids, bit/s."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowd.core.events import DemandSet
from shadowd.core.state import fold
from shadowd.topology import TopologyError, load_demands, load_topology

DATA = Path(__file__).resolve().parents[1] / "data" / "topologies"
ROUTERS = ["fra", "ams", "lon", "par"]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rates(events: list[DemandSet]) -> list[tuple[str, str, float]]:
    return [(e.src, e.dst, e.rate_bps) for e in events]


def test_csv_with_header_comments_and_units(tmp_path: Path) -> None:
    path = _write(tmp_path, "d.csv", "# traffic\nsrc,dst,rate\n\nfra,ams,10M  # peak\n"
                                     "ams, lon , 2.5 Gbps\nlon,fra,1200\n")
    events = load_demands(path, ROUTERS, source="tm", ts=3.0, first_seq=10)
    assert _rates(events) == [("fra", "ams", 10e6), ("ams", "lon", 2.5e9), ("lon", "fra", 1200.0)]
    assert [(e.source, e.seq, e.ts) for e in events] == [("tm", 10, 3.0), ("tm", 11, 3.0),
                                                         ("tm", 12, 3.0)]


def test_csv_without_header(tmp_path: Path) -> None:
    events = load_demands(_write(tmp_path, "d.txt", "fra,ams,1k\n"), ROUTERS)
    assert _rates(events) == [("fra", "ams", 1e3)]


def test_json_matrix_and_list(tmp_path: Path) -> None:
    matrix = _write(tmp_path, "m.json", '{"fra": {"ams": "1G", "lon": 5}}')
    listed = _write(tmp_path, "l.json", '[{"src": "fra", "dst": "ams", "rate": "1G"},'
                                        ' {"src": "fra", "dst": "lon", "rate": 5}]')
    assert _rates(load_demands(matrix, ROUTERS)) == _rates(load_demands(listed, ROUTERS))


def test_json_by_content_without_the_suffix(tmp_path: Path) -> None:
    events = load_demands(_write(tmp_path, "tm.dat", '{"fra": {"ams": 7}}'), ROUTERS)
    assert _rates(events) == [("fra", "ams", 7.0)]


def test_ids_through_an_alias_mapping(tmp_path: Path) -> None:
    aliases = {"0": "fra", "1": "ams", "fra": "fra", "ams": "ams"}
    events = load_demands(_write(tmp_path, "d.csv", "0,1,5\nams,0,6\n"), aliases)
    assert _rates(events) == [("fra", "ams", 5.0), ("ams", "fra", 6.0)]


def test_zero_is_kept_standalone_because_it_removes_a_demand(tmp_path: Path) -> None:
    base = load_topology(DATA / "example.toml")
    events = load_demands(_write(tmp_path, "d.csv", "fra,lon,0\n"), ROUTERS, source="tm")
    assert _rates(events) == [("fra", "lon", 0.0)]
    assert "fra" not in fold([*base, *events]).demands


def test_zero_is_skipped_at_import(tmp_path: Path) -> None:
    events = load_topology(DATA / "example.toml",
                           demands=_write(tmp_path, "d.csv", "fra,lon,0\nlon,fra,1\n"))
    assert _rates([e for e in events if isinstance(e, DemandSet)]) == [("lon", "fra", 1.0)]


@pytest.mark.parametrize(("text", "fragments"), [
    ("fra,zz,1\n", ("line 1", "demand fra->zz", "unknown node 'zz' (destination)")),
    ("src,dst,rate\nfra,ams\n", ("line 2", "expected 'src,dst,rate'")),
    ("fra,ams,-5\n", ("line 1", "must be a finite number >= 0")),
    ("fra,fra,5\n", ("line 1", "to itself")),
])
def test_bad_rows_name_file_and_line(tmp_path: Path, text: str,
                                     fragments: tuple[str, ...]) -> None:
    path = _write(tmp_path, "d.csv", text)
    with pytest.raises(TopologyError) as caught:
        load_demands(path, ROUTERS)
    assert caught.value.file == str(path)
    for fragment in fragments:
        assert fragment in str(caught.value)
