"""Topology import: a topology file becomes ordinary events for the log.

Public API::

    load_topology(path, demands=None, *, source="import", ts=0.0,
                  default_capacity_bps=10e9, demand_unit_bps=1e6, format=None)
        -> list[AnyEvent]
    topohub_topology(key, demands=None, *, same options but format) -> list[AnyEvent]
    load_demands(path, names, *, source="import", ts=0.0, first_seq=1) -> list[DemandSet]
    TopologyError(ShadowdError): .file, .item, .reason; str() = "file: item: reason"

``load_topology`` returns every ``RouterAdded``, then every ``LinkAdded``, then every
``DemandSet`` (then, from the own format, every ``PeerAdded`` and ``ExternalDemandSet``),
stamped ``source``/``ts`` and numbered ``seq`` 1..n. Before returning, the
whole list is checked against the schema's limits and folded on an empty ``State`` with
``validate`` before each ``apply``, so an import yields everything or raises one
``TopologyError`` naming the file, the item (node, link, demand, line or ``$.path``) and
what is wrong: nothing is ever half-imported.

Formats (``format=`` overrides; otherwise by file name, then by content):

============== ====================================== =================================
``nodelink``   ``.json``: networkx node-link, topohub ``shadowd.topology.nodelink``
``sndlib``     ``.txt``, ``.sndlib``: SNDlib native   ``shadowd.topology.sndlib``
``graphml``    ``.graphml``: Topology Zoo GraphML     ``shadowd.topology.graphml``
``clab``       ``.clab.yml``, ``.clab.yaml``          ``shadowd.topology.clab``
``toml``       ``.toml``: shadowd's own format        ``shadowd.topology.native``
``yaml``       ``.yaml``, ``.yml``: own format, or containerlab if it has
               ``topology.nodes``
============== ====================================== =================================

Naming: a router is named by its node's ``name`` (or ``label``) when that is present and
unique in the file, else by the node's id as a string (and if such a name equals another
node's id, every router is named by its id). Demands files may use either. Links get
their own id where the format has one shadowd keeps (own format only), else ``a--b``,
and ``a--b#2``, ``#3``... for parallel links (ids over 64 characters get a short hash).

Units and defaults:

- capacity: bit/s. A link without one gets ``default_capacity_bps`` = 10 Gbit/s
  (topohub's networks carry none). Strings may say ``"100M"``, ``"10G"``.
- demands: node-link ``graph.demands`` and SNDlib demand values are in the file's unit,
  Mbit/s for SNDlib and topohub, so they are multiplied by ``demand_unit_bps`` = 1e6;
  SNDlib capacities use the same unit. Demand files and the own format are in bit/s.
  Zero demands are skipped; the same pair twice is an error (SNDlib: they add up).
  ``demands=`` (a demands file) replaces the topology file's own demands.
- metric: ``metric``/``igp_metric``/``weight``, else 1; zero, negative, fractional or
  above 16777214 is an error naming the link.
- delay: ``delay_ms``, else fibre over ``dist`` km, else fibre over the great circle
  between the nodes' positions, else 0; fibre is 0.005 ms per km (light at ~200 km/ms).
"""

from __future__ import annotations

from shadowd.topology.demands import load_demands
from shadowd.topology.errors import TopologyError
from shadowd.topology.loader import FORMATS, detect_format, load_topology, topohub_topology
from shadowd.topology.model import DEFAULT_CAPACITY_BPS, DEFAULT_DEMAND_UNIT_BPS, MBPS

__all__ = [
    "DEFAULT_CAPACITY_BPS",
    "DEFAULT_DEMAND_UNIT_BPS",
    "FORMATS",
    "MBPS",
    "TopologyError",
    "detect_format",
    "load_demands",
    "load_topology",
    "topohub_topology",
]
