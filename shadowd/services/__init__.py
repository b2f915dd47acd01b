"""The services: the long-running parts the daemon runs, each over the pure packages and
the adapters below it (``docs/layers.toml``).

- the model: ``model`` (the routing engine kept in step with the log, and its sweep
  cache: the one path every reader of routes, loads and worst cases takes);
- the predictor: ``predictor`` (forecasts and the pre-spike scenario runs), its jobs
  (``predict_jobs``), its ``ports`` to the model and the lab, ``scenario_runs``,
  ``predict_restore`` (its watch across restarts);
- policies: ``policy`` (propose, validate, deploy, feed back), ``validate`` and
  ``validate_bgp`` (proofs in the lab or the model, ``validation`` their result,
  ``lab_target`` the lab's routers as a driver's target),
  ``rollouts`` (one rollout's shell), ``monitor`` (what its gates measure);
- the lab mirror: ``mirror`` (the FRR lab following the log), ``labloop`` (its own event
  loop), ``labrun`` and ``drill`` (changes through both tiers, diffed);
- ``recorder`` (shadowd's own records into the log), ``report`` (the report's data from
  the parts), ``guide`` (the guided main job's narrator).
"""
