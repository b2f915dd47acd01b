"""The durable event log on local disk, its snapshots, and recovery from them.

- ``log.EventLog``: append-only segment files of CRC'd records; cuts a torn tail on open.
- ``commit.GroupCommitter``: concurrent appends share one write and one fsync.
- ``snapshot.SnapshotStore``: state + position, written atomically, newest K kept.
- ``recovery.recover``: newest usable snapshot + log tail; the daemon and tools both use it.
- ``commands.register``: the ``shadowd log inspect|replay`` commands.
"""
