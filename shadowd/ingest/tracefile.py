"""Trace files: recorded or generated telemetry, in the event log's own record framing.

A trace file is a sequence of ``[length][crc][Record]`` frames, exactly like a log
segment, where a record's ``first_lsn`` is the position of its first event in the trace.
So a trace can be checked, replayed and inspected with the same code as the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import msgspec

from shadowd.core.errors import ShadowdError
from shadowd.core.events import AnyEvent
from shadowd.store.frames import FrameScan, Record, record_frame

_RECORD: Final = msgspec.msgpack.Decoder(Record)


class TraceError(ShadowdError):
    """A trace file that cannot be read: names the file, the offset and what is wrong."""


def write_trace(path: Path, batches: Iterable[list[AnyEvent]]) -> int:
    """Write ``batches`` to ``path``; return how many events were written."""
    count = 0
    with path.open("wb") as out:
        for batch in batches:
            if batch:
                out.write(record_frame(count + 1, batch))
                count += len(batch)
    return count


def read_trace(path: Path) -> Iterator[list[AnyEvent]]:
    """Yield the batches of a trace file; a damaged frame stops it with a ``TraceError``."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise TraceError(f"cannot read trace {path}: {err.strerror}") from None
    scan = FrameScan(data)
    for frame in scan:
        try:
            yield _RECORD.decode(frame.payload).events
        except msgspec.ValidationError as err:
            raise TraceError(f"trace {path} at byte {frame.offset}: {err}") from None
    if scan.damage is not None:
        raise TraceError(f"trace {path} at byte {scan.damage.offset}: {scan.damage.reason}")
