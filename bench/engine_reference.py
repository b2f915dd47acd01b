"""pyNTM as the independent reference for loads: same nodes, circuits, metrics, demands.

Used by the equivalence tests and by ``bench/engine_pyntm.py``. pyNTM is a test and
benchmark dependency only; shadowd itself never imports it.

Each shadowd link becomes a pyNTM circuit of two interfaces, ``<link>@<a>`` on ``a``
(cost = a->b metric) and ``<link>@<b>`` on ``b`` (cost = b->a metric), same capacity.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from pyNTM import Demand, Interface, Model, Node

from shadowd.core.state import State
from shadowd.engine.schemes import MetricOptions, link_metrics


def interface_name(link: str, router: str) -> str:
    return f"{link}@{router}"


def build_model(state: State, options: MetricOptions | None = None) -> Any:
    """A validated pyNTM ``Model`` equivalent to ``state`` under ``options``' metrics."""
    opts = options if options is not None else MetricOptions()
    nodes = {name: Node(name) for name in state.routers}
    interfaces = set()
    for circuit_id, link in enumerate(sorted(state.links.values(), key=lambda x: x.id), 1):
        ab, ba = link_metrics(link, opts)
        a, b = nodes[link.a], nodes[link.b]
        cap = link.capacity_bps
        interfaces.add(Interface(interface_name(link.id, link.a), ab, cap, a, b, circuit_id))
        interfaces.add(Interface(interface_name(link.id, link.b), ba, cap, b, a, circuit_id))
    demands = {
        Demand(nodes[src], nodes[dst], rate, f"{src}->{dst}")
        for src, row in state.demands.items()
        for dst, rate in row.items()
    }
    model = Model(set(interfaces), set(nodes.values()), demands, set())
    model.validate_model()
    return model


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """pyNTM prints progress on every simulation; keep test and bench output clean."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def interface_loads(model: Any) -> dict[tuple[str, str, str], float]:
    """Run the simulation; (link, from, to) -> traffic for every unfailed interface."""
    with quiet():
        model.update_simulation()
    loads: dict[tuple[str, str, str], float] = {}
    for intf in model.interface_objects:
        if intf.failed:
            continue
        link = intf.name.rsplit("@", 1)[0]
        loads[(link, intf.node_object.name, intf.remote_node_object.name)] = float(intf.traffic)
    return loads


@contextlib.contextmanager
def failed_link(model: Any, state: State, link: str) -> Iterator[None]:
    lk = state.links[link]
    name = interface_name(link, lk.a)
    model.fail_interface(name, lk.a)
    try:
        yield
    finally:
        with quiet():
            model.unfail_interface(name, lk.a)


@contextlib.contextmanager
def failed_node(model: Any, router: str) -> Iterator[None]:
    model.fail_node(router)
    try:
        yield
    finally:
        with quiet():
            model.unfail_node(router)
