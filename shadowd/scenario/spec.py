"""The scenario file's schema: frozen, strict msgspec Structs, one tagged union on ``kind``.

Each kind is an *action* (what to do to the network: ``LinkCut``, ``Surge``...). A
scenario file is one action plus ``name`` and ``description`` (``LinkCutScenario``...),
or a ``Custom`` scenario whose ``steps`` are actions plus ``at_s`` (``LinkCutStep``...).
Keys of another kind are unknown keys, so ``router = ...`` in a ``link_cut`` is an error,
as is ``at_s`` outside a step. Limits that need no network are declared with ``Meta``;
``shadowd.scenario.check`` does the rest. See ``shadowd.scenario.library`` for the format.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias

import msgspec

from shadowd.core.fields import LinkId, RouterName

MAX_SECONDS: Final = 1e7  # about 116 days: longer is a typo, not a scenario

Seconds = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_SECONDS)]
Offset = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_SECONDS)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Description = Annotated[str, msgspec.Meta(max_length=4000)]
SrlgName = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Rate: TypeAlias = str | float  # bit/s, or a string with an SI suffix: "10G"
SurgeFactor = Annotated[float, msgspec.Meta(gt=1.0, le=1000.0)]
Shrink = Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)]
Cycles = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
RampSteps = Annotated[int, msgspec.Meta(ge=1, le=100)]


class Action(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
             tag_field="kind"):
    """Base of every kind. Not itself a kind: only its tagged subclasses are."""

    @property
    def kind(self) -> str:
        return str(self.__struct_config__.tag)


class LinkCut(Action, frozen=True, kw_only=True, tag="link_cut"):
    link: LinkId
    duration_s: Seconds


class RouterFailure(Action, frozen=True, kw_only=True, tag="router_failure"):
    router: RouterName
    duration_s: Seconds


class SrlgCut(Action, frozen=True, kw_only=True, tag="srlg_cut"):
    """Every link of shared-risk group ``srlg`` at once; ``links``, when given, lists the
    group's links for networks whose inventory carries no SRLGs."""

    srlg: SrlgName
    duration_s: Seconds
    links: list[LinkId] = []


class Surge(Action, frozen=True, kw_only=True, tag="surge"):
    """Extra traffic toward ``target``: ``rate`` in all, split evenly over ``sources``, or
    each source's demand toward ``target`` multiplied by ``factor``."""

    target: RouterName
    duration_s: Seconds
    sources: list[RouterName] | Literal["all"] = "all"
    rate: Rate | None = None
    factor: SurgeFactor | None = None
    ramp_s: Offset = 0.0
    ramp_steps: RampSteps = 4


class CapacityDegradation(Action, frozen=True, kw_only=True, tag="capacity_degradation"):
    """``link`` down to ``capacity`` (bit/s) or to ``factor`` times its capacity."""

    link: LinkId
    duration_s: Seconds
    capacity: Rate | None = None
    factor: Shrink | None = None


class LinkFlap(Action, frozen=True, kw_only=True, tag="link_flap"):
    """``count`` cycles of ``period_s``: down at the start of each, up ``down_s`` later
    (default: half the period)."""

    link: LinkId
    period_s: Seconds
    count: Cycles
    down_s: Seconds | None = None


# --- a step of a custom scenario: an action at an offset ------------------------------


class LinkCutStep(LinkCut, frozen=True, kw_only=True, tag="link_cut"):
    at_s: Offset


class RouterFailureStep(RouterFailure, frozen=True, kw_only=True, tag="router_failure"):
    at_s: Offset


class SrlgCutStep(SrlgCut, frozen=True, kw_only=True, tag="srlg_cut"):
    at_s: Offset


class SurgeStep(Surge, frozen=True, kw_only=True, tag="surge"):
    at_s: Offset


class CapacityDegradationStep(CapacityDegradation, frozen=True, kw_only=True,
                              tag="capacity_degradation"):
    at_s: Offset


class LinkFlapStep(LinkFlap, frozen=True, kw_only=True, tag="link_flap"):
    at_s: Offset


AnyStep: TypeAlias = (
    LinkCutStep | RouterFailureStep | SrlgCutStep | SurgeStep | CapacityDegradationStep
    | LinkFlapStep
)


# --- a whole file: an action with a name, or timed steps --------------------------------


class LinkCutScenario(LinkCut, frozen=True, kw_only=True, tag="link_cut"):
    name: Name
    description: Description = ""


class RouterFailureScenario(RouterFailure, frozen=True, kw_only=True, tag="router_failure"):
    name: Name
    description: Description = ""


class SrlgCutScenario(SrlgCut, frozen=True, kw_only=True, tag="srlg_cut"):
    name: Name
    description: Description = ""


class SurgeScenario(Surge, frozen=True, kw_only=True, tag="surge"):
    name: Name
    description: Description = ""


class CapacityDegradationScenario(CapacityDegradation, frozen=True, kw_only=True,
                                  tag="capacity_degradation"):
    name: Name
    description: Description = ""


class LinkFlapScenario(LinkFlap, frozen=True, kw_only=True, tag="link_flap"):
    name: Name
    description: Description = ""


class Custom(Action, frozen=True, kw_only=True, tag="custom"):
    name: Name
    steps: Annotated[list[AnyStep], msgspec.Meta(min_length=1, max_length=1000)]
    description: Description = ""


AnyScenario: TypeAlias = (
    LinkCutScenario | RouterFailureScenario | SrlgCutScenario | SurgeScenario
    | CapacityDegradationScenario | LinkFlapScenario | Custom
)

KINDS: Final = ("link_cut", "router_failure", "srlg_cut", "surge", "capacity_degradation",
                "link_flap", "custom")
STEP_KINDS: Final = KINDS[:-1]


def actions(spec: AnyScenario) -> list[tuple[float, str, Action]]:
    """(offset in seconds, ``$.path``, action) of every action of a scenario, in order."""
    if isinstance(spec, Custom):
        return [(step.at_s, f"$.steps[{i}]", step) for i, step in enumerate(spec.steps)]
    return [(0.0, "$", spec)]
