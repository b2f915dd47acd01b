"""The test suite's fakes and builders, in one place: ``shadowd`` holds none
(``tests/unit/test_layers`` fails on a ``Fake*`` class or a ``testing`` module there).

- ``agent``: ``StreamFolder`` (a consumer of an agent's stream that checks its digests)
  and ``FakeTransport`` (an in-memory broker connection for the agent).
- ``control``: ``FakeService`` (the control socket's handlers, answered from a folded
  event list: no daemon) and ``serving_in_thread`` (a real ``ControlServer`` on a loop
  in a thread, for synchronous callers such as ``shadowctl``'s ``main``).
- ``engine``: ``L``, ``build`` and ``events_for`` (small ``State``s link by link),
  ``topohub_state`` (a topohub network) and ``synthetic_state`` (a random backbone).
- ``policybook``: ``FakePolicyBook``, the ``FakeService``'s policy book.
- ``store``: ``ring`` and ``telemetry`` (a small network's events and its counters) and
  ``FakeFsync`` (an ``os.fsync`` that counts calls and can be held shut).

The benchmarks in ``bench/`` use some of them too.
"""
