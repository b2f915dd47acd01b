"""The test suite's fakes and builders, in one place (the ``shadowd`` package holds none).

- ``store``: ``ring`` and ``telemetry`` (a small network's events and its counters) and
  ``FakeFsync`` (an ``os.fsync`` that counts calls and can be held shut).

The benchmarks in ``bench/`` use the builders too.
"""
