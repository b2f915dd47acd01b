"""The best any forecaster could do on a generated trace: a bound to read a backtest against.

A generated trace (``shadowd.traffic.trace``) holds one thing nobody can know in advance:
how long a surge's ramp lasts. It is drawn from ``surge_ramp_s`` on its own, so until a
ramp stops it looks the same whether it will stop under the threshold or over it.

``ramp_oracle`` scores a predictor that knows everything else: the loads without noise or
flaps (``Footprint``), the diurnal curve, every surge from the moment it starts (its
destination, its slope, its hold and decay) and the law of ramp lengths. For each pair of
a surge and a directed link it reaches (the link not already over the threshold when the
surge starts):

- the *continued ramp* is the load if the ramp never stopped; it crosses the threshold
  at ``t_c``;
- the oracle decides at ``t_c - lead_s``, the latest moment that still warns in time.
  A decision before the surge starts is impossible (the pair is a miss if it crosses).
  If the ramp has stopped by then, the oracle knows the outcome. If not, the chance that
  it lasts until ``t_c`` is ``q = P(R >= t_c - start | R > t_c - lead_s - start)``, with
  R uniform over the ramp span, and the oracle alarms iff ``q >= c``;
- a pair whose load crosses only after its ramp stopped (the diurnal rise during the
  hold) counts as foreseen, and an alarm on it as true.

Deciding later is not allowed and earlier knows less, so for each ``c`` this is the best
rule for what the oracle knows (Neyman-Pearson), and where the knowledge is not certain
it is given the benefit. Swept over ``c`` it gives the best trade-off between recall and
the share of false alarms on the trace. Scoring is per pair (a link's episode of one
surge), like the backtest's per-episode scoring, but without its merging of episodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from shadowd.predict.holtwinters import FloatArray
from shadowd.traffic.trace import Footprint, Span, Surge


class Point(msgspec.Struct, frozen=True, array_like=True):
    c: float  # alarm when the chance of crossing is at least this
    recall: float
    false_alarm_rate: float  # false alarms / alarms


class Bound(msgspec.Struct, frozen=True, kw_only=True):
    pairs: int  # (surge, link direction) pairs scored
    crossing: int  # of them, pairs whose load crosses the threshold
    foreseen: int  # crossing, and known to cross when the oracle decides
    too_soon: int  # crossing less than lead_s after their surge started
    curve: list[Point]  # by c, descending

    def best_false_alarm_rate(self, recall: float) -> float | None:
        """The lowest share of false alarms at which the oracle reaches ``recall``."""
        rates = [p.false_alarm_rate for p in self.curve if p.recall >= recall]
        return min(rates) if rates else None

    def best_recall(self, false_alarm_rate: float) -> float:
        """The highest recall the oracle reaches with at most that share of false alarms."""
        return max((p.recall for p in self.curve if p.false_alarm_rate <= false_alarm_rate),
                   default=0.0)


class _Pair(msgspec.Struct, frozen=True):
    crosses: bool
    chance: float | None = None  # of crossing, when the oracle decides; None: it knows
    too_soon: bool = False  # it would have to decide before the surge started


def ramp_oracle(fp: Footprint, plan: Sequence[Surge], ramp_s: Span, *, times: FloatArray,
                threshold: float, lead_s: float, from_ts: float = -math.inf) -> Bound:
    """Score the ramp oracle on the pairs of the surges of ``plan`` that start at or after
    ``from_ts``; ``times``: the trace's sample times."""
    oracle = _Oracle(fp, plan, ramp_s, times, threshold, lead_s)
    pairs = [pair for k, surge in enumerate(plan) if surge.start >= from_ts
             for pair in oracle.pairs(k)]
    crossing = sum(p.crosses for p in pairs)
    foreseen = sum(p.crosses and p.chance is None and not p.too_soon for p in pairs)
    chances = [(p.chance, p.crosses) for p in pairs if p.chance is not None]
    curve = [Point(math.inf, _share(foreseen, crossing), 0.0)]
    for c in sorted({q for q, _ in chances if q > 0.0}, reverse=True):
        true = foreseen + sum(crosses and q >= c for q, crosses in chances)
        false = sum(not crosses and q >= c for q, crosses in chances)
        curve.append(Point(c, _share(true, crossing), _share(false, true + false)))
    return Bound(pairs=len(pairs), crossing=crossing, foreseen=foreseen,
                 too_soon=sum(p.too_soon and p.crosses for p in pairs), curve=curve)


@dataclass(frozen=True)
class _Oracle:
    fp: Footprint
    plan: Sequence[Surge]
    ramp_s: Span
    times: FloatArray
    threshold: float
    lead_s: float

    def pairs(self, k: int) -> list[_Pair]:
        """The pairs of surge ``k`` and the link directions it reaches."""
        surge, reach, longest = self.plan[k], np.asarray(self.fp.reach[k]), self.ramp_s[1]
        during = self.times[(self.times >= surge.start) & (self.times <= surge.end)]
        if len(during) == 0:
            return []
        load = np.stack([self.fp.at(float(t), self.plan) for t in during], axis=1)
        shape = np.array([surge.shape(float(t)) for t in during])
        elapsed = during - surge.start
        continued = (load - reach[:, None] * shape[None, :]
                     + (reach / surge.ramp_s)[:, None] * np.minimum(elapsed, longest)[None, :])
        out = []
        for row in np.flatnonzero((reach > 0.0) & (load[:, 0] <= self.threshold)):
            crosses = bool((load[row] > self.threshold).any())
            over = np.flatnonzero((continued[row] > self.threshold) & (elapsed <= longest))
            if len(over) == 0:  # any crossing comes after the ramp, foreseen
                out.append(_Pair(crosses))
                continue
            at = float(elapsed[over[0]])
            decide = at - self.lead_s
            if surge.ramp_s <= decide or (crosses and surge.ramp_s < at):
                out.append(_Pair(crosses))  # the ramp stopped before it mattered: known
            elif decide < 0.0:
                out.append(_Pair(crosses, too_soon=True))
            else:
                out.append(_Pair(crosses, chance=_lasts(at, decide, self.ramp_s)))
        return out


def _lasts(until: float, since: float, ramp_s: Span) -> float:
    """P(R >= until | R > since) for a ramp length R uniform over ``ramp_s``."""
    lo, hi = ramp_s

    def longer(x: float) -> float:
        return min(max((hi - max(x, lo)) / (hi - lo), 0.0), 1.0) if hi > lo else float(x < hi)

    left = longer(since)
    return longer(until) / left if left > 0.0 else 0.0


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
