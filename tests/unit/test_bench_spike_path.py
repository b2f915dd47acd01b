"""The spike-path benchmark's two ways do the same work: same spikes, same runs, and the
model service answers every spike at its own position (no private engine)."""

from __future__ import annotations

from bench.spike_path import _batches, _replay


async def test_both_ways_predict_and_run_the_same() -> None:
    batches = _batches("sndlib/geant", 6, 1)
    before = await _replay(batches, "from_scratch", 2)
    after = await _replay(batches, "model_service", 2)
    assert before["counters"] == after["counters"]
    assert after["counters"]["spikes"] == 3
    assert after["counters"]["scenario_runs"] == after["model_runs"] > 0
    assert after["private"] == 0
    assert len(after["total"]) == 3
