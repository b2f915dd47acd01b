"""The scenario library: one scenario per TOML or YAML file (same schema), strictly decoded.

Public API (reading the files is ``shadowd.scenario_files``: ``load_library``,
``parse_library``, ``load_file``)::

    check_library(library, state) -> Library            # against the network
    parse_text(text, syntax, *, file="") -> Scenario    # syntax: "toml" | "yaml"
    scenario_of(spec) -> Scenario                       # one built in code
    validate(scenario, state) -> None                   # raises ScenarioError
    ScenarioError(ShadowdError): .file, .line, .key, .reason

A file (``scenarios/*.toml``, ``*.yaml``, ``*.yml``)::

    name = "fra-ams-cut"            # required: letters, digits, '.', '_', '-'; unique
    description = "..."             # optional
    kind = "link_cut"               # what happens, and the keys it takes:
    link = "fra--ams"
    duration_s = 600

====================== ====================================================================
kind                   keys (``duration_s``, ``period_s``, ``down_s`` > 0; offsets >= 0)
====================== ====================================================================
link_cut               link, duration_s
router_failure         router, duration_s
srlg_cut               srlg, duration_s, [links: the group's links, when the inventory has
                       no SRLGs]
surge                  target, duration_s, [sources: list or "all" (default)], rate (in
                       all, split evenly over the sources) or factor (> 1, x each source's
                       demand toward target), [ramp_s < duration_s, ramp_steps = 4]
capacity_degradation   link, duration_s, capacity (below the link's) or factor (0 < f < 1)
link_flap              link, period_s, count, [down_s < period_s, default period_s / 2]
custom                 [[steps]]: at_s + one of the kinds above with its keys
====================== ====================================================================

Rates are bit/s, as a number or with an SI suffix (``"10G"``, ``"2.5 Gbps"``). Parsing
checks everything that needs no network; ``validate`` checks the rest against a state.
Every problem is one ``ScenarioError`` naming the file, the line of the offending key
(found in the text: see ``shadowd.scenario.lines``), the key's ``$.path`` and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec
import yaml

from shadowd.core.state import State
from shadowd.scenario.check import state_problem, static_problem
from shadowd.scenario.errors import ScenarioError
from shadowd.scenario.lines import line_of, toml_lines, yaml_lines
from shadowd.scenario.spec import KINDS, STEP_KINDS, AnyScenario

Syntax = Literal["toml", "yaml"]
MAX_FILE_BYTES: Final = 256 * 1024  # a scenario is a page of keys; this is generous
# libyaml's scanner where PyYAML has it (Debian's and the wheels do): the pure-Python one
# takes seconds on deep nesting.
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SUFFIXES: Final[dict[str, Syntax]] = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}

_AT: Final = re.compile(r"^(.*?)(?: - at `(\$[^`]*)`)?$", re.S)
_FIELD: Final = re.compile(r"^Object (contains unknown|missing required) field `([^`]*)`$")
_TAG: Final = re.compile(r"^Invalid value '(.*)'$", re.S)
_LINE: Final = re.compile(r"line (\d+)")
_BOUND: Final = re.compile(r"^Expected `\w+` (>=|>|<=|<) (\S+)$")
_STEP: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded scenario, and where its keys are in its file (for later errors)."""

    spec: AnyScenario
    file: str = ""
    lines: dict[str, int] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def description(self) -> str:
        return self.spec.description

    def error(self, key: str, reason: str) -> ScenarioError:
        return ScenarioError(reason, file=self.file, line=line_of(self.lines, key), key=key)


@dataclass(frozen=True)
class Library:
    """Every good scenario of a directory, and one error per file that is not."""

    scenarios: list[Scenario] = field(default_factory=list)
    errors: list[ScenarioError] = field(default_factory=list)

    def get(self, name: str) -> Scenario:
        for scenario in self.scenarios:
            if scenario.name == name:
                return scenario
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.scenarios]


def scenario_of(spec: AnyScenario) -> Scenario:
    """A scenario built in code, checked as a file's would be."""
    return _checked(Scenario(spec=spec))


def parse_text(text: str, syntax: Syntax, *, file: str = "") -> Scenario:
    if len(text) > MAX_FILE_BYTES:
        raise ScenarioError(f"{len(text):,} characters, over the limit of {MAX_FILE_BYTES:,} "
                            "for a scenario file", file=file)
    if syntax == "yaml":
        _refuse_aliases(text, file)
    lines = toml_lines if syntax == "toml" else yaml_lines
    try:
        if syntax == "toml":
            spec = msgspec.toml.decode(text, type=AnyScenario)
        else:
            spec = msgspec.yaml.decode(text, type=AnyScenario)
    except msgspec.ValidationError as err:
        key, reason = _explain(str(err), text, syntax)
        raise ScenarioError(reason, file=file, line=line_of(lines(text), key), key=key) \
            from None
    except msgspec.DecodeError as err:
        where = _LINE.search(str(err))
        reason = f"not valid {syntax.upper()}: " + " ".join(str(err).split())
        raise ScenarioError(reason, file=file, line=int(where[1]) if where else None) \
            from None
    except RecursionError:
        raise ScenarioError("nested too deeply", file=file) from None
    return _checked(Scenario(spec=spec, file=file, lines=lines(text)))


def _refuse_aliases(text: str, file: str) -> None:
    """YAML anchors and aliases are refused before anything expands them: a few hundred
    bytes of nested aliases expand to gigabytes (a "billion laughs"), and a scenario needs
    none. Scanning tokens is linear in the text and expands nothing."""
    try:
        for token in yaml.scan(text, Loader=_LOADER):
            if isinstance(token, yaml.AliasToken | yaml.AnchorToken):
                raise ScenarioError("YAML anchors and aliases (&, *) are not allowed in "
                                    "scenario files", file=file,
                                    line=token.start_mark.line + 1)
    except yaml.YAMLError:
        return  # not valid YAML: decoding says where


def validate(scenario: Scenario, state: State) -> None:
    """Raise ``ScenarioError`` if ``scenario`` cannot run on ``state``."""
    problem = static_problem(scenario.spec) or state_problem(scenario.spec, state)
    if problem is not None:
        raise scenario.error(*problem)


def check_library(library: Library, state: State) -> Library:
    """``library`` with each scenario that does not fit ``state`` moved to its errors."""
    checked = Library(errors=list(library.errors))
    for scenario in library.scenarios:
        try:
            validate(scenario, state)
        except ScenarioError as err:
            checked.errors.append(err)
            continue
        checked.scenarios.append(scenario)
    checked.errors.sort(key=lambda err: err.file)
    return checked


def _checked(scenario: Scenario) -> Scenario:
    problem = static_problem(scenario.spec)
    if problem is not None:
        raise scenario.error(*problem)
    return scenario


def _explain(message: str, text: str, syntax: Syntax) -> tuple[str, str]:
    """(``$.path``, reason) from a msgspec ``ValidationError``, in the words of the format."""
    match = _AT.match(message)
    reason, path = (match[1], match[2] or "$") if match else (message, "$")
    named = _FIELD.match(reason)
    if named:
        key = f"{path}.{named[2]}"
        if named[1].startswith("contains"):
            return key, f"unknown key {named[2]!r}"
        return key, f"required key {named[2]!r} is missing"
    tag = _TAG.match(reason)
    if tag and path.endswith(".kind"):
        if ".steps[" in path:
            return path, f"unknown step type {tag[1]!r}; use one of {', '.join(STEP_KINDS)}"
        return path, f"unknown kind {tag[1]!r}; use one of {', '.join(KINDS)}"
    bound = _BOUND.match(reason)
    if bound:
        return path, f"{_value_at(text, syntax, path)!r} must be {bound[1]} {bound[2]}"
    return path, reason


def _value_at(text: str, syntax: Syntax, path: str) -> object:
    """The value at ``path`` in the (well-formed) document, for messages."""
    value: object = msgspec.toml.decode(text) if syntax == "toml" else msgspec.yaml.decode(text)
    for name, index in _STEP.findall(path):
        if isinstance(value, dict) and name:
            value = value.get(name)
        elif isinstance(value, list) and index and int(index) < len(value):
            value = value[int(index)]
    return value
