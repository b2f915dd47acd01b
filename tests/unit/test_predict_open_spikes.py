"""The spikes the log owes runs: opened by shadowd's ``SpikePredicted`` records, closed by
the first model run that names them, dropped once the log clock reaches their peak; saved
with the watch, and after a restore and the log tail the same as a watch that never
stopped."""

from __future__ import annotations

import msgspec

from shadowd.core.events import (
    DAEMON_SOURCE,
    AnyEvent,
    LinkUtilization,
    ScenarioRan,
    SpikePredicted,
)
from shadowd.core.state import State, fold
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.open_spikes import OpenSpike, OpenSpikes
from shadowd.predict.watch import (
    SpikeWatch,
    WatchSettings,
    decode_watch,
    encode_watch,
    mismatch,
)
from tests.predict_world import SHORT, STEP, T0, triangle

SETTINGS = WatchSettings(check_every_s=300.0, horizon_s=1800.0, threshold_util=0.8)


def _spike(seq: int, peak_ts: float, *, link: str = "a--b") -> SpikePredicted:
    return SpikePredicted(source=DAEMON_SOURCE, seq=seq, ts=T0, link=link, direction="ab",
                          peak_ts=peak_ts, predicted_bps=0.9e9, threshold_bps=0.8e9,
                          predicted_util=0.9, made_at=T0, worst_failure="link:a--c")


def _ran(seq: int, spike_seq: int, *, tier: str = "model") -> ScenarioRan:
    return ScenarioRan(source=DAEMON_SOURCE, seq=seq, ts=T0, run_id=f"run-{seq}",
                       scenario="wc-link-a--c", kind="link_cut", trigger="spike:a--b ab",
                       tier="lab" if tier == "lab" else "model", injected_ts=T0,
                       spike_seq=spike_seq)


def _seqs(spikes: OpenSpikes) -> list[int]:
    return [s.seq for s in spikes.snapshot()]


def test_a_spike_is_open_until_a_model_run_names_it() -> None:
    spikes = OpenSpikes()
    spikes.note([_spike(1, T0 + 3600), _spike(2, T0 + 7200, link="b--c")])
    assert _seqs(spikes) == [1, 2]
    [first, _] = spikes.snapshot()
    assert first == OpenSpike(seq=1, link="a--b", direction="ab", peak_ts=T0 + 3600,
                              predicted_bps=0.9e9, made_at=T0, worst_failure="link:a--c")
    assert first.key == ("a--b", "ab", T0 + 3600)
    spikes.note([_ran(3, 1, tier="lab"), _ran(4, 0), _ran(5, 9)])  # lab, manual, unknown
    assert _seqs(spikes) == [1, 2]
    spikes.note([_ran(6, 1)])
    assert _seqs(spikes) == [2]
    spikes.note([_ran(7, 1)])  # its second run: nothing left to close
    assert _seqs(spikes) == [2]


def test_only_shadowds_own_records_count() -> None:
    spikes = OpenSpikes()
    foreign = msgspec.structs.replace(_spike(1, T0 + 3600), source="collector")
    spikes.note([foreign])
    assert len(spikes) == 0


def test_a_peak_the_clock_reached_is_dropped_and_said() -> None:
    spikes = OpenSpikes([OpenSpike.of(_spike(1, T0 + 600)), OpenSpike.of(_spike(2, T0 + 900))])
    assert spikes.expire(T0 + 599) == []
    assert [s.seq for s in spikes.expire(T0 + 600)] == [1]  # at the peak: too late
    assert _seqs(spikes) == [2]


# --- in the watch -------------------------------------------------------------------------


def _samples(k: int) -> list[AnyEvent]:
    return [LinkUtilization(source="collector", seq=3 * k + i + 1, ts=T0 + k * STEP, link=link,
                            ab_bps=0.3e9, ba_bps=0.05e9)
            for i, link in enumerate(("a--b", "b--c", "a--c"))]


def _batches() -> list[list[AnyEvent]]:
    """Samples every step; spike 1 (peak at step 6) is run at step 4; spike 2 (peak at
    step 9) only in the lab, and its peak passes; spike 3 (peak at step 40) is ahead."""
    out = [_samples(k) for k in range(12)]
    out.insert(2, [_spike(1, T0 + 6 * STEP)])
    out.insert(3, [_spike(2, T0 + 9 * STEP, link="b--c"), _spike(3, T0 + 40 * STEP)])
    out.insert(7, [_ran(4, 1), _ran(5, 1, tier="lab"), _ran(6, 2, tier="lab")])
    return out


def _watch(state: State) -> SpikeWatch:
    return SpikeWatch(LinkForecasts(state, SHORT), SETTINGS)


def _run(watch: SpikeWatch, state: State, batches: list[list[AnyEvent]]) -> list[list[int]]:
    """Each batch folded then noted, as the daemon's hook does: the open seqs after each."""
    out = []
    for batch in batches:
        fold(batch, state)
        watch.note(batch)
        out.append(_seqs(watch.open))
    return out


def test_the_watch_keeps_them_from_the_records_and_drops_none_itself() -> None:
    state = fold(triangle())
    watch = _watch(state)
    said = _run(watch, state, _batches())
    assert said[2:4] == [[1], [1, 2, 3]]  # at step 1: all three ahead
    assert said[7] == [2, 3]  # spike 1 ran (in the model) at step 4
    assert said[-1] == [2, 3]  # spike 2 only ran in the lab; its peak passed at step 9
    assert [s.seq for s in watch.open.expire(watch.feed.clock)] == [2]  # the caller's call
    assert _seqs(watch.open) == [3]


def test_saved_restored_and_fed_the_tail_they_are_the_same() -> None:
    batches = _batches()
    state = fold(triangle())
    uninterrupted = _watch(state)
    _run(uninterrupted, state, batches)
    for cut in range(len(batches)):
        state = fold(triangle())
        first = _watch(state)
        _run(first, state, batches[:cut])
        saved = decode_watch(encode_watch(first.snapshot(state.lsn)))
        assert [s.seq for s in saved.open_spikes] == _seqs(first.open)
        assert mismatch(saved, state, SHORT) is None
        restored = SpikeWatch.restore(state.fork(), saved, SETTINGS)
        _run(restored, state, batches[cut:])
        assert restored.open.snapshot() == uninterrupted.open.snapshot(), cut
        assert encode_watch(restored.snapshot(0)) == encode_watch(uninterrupted.snapshot(0))


def test_a_schema_1_watch_continues_with_none_open() -> None:
    """What a shadowd before open spikes saved: no such field, schema 1. Its forecasts
    are kept (no season relearnt for an upgrade); the spikes it owed are not known."""
    state = fold(triangle())
    watch = _watch(state)
    _run(watch, state, _batches()[:5])
    fields = msgspec.structs.asdict(watch.snapshot(state.lsn))
    del fields["open_spikes"]
    saved = decode_watch(msgspec.msgpack.encode({**fields, "schema": 1}))
    assert (saved.schema, saved.open_spikes) == (1, ())
    assert mismatch(saved, state, SHORT) is None
    restored = SpikeWatch.restore(state, saved, SETTINGS)
    assert len(restored.open) == 0
    assert restored.feed.clock == watch.feed.clock
