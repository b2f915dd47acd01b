"""Scenarios: what-if changes (cuts, failures, surges...) run in the shadow, never in production.

- ``library``: the file format, ``parse_text``, ``check_library``, ``validate``,
  ``ScenarioError``;
- ``timeline``: a scenario as events at offsets, ``timeline(scenario, state, ts=...)``;
- ``run``: the model tier, ``run_model(scenario, state, ts=...) -> ScenarioResult``;
- ``diff``: where the tiers disagree, ``diff(model_result, lab_result) -> TierDiff``.

All pure: reading the files is ``shadowd.scenario_files``. The lab tier, ``await run_lab(lab,
scenario, state, ...) -> LabResult``, is in ``shadowd.services.labrun``: it does the lab's I/O.
"""
