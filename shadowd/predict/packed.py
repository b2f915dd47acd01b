"""numpy arrays inside msgspec snapshots: dtype, shape and the raw bytes, nothing lost."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt


class Packed(msgspec.Struct, frozen=True, kw_only=True):
    dtype: str
    shape: list[int]
    data: bytes


def pack(array: npt.NDArray[Any]) -> Packed:
    contiguous = np.ascontiguousarray(array)
    return Packed(dtype=contiguous.dtype.str, shape=list(contiguous.shape),
                  data=contiguous.tobytes())


def unpack(packed: Packed) -> npt.NDArray[Any]:
    flat = np.frombuffer(packed.data, dtype=np.dtype(packed.dtype))
    return flat.reshape(packed.shape).copy()  # writable, and no longer tied to the buffer
