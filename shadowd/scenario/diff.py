"""Where the model and the lab disagree about one scenario: the *fidelity* of a run.

``diff(model, lab)`` pairs the steps of a ``ScenarioResult`` and a ``LabResult`` of the
same timeline and compares, per step:

- **routes**: did the lab's RIBs converge to the model's next hops (``run_steps``'s
  agreement)? Anything below full agreement is a disagreement.
- **reachability, latency and loss** of each probed pair, as *directions* of change
  against each tier's own baseline (up, down or flat), since the tiers measure different
  things: the model a one-way propagation latency and a fluid loss over the whole demand
  matrix, the lab a round trip and what one probe flow sees. A change counts when it is
  above the tier's noise (``LATENCY_TOLERANCE_MS`` for the model, the ping's jitter or
  ``RTT_NOISE_MS`` for the lab; ``LOSS_TOLERANCE_PCT`` for both).

A comparison is *inconclusive* rather than a disagreement when the lab cannot show what
the model predicts: a latency change when the lab's round trips are far below the model's
propagation delay (the lab does not emulate link delay), or a loss that comes from
overload by the demand matrix, which the lab does not carry (only the probe does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import msgspec

from shadowd.scenario.results import LabResult, PairSample, Probe, ScenarioResult

Direction = Literal["up", "down", "flat", "unknown"]
Verdict = Literal["agree", "disagree", "inconclusive"]
Aspect = Literal["routes", "reachability", "latency", "loss"]

LATENCY_TOLERANCE_MS: Final = 0.05
RTT_NOISE_MS: Final = 1.0
LOSS_TOLERANCE_PCT: Final = 1.0


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    at_s: float
    label: str
    aspect: Aspect
    pair: str  # "src->dst", or "" for routes
    model: str  # what the model says
    lab: str  # what the lab shows
    verdict: Verdict
    why: str = ""


class TierDiff(msgspec.Struct, frozen=True, kw_only=True):
    scenario: str
    steps: int
    routes_agree: bool  # every lab step converged to the model's routes
    counts: dict[str, dict[str, int]]  # aspect -> verdict -> how many
    findings: list[Comparison]  # every comparison that did not agree

    @property
    def agree(self) -> bool:
        return all(c.verdict != "disagree" for c in self.findings)


def diff(model: ScenarioResult, lab: LabResult) -> TierDiff:
    if [s.at_s for s in model.steps] != [s.at_s for s in lab.steps]:
        raise ValueError(f"model and lab ran different timelines of {model.scenario!r}")
    found: list[Comparison] = []
    for mstep, lstep in zip(model.steps, lab.steps, strict=True):
        found.append(Comparison(
            at_s=lstep.at_s, label=lstep.label, aspect="routes", pair="",
            model="next hops of every running router",
            lab=f"{lstep.agreement:.1%} of {lstep.routes} routes after {lstep.seconds:g} s",
            verdict="agree" if lstep.converged and lstep.agreement == 1.0 else "disagree"))
        for probe in lstep.probes:
            base = _find(lab.baseline, probe.src, probe.dst)
            found += _pair(model, mstep.tracked, base, probe, at_s=lstep.at_s,
                           label=lstep.label)
    counts: dict[str, dict[str, int]] = {}
    for c in found:
        counts.setdefault(c.aspect, {}).setdefault(c.verdict, 0)
        counts[c.aspect][c.verdict] += 1
    return TierDiff(scenario=model.scenario, steps=len(lab.steps),
                    routes_agree=all(s.converged and s.agreement == 1.0 for s in lab.steps),
                    counts=counts, findings=[c for c in found if c.verdict != "agree"])


def _find(probes: list[Probe], src: str, dst: str) -> Probe | None:
    return next((p for p in probes if (p.src, p.dst) == (src, dst)), None)


def _sample(samples: list[PairSample], src: str, dst: str) -> PairSample | None:
    return next((s for s in samples if (s.src, s.dst) == (src, dst)), None)


@dataclass(frozen=True, slots=True)
class _At:
    """Where a comparison is made: one pair at one step."""

    at_s: float
    label: str
    pair: str

    def __call__(self, aspect: Aspect, model: str, lab: str, verdict: Verdict,
                 why: str = "") -> Comparison:
        return Comparison(at_s=self.at_s, label=self.label, aspect=aspect, pair=self.pair,
                          model=model, lab=lab, verdict=verdict, why=why)


def _pair(model: ScenarioResult, tracked: list[PairSample], base: Probe | None, probe: Probe,
          *, at_s: float, label: str) -> list[Comparison]:
    make = _At(at_s, label, f"{probe.src}->{probe.dst}")
    now = _sample(tracked, probe.src, probe.dst)
    was = _sample(model.baseline.tracked, probe.src, probe.dst)
    if now is None or base is None:
        return [make("reachability", "not tracked" if now is None else "tracked",
                     "no baseline probe" if base is None else "probed", "inconclusive",
                     "the pair is missing from one tier's run")]
    model_up, lab_up = now.latency_ms is not None, probe.rtt_ms is not None
    reach = make("reachability", "reachable" if model_up else "unreachable",
                 "reachable" if lab_up else "no echo",
                 "agree" if model_up == lab_up else "disagree")
    if not (model_up and lab_up):
        return [reach]
    return [reach, _latency(make, was, now, base, probe), _loss(make, was, now, base, probe)]


def _direction(delta: float, tolerance: float) -> Direction:
    if delta > tolerance:
        return "up"
    if delta < -tolerance:
        return "down"
    return "flat"


def _latency(make: _At, was: PairSample | None, now: PairSample, base: Probe,
             probe: Probe) -> Comparison:
    if (was is None or was.latency_ms is None or base.rtt_ms is None
            or now.latency_ms is None or probe.rtt_ms is None):
        return make("latency", "no baseline", "", "inconclusive", "no baseline to compare")
    said = _direction(now.latency_ms - was.latency_ms, LATENCY_TOLERANCE_MS)
    noise = max(RTT_NOISE_MS, 3 * max(base.rtt_mdev_ms or 0.0, probe.rtt_mdev_ms or 0.0))
    shown = _direction(probe.rtt_ms - base.rtt_ms, noise)
    texts = (f"{said} ({was.latency_ms:.3g} -> {now.latency_ms:.3g} ms one way)",
             f"{shown} (rtt {base.rtt_ms:.3g} -> {probe.rtt_ms:.3g} ms)")
    if said == shown:
        return make("latency", *texts, "agree")
    if shown == "flat" and base.rtt_ms < was.latency_ms:
        return make("latency", *texts, "inconclusive",
                    "the lab's round trips are shorter than the model's one-way delay: "
                    "it does not emulate link delay")
    return make("latency", *texts, "disagree")


def _loss(make: _At, was: PairSample | None, now: PairSample, base: Probe,
          probe: Probe) -> Comparison:
    before = was.loss_pct if was is not None else 0.0
    said = _direction(now.loss_pct - before, LOSS_TOLERANCE_PCT)
    lab_before = base.udp_loss_pct if base.udp_loss_pct is not None else base.ping_loss_pct
    lab_now = probe.udp_loss_pct if probe.udp_loss_pct is not None else probe.ping_loss_pct
    shown = _direction(lab_now - lab_before, LOSS_TOLERANCE_PCT)
    texts = (f"{said} ({before:.3g} -> {now.loss_pct:.3g} %)",
             f"{shown} ({lab_before:.3g} -> {lab_now:.3g} %)")
    if said == shown:
        return make("loss", *texts, "agree")
    if said != "flat" and shown == "flat":
        return make("loss", *texts, "inconclusive",
                    "the model's loss comes from the demand matrix's load, which the lab "
                    "does not carry: only the probe flow crosses it")
    return make("loss", *texts, "disagree")
