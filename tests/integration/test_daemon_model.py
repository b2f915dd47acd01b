"""The model tier inside the running daemon: routes, loads and worst case stay current."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shadowd.control.client import call_sync
from shadowd.control.errors import RemoteError
from shadowd.control.protocol import LoadsRequest, RoutesRequest, WorstCaseRequest
from shadowd.engine.incremental import Engine
from tests.integration.harness import Daemon, shadowctl_json, write_config

pytestmark = pytest.mark.integration


def test_model_answers_match_a_fresh_engine_on_the_replayed_state(
    daemons: Callable[..., Daemon], tmp_path: Path
) -> None:
    d = daemons(write_config(tmp_path, days=1))
    d.start().wait_ready()
    d.wait_seq(60_000)
    d.stop()
    write_config(tmp_path, sources=False)  # restart with no source: the state holds still
    d.start().wait_ready()

    from shadowd.store.recovery import recover  # noqa: PLC0415

    state, _ = recover(d.state_dir)
    fresh = Engine(state)
    loads = call_sync(LoadsRequest(top=5), path=d.socket)
    assert loads.seq == state.lsn
    expected = fresh.top(5)
    np.testing.assert_allclose([x.load_bps for x in loads.loads], [e.load for e in expected],
                               rtol=1e-9)
    assert [(x.src, x.dst) for x in loads.loads] == [(e.src, e.dst) for e in expected]

    router = sorted(state.routers)[0]
    routes = call_sync(RoutesRequest(router=router), path=d.socket)
    assert set(routes.routes) == set(fresh.routes(router))

    worst = call_sync(WorstCaseRequest(failures="links", top=3), path=d.socket)
    sweep = fresh.sweep("links")
    assert worst.scenarios == len(sweep.failures)
    assert worst.worst[0].wc_util == pytest.approx(float(sweep.wc_util.max()), rel=1e-9)

    with pytest.raises(RemoteError, match="unknown router 'atlantis'"):
        call_sync(RoutesRequest(router="atlantis"), path=d.socket)

    assert shadowctl_json(d, "loads", "--top", "3")["loads"][0]["utilization"] > 0
    assert shadowctl_json(d, "worst-case", "--failures", "nodes")["failures"] == "nodes"
    assert shadowctl_json(d, "routes", router)["router"] == router
    d.stop()
