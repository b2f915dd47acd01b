"""The predictor across restarts: its watch saved beside each snapshot, restored on start.

Without this a restart forgets every forecast, and the forecaster is blind for a season
(a day) plus its warm-up before it predicts a spike again; and it forgets the spikes
predicted whose scenario runs were still to come, which nothing would predict again.

- Saving: when the daemon snapshots the state at lsn n it takes the predictor's
  ``WatchState`` in the same synchronous step (the accepted-events hook has fed the watch
  every event up to n and none after), and the snapshot store writes it, msgpack in a
  CRC'd frame, as the sidecar ``snapshots/<n>.predict`` before the snapshot itself.
- Restoring: ``WatchRecovery`` is recovery's follower. Told that recovery starts from the
  snapshot at lsn n, it continues the watch saved beside it when that fits (its schema,
  its lsn, the configured forecast parameters, the snapshot's links); otherwise it warns
  why, naming the file, and starts a fresh watch, as a first start does. Then it is fed
  the log tail as recovery folds it, as the live hook would have fed it. A missing,
  damaged or unreadable file never stops the daemon: a warning, and a fresh start.
- The tail includes shadowd's own records: its ``SpikePredicted`` and ``ScenarioRan``
  keep the watch's open spikes as the live hook kept them, so once recovery is done the
  watch holds every spike recorded and not yet run (those recorded in the tail too, even
  when the saved watch could not be used). The predictor resumes them
  (``Predictor.resume``).
"""

from __future__ import annotations

import msgspec

from shadowd import logs
from shadowd.core.errors import LogCorrupt
from shadowd.core.events import AnyEvent
from shadowd.core.state import State
from shadowd.predict.feed import LinkForecasts
from shadowd.predict.forecast import ForecastParams
from shadowd.predict.watch import SpikeWatch, WatchSettings, decode_watch, mismatch
from shadowd.store.snapshot import SnapshotStore

log = logs.get_logger()

SIDECAR = "predict"  # snapshots/<lsn>.predict


class WatchRecovery:
    """Rebuilds the predictor's watch while recovery rebuilds the state (a ``Follower``)."""

    def __init__(self, snapshots: SnapshotStore, settings: WatchSettings,
                 params: ForecastParams) -> None:
        self._snapshots, self._settings, self._params = snapshots, settings, params
        self.watch: SpikeWatch | None = None  # set once recovery has started

    def start(self, state: State) -> None:
        if state.lsn > 0:
            self.watch = self._restored(state)
        if self.watch is None:
            self.watch = SpikeWatch(LinkForecasts(state, self._params), self._settings)

    def note(self, events: list[AnyEvent]) -> None:
        assert self.watch is not None, "recovery tells where it starts first"
        self.watch.note(events)  # its spikes were predicted before the restart: logged

    def _restored(self, state: State) -> SpikeWatch | None:
        path = self._snapshots.sidecar_path(state.lsn, SIDECAR)
        found = self._load(state)
        if isinstance(found, str):
            log.warning("predictor state not restored; forecasts start again and relearn "
                        "a season", path=str(path), reason=found)
            return None
        f = found.feed.forecaster
        log.info("predictor state restored", seq=state.lsn, path=str(path),
                 links=len(f.links) if f is not None else 0,
                 ready_series=int(f.ready.sum()) if f is not None else 0,
                 open_spikes=len(found.open))
        return found

    def _load(self, state: State) -> SpikeWatch | str:
        """The watch saved beside the snapshot of ``state``, or why there is none to use."""
        try:
            saved = decode_watch(self._snapshots.sidecar(state.lsn, SIDECAR))
        except FileNotFoundError:
            return "the snapshot has no saved predictor state beside it"
        except (OSError, LogCorrupt, msgspec.DecodeError) as err:
            return f"it cannot be read: {err}"
        reason = mismatch(saved, state, self._params)
        if reason is not None:
            return reason
        try:
            return SpikeWatch.restore(state, saved, self._settings)
        except Exception as err:  # intact, yet not a watch we can continue: never fatal
            return f"it cannot be restored: {type(err).__name__}: {err}"
