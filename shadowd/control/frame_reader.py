"""Reading frames from an asyncio stream, the same way on the server and the client.

The header is checked against the limit *before* the body is read, so an oversized
frame costs four bytes of memory, not its declared size.
"""

from __future__ import annotations

import asyncio

from shadowd.control.errors import FrameTooLarge, TruncatedFrame
from shadowd.control.protocol import HEADER, frame_length


async def read_header(reader: asyncio.StreamReader, limit: int) -> int | None:
    """The next frame's body length, or ``None`` on a clean end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            return None
        raise TruncatedFrame("frame header", HEADER.size, len(err.partial)) from None
    length = frame_length(header)
    if length > limit:
        raise FrameTooLarge(length, limit)
    return length


async def read_body(reader: asyncio.StreamReader, length: int) -> bytes:
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as err:
        raise TruncatedFrame("frame body", length, len(err.partial)) from None


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """One whole frame body, or ``None`` on a clean end of stream."""
    length = await read_header(reader, limit)
    if length is None:
        return None
    return await read_body(reader, length)
