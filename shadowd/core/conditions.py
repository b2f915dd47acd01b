"""A rollout gate's conditions and the measurement they judge. Pure.

A condition compares one measured metric with a value: ``loss_pct < 1.0``. A gate has
success conditions and failure conditions, judged as Argo Rollouts' analysis does:

- any failure condition holds -> ``"failure"``;
- else every success condition holds (none: vacuously) -> ``"success"``;
- else -> ``"inconclusive"`` (a sample with NaN in it is never a success nor a failure).

Metrics, as production's probes and counters report them over a gate's interval:
``latency_ms`` (mean one-way), ``throughput_bps``, ``loss_pct`` (0-100) and ``max_util``
(the busiest link direction's utilisation, 1.0 = full).

In core: the config checks a gate's conditions when it is read, the policy package and
the services judge samples with them.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from shadowd.core.errors import ShadowdError

MetricName: TypeAlias = Literal["latency_ms", "throughput_bps", "loss_pct", "max_util"]
Op: TypeAlias = Literal["<", "<=", ">", ">="]
Verdict: TypeAlias = Literal["success", "failure", "inconclusive"]

METRICS: Final[tuple[str, ...]] = get_args(MetricName)
OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
_SYNTAX: Final = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


class ConditionError(ShadowdError):
    """A condition's text cannot be read: ``text`` is what was given, ``reason`` why."""

    def __init__(self, text: str, reason: str):
        super().__init__(f"condition {text!r}: {reason}")
        self.text = text
        self.reason = reason


class Sample(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What production showed over one gate's interval."""

    latency_ms: float
    throughput_bps: float
    loss_pct: float
    max_util: float

    def get(self, metric: MetricName) -> float:
        value: float = getattr(self, metric)
        return value

    def bounded(self) -> dict[str, float]:
        """The sample as the rollout journal holds it: NaN as 0, each field within the
        bounds of its ``RolloutStep`` field."""
        def clamp(value: float, high: float) -> float:
            return 0.0 if math.isnan(value) else min(max(value, 0.0), high)
        return {"latency_ms": clamp(self.latency_ms, 1e9),
                "throughput_bps": clamp(self.throughput_bps, 1e18),
                "loss_pct": clamp(self.loss_pct, 100.0), "max_util": clamp(self.max_util, 1e6)}

    def __str__(self) -> str:
        return (f"max util {self.max_util:.0%}, loss {self.loss_pct:.2g}%, "
                f"latency {self.latency_ms:.3g} ms, "
                f"throughput {self.throughput_bps / 1e9:.3g} Gbit/s")


class Condition(msgspec.Struct, frozen=True, gc=False):
    """``metric op value``; ``str()`` gives the text ``parse_condition`` reads."""

    metric: MetricName
    op: Op
    value: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConditionError(str(self), f"unknown metric; one of {', '.join(METRICS)}")
        if self.op not in OPS:
            raise ConditionError(str(self), f"unknown operator; one of {' '.join(OPS)}")
        if not math.isfinite(self.value):
            raise ConditionError(str(self), "the value must be a finite number")

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def holds(self, sample: Sample) -> bool:
        return OPS[self.op](sample.get(self.metric), self.value)


def parse_condition(text: str) -> Condition:
    """``"loss_pct < 1.0"`` -> ``Condition("loss_pct", "<", 1.0)``; errors name the text."""
    match = _SYNTAX.match(text)
    if match is None:
        raise ConditionError(text, "expected 'METRIC OP VALUE', e.g. 'loss_pct < 1.0'")
    metric, op, raw = match.groups()
    if metric not in METRICS:
        raise ConditionError(text, f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    try:
        value = float(raw)
    except ValueError:
        raise ConditionError(text, f"{raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ConditionError(text, "the value must be a finite number")
    return Condition(metric, op, value)  # type: ignore[arg-type]  # both checked above


def parse_conditions(texts: Iterable[str | Condition]) -> tuple[Condition, ...]:
    return tuple(t if isinstance(t, Condition) else parse_condition(t) for t in texts)


def holding(sample: Sample, conditions: Sequence[Condition]) -> list[Condition]:
    """The conditions that hold for the sample, in order."""
    return [c for c in conditions if c.holds(sample)]


def verdict(sample: Sample, success: Sequence[Condition],
            failure: Sequence[Condition]) -> Verdict:
    if holding(sample, failure):
        return "failure"
    if all(c.holds(sample) for c in success):
        return "success"
    return "inconclusive"
