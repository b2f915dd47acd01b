"""The lab's route-map settings, kept in step with a state (the imperative side).

The lab renders every external peer's inbound route-map bare (``frrconf``); what the
state says they should set (production's deployed BGP policies) is reconciled here, per
(egress router, peer), after the lab is built and after every ``Lab.apply``. What to set
and how to spell it come in as two pure functions (``desired``: the settings a state
asks for; ``lines``: per router, the vtysh lines from one map of settings to another),
so that this layer knows nothing of policies.

The settings it last made are remembered with the peer's session they were made on; a
router that does not run now (its daemons start again from the bare ``frr.conf``) or a
peer whose session was rebuilt (its route-map removed with it) counts as bare again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeAlias, TypeVar

from shadowd.core.state import State
from shadowd.lab.plan import LabPlan
from shadowd.shell import vtysh

S = TypeVar("S")
Key: TypeAlias = tuple[str, str]  # (egress router, peer)


class RouteMapSync(Generic[S]):
    def __init__(self, desired: Callable[[State], Mapping[Key, S]],
                 lines: Callable[[Mapping[Key, S], Mapping[Key, S], LabPlan],
                                 dict[str, list[str]]]) -> None:
        self._desired, self._lines = desired, lines
        self._have: dict[Key, tuple[S, object]] = {}  # settings, and the session they're on

    @classmethod
    def bare(cls) -> RouteMapSync[S]:
        """Route-maps left as ``frrconf`` renders them, whatever the state says."""
        return cls(lambda state: {}, lambda have, want, lab: {})

    def forget(self) -> None:
        """The lab was taken down: nothing is set any more."""
        self._have = {}

    async def reconcile(self, state: State, lab: LabPlan, running: set[str]) -> list[str]:
        """Set what ``state`` asks for on the running routers; returns what changed."""
        have = {k: v for k, (v, session) in self._have.items()
                if _on(lab, k, running) and lab.peers[k[1]].session() == session}
        want = {k: v for k, v in self._desired(state).items() if _on(lab, k, running)}
        todo = self._lines(have, want, lab)
        for router, lines in sorted(todo.items()):
            await vtysh(lab.routers[router].ns, *lines)
        self._have = {k: (v, lab.peers[k[1]].session()) for k, v in want.items()}
        return [f"route-maps at {router}" for router in sorted(todo)]


def _on(lab: LabPlan, key: Key, running: set[str]) -> bool:
    """Whether ``key``'s peer has its session on its router, and that router runs."""
    router, peer = key
    found = lab.peers.get(peer)
    return router in running and found is not None and found.router == router
