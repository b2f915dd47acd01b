"""The shadow lab: real FRR routers in Linux network namespaces.

``plan`` lays the network out (namespaces, veths, addresses), ``netlink`` builds it
(pyroute2), ``frrconf`` and ``daemons`` configure and start FRR, ``lab`` is the lab as a
whole (up, apply, converge, down), ``probe`` measures latency and loss through it,
``fidelity`` compares its RIBs with the model, ``bgpread`` and ``route_maps`` its BGP,
``availability`` whether this machine can run it, ``owner`` and ``cleanup`` make sure
nothing it created outlives it.
"""
