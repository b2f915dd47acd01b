"""The network view a source's stream folds into, and its digest.

``view_digest`` is ``shadowd.core.state.view_digest`` when the consumer side provides it:
the digest of routers, links (with counters) and demands, without ``lsn`` and
``sources``, so that a producer and shadowd agree whatever else shadowd holds. Until it
exists this module computes the same definition locally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from shadowd.core import state as _state
from shadowd.core.state import State, digest


def view_of(state: State) -> State:
    """``state`` without its log position and per-source positions (shares its dicts)."""
    return State(routers=state.routers, links=state.links, demands=state.demands)


def _local_view_digest(state: State) -> str:
    return digest(view_of(state))


view_digest: Final[Callable[[State], str]] = getattr(_state, "view_digest", _local_view_digest)
