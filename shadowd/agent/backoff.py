"""Jittered exponential backoff ("full jitter"): a wait drawn from [0, min(cap, base * 2**n)].

Pure: the random source is passed in, so tests can make it predictable.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base_s: float = 0.2, cap_s: float = 10.0,
                 rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.failures = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.failures = 0
