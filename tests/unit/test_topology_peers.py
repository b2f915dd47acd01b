"""External BGP peers and external demands in shadowd's own topology format."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowd.core.events import ExternalDemandSet, PeerAdded
from shadowd.core.state import fold
from shadowd.policy.bgp import IgpCosts, choose_egress, propose_bgp
from shadowd.predict.records import Stamp
from shadowd.topology import TopologyError, load_topology

TWO_EGRESS = Path(__file__).resolve().parents[1] / "data" / "topologies" / "two-egress.toml"
PREFIX = "203.0.113.0/24"


def test_two_egress_declares_peers_and_external_demands() -> None:
    events = load_topology(TWO_EGRESS, source="imp", ts=3.0)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    peers = [e for e in events if isinstance(e, PeerAdded)]
    assert peers[0] == PeerAdded(source="imp", seq=peers[0].seq, ts=3.0, peer="isp-a",
                                 router="r2", asn=64501, prefixes=(PREFIX,), capacity_bps=4e9)
    assert len([e for e in events if isinstance(e, ExternalDemandSet)]) == 5
    state = fold(events)
    chosen = choose_egress(state, {}, IgpCosts.of(state))
    assert {src: p for (src, _), p in chosen.items()} == {
        "r1": "isp-a", "r2": "isp-a", "r3": "isp-a", "r4": "isp-b", "r5": "isp-b"}
    proposal = propose_bgp(state, target_util=0.7, policy_id="p", reason="r",
                           stamp=Stamp(seq=1, ts=0.0))
    assert proposal is not None
    assert [(c.router, c.target, c.attr) for c in proposal.changes] == [
        ("r4", "isp-b", "local_pref")]


def _topology(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "t.toml"
    path.write_text('[[routers]]\nname = "r1"\n' + extra)
    return path


@pytest.mark.parametrize(("extra", "message"), [
    ('[[peers]]\nname = "x"\nrouter = "r9"\nasn = 1\nprefixes = ["10.0.0.0/8"]\n',
     "peer 'x' ($.peers[0]): egress router 'r9' is not a declared node"),
    ('[[peers]]\nname = "x"\nrouter = "r1"\nasn = 1\nprefixes = ["10.0.0.1/8"]\n',
     "bad prefix '10.0.0.1/8'"),
    ('[[peers]]\nname = "x"\nrouter = "r1"\nasn = 1\nprefixes = ["10.0.0.0/8"]\nmed = -1\n',
     "med"),
    ('[[peers]]\nname = "x"\nrouter = "r1"\nasn = 1\nprefixes = ["10.0.0.0/8"]\ncolour = 1\n',
     "colour"),
    ('[[peers]]\nname = "x"\nrouter = "r1"\nasn = 1\nprefixes = ["10.0.0.0/8"]\n' * 2,
     "declared twice"),
    ('[[external_demands]]\nsrc = "r7"\nprefix = "10.0.0.0/8"\nrate = "1G"\n',
     "source 'r7' is not a declared node"),
])
def test_bad_peers_and_external_demands_name_the_item(tmp_path: Path, extra: str,
                                                      message: str) -> None:
    with pytest.raises(TopologyError) as err:
        load_topology(_topology(tmp_path, extra))
    assert message in str(err.value)


def test_a_peer_without_capacity_gets_the_default(tmp_path: Path) -> None:
    path = _topology(tmp_path, '[[peers]]\nname = "x"\nrouter = "r1"\nasn = 1\n'
                               'prefixes = ["10.0.0.0/8"]\n')
    peer = next(e for e in load_topology(path, default_capacity_bps=2e9)
                if isinstance(e, PeerAdded))
    assert peer.capacity_bps == 2e9
