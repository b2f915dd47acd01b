"""The durable event log on local disk, its snapshots, and recovery from them.

- ``log.EventLog``: append-only segment files of CRC'd records; cuts a torn tail on open.
- ``commit.GroupCommitter``: concurrent appends share one write and one fsync.
- ``snapshot.SnapshotStore``: state + position, written atomically, newest K kept; with
  sidecars (other parts' state at the same lsn: the predictor's forecasts).
- ``recovery.recover``: newest usable snapshot + log tail; the daemon and tools both use it
  (the daemon with a follower that rebuilds the predictor alongside).
- ``backend``, ``kafka_log``: the log on local disk or on a Kafka topic; ``inspection``
  what ``shadowd log inspect|replay`` (``shadowd.cli.log``) read.
"""
