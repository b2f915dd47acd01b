"""Where the tiers meet: the shells that run the same changes through the model (engine)
and the FRR lab, and the daemon's predictor that drives them.

The pure packages stay pure: ``engine``, ``predict`` and ``scenario`` compute, ``lab``
builds and reads the lab; the modules here combine them and do the I/O (the lab, asyncio,
logs): ``drill`` (steps through both tiers, timed), ``labrun`` (a scenario in the lab,
diffed with the model), ``ports`` (the predictor's adapters to the model and the lab's
mirror) and ``predictor`` (the daemon's predictive loop).
"""
