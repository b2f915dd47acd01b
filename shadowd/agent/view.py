"""The network view a source's stream folds into, and its digest.

``view_digest`` is ``shadowd.core.state.view_digest``: the digest of routers, links (with
counters) and demands, without ``lsn`` and ``sources``, so that the agent and shadowd
agree whatever else shadowd holds.
"""

from __future__ import annotations

from shadowd.core.state import State, view_digest

__all__ = ["view_digest", "view_of"]


def view_of(state: State) -> State:
    """``state`` without its log position and per-source positions (shares its dicts)."""
    return State(routers=state.routers, links=state.links, demands=state.demands)
