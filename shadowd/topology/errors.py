"""The one error a topology import raises: it names the file, the item and what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shadowd.core.errors import ShadowdError


class TopologyError(ShadowdError):
    """A topology or demands file cannot be imported; nothing from it was returned.

    ``file`` is the path (or ``topohub:KEY``), ``item`` the node, link, demand, line or
    ``$.path`` at fault, ``reason`` what is wrong with it. ``str()`` joins the three.
    """

    def __init__(self, reason: str, *, file: str = "", item: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.file = file
        self.item = item

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.item, self.reason) if part)

    def in_file(self, file: str) -> TopologyError:
        """The same error, naming ``file`` (parsers raise without knowing the path)."""
        return TopologyError(self.reason, file=self.file or file, item=self.item)


@contextmanager
def naming(item: str) -> Iterator[None]:
    """Attach ``item`` to a ``TopologyError`` raised inside that does not name one yet."""
    try:
        yield
    except TopologyError as err:
        if err.item:
            raise
        raise TopologyError(err.reason, file=err.file, item=item) from None
