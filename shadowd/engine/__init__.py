"""The routing engine, pure: a network as arrays (``network``, ``arrays``), SPF with ECMP
(``spf``), loads routed per-hop evenly (``loads``), what-if deltas (``delta``), the
incremental ``Engine`` that absorbs events (``incremental``), failure sweeps (``sweep``),
per-demand results (``results``), metric schemes (``schemes``) and metric optimisation
(``optimize``). Running a sweep on several processes is ``shadowd.executors``.
"""
