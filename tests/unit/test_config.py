"""shadowd's config file: the shipped default decodes, and ``[lab]`` is as strict as the rest."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from shadowd.config import (
    Config,
    LabConfig,
    PredictConfig,
    ReplaySourceConfig,
    load_config,
    parse_config,
)
from shadowd.core.errors import ConfigError
from shadowd.lab.plan import LabSettings

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_config_builds_the_lab_when_it_can() -> None:
    """``make run`` shows the lab too where FRR runs (elsewhere: alert lab_unavailable)."""
    config = load_config(REPO / "config" / "shadowd.toml")
    assert config.lab.enabled
    assert msgspec.structs.replace(config.lab, enabled=False) == LabConfig()


def test_a_lab_section_decodes_into_valid_lab_settings() -> None:
    config = parse_config('[lab]\nenabled = true\nid = "dlab"\nigp = "isis"\nscale = 1.0\n'
                          "converge_timeout_s = 5\n")
    lab = config.lab
    assert (lab.enabled, lab.id, lab.igp, lab.scale, lab.converge_timeout_s) == (
        True, "dlab", "isis", 1.0, 5.0)
    assert LabSettings(lab_id=lab.id, igp=lab.igp, scale=lab.scale).lab_id == "dlab"


@pytest.mark.parametrize(("text", "path", "reason"), [
    ('id = "a-b"', "$.lab.id", "matching regex"),
    ('id = "Upper"', "$.lab.id", "matching regex"),
    ('id = ""', "$.lab.id", "matching regex"),
    ('id = "thirteenchars"', "$.lab.id", "matching regex"),
    ('igp = "rip"', "$.lab.igp", "Invalid enum value 'rip'"),
    ("scale = 0", "$.lab.scale", "Expected `float` > 0.0"),
    ("scale = 1.5", "$.lab.scale", "Expected `float` <= 1.0"),
    ("converge_timeout_s = 0", "$.lab.converge_timeout_s", "Expected `float` > 0.0"),
    ('enabled = "yes"', "$.lab.enabled", "Expected `bool`"),
])
def test_bad_lab_values_name_their_key(text: str, path: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as err:
        parse_config(f"[lab]\n{text}\n", file="x.toml")
    assert err.value.path == path
    assert str(err.value).startswith("x.toml: ")


def test_an_unknown_lab_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown field `igp_timeout`") as err:
        parse_config("[lab]\nigp_timeout = 3\n")
    assert err.value.path == "$.lab"


def test_the_shipped_config_predicts_with_the_repos_scenarios_and_surges() -> None:
    """``make run`` shows spikes: the builtin replay has surges, the library is found."""
    path = REPO / "config" / "shadowd.toml"
    config = load_config(path)
    assert config.predict.enabled
    assert (path.parent / config.predict.scenarios_dir).resolve() == REPO / "scenarios"
    assert msgspec.structs.replace(config.predict, scenarios_dir="scenarios") == PredictConfig()
    (replay,) = config.sources
    assert isinstance(replay, ReplaySourceConfig)
    assert replay.surges_per_week > 0


@pytest.mark.parametrize(("text", "path", "reason"), [
    ("threshold_util = 0", "$.predict.threshold_util", "Expected `float` > 0.0"),
    ("lead_s = -1", "$.predict.lead_s", "Expected `float` >= 0.0"),
    ("horizon_s = 0", "$.predict.horizon_s", "Expected `float` > 0.0"),
    ("check_every_s = 0", "$.predict.check_every_s", "Expected `float` > 0.0"),
    ("surge_factor = 1.0", "$.predict.surge_factor", "Expected `float` > 1.0"),
    ("max_runs_per_spike = 21", "$.predict.max_runs_per_spike", "Expected `int` <= 20"),
    ("max_factor = 0.5", "$.predict.max_factor", "Expected `float` >= 1.0"),
    ('scenarios_dir = ""', "$.predict.scenarios_dir", "Expected `str` of length >= 1"),
    ('enabled = "yes"', "$.predict.enabled", "Expected `bool`"),
])
def test_bad_predict_values_name_their_key(text: str, path: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as err:
        parse_config(f"[predict]\n{text}\n", file="x.toml")
    assert err.value.path == path


def test_an_unknown_predict_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown field `lead_time`") as err:
        parse_config("[predict]\nlead_time = 3\n")
    assert err.value.path == "$.predict"


def test_surges_are_a_replay_key() -> None:
    config = parse_config('[[sources]]\nkind = "replay"\nsurges_per_week = 3.5\n')
    (replay,) = config.sources
    assert isinstance(replay, ReplaySourceConfig)
    assert replay.surges_per_week == 3.5
    with pytest.raises(ConfigError) as err:
        parse_config('[[sources]]\nkind = "replay"\nsurges_per_week = -1\n')
    assert err.value.path == "$.sources[0].surges_per_week"


def _line_of(text: str, section: str, key: str) -> str:
    """The line that sets ``key`` in ``[section]`` (``[[sources]]``: the first entry)."""
    current = None
    for line in text.splitlines():
        header = line.strip()
        if header.startswith("["):
            current = header.strip("[]")
        elif current == section and line.split("=")[0].strip() == key:
            return line
    raise AssertionError(f"[{section}] {key} is not in the file")


def _sections(config: Config) -> dict[str, tuple[msgspec.Struct, msgspec.Struct]]:
    """Each table of the shipped file, beside the Struct of its defaults."""
    tables: dict[str, tuple[msgspec.Struct, msgspec.Struct]] = {
        name: (getattr(config, name), type(getattr(config, name))())
        for name in Config.__struct_fields__ if name != "sources"
    }
    source = config.sources[0]
    tables["sources"] = (source, type(source)(name=source.name))
    return tables


def test_the_shipped_config_shows_every_key_and_marks_each_that_is_not_the_default() -> None:
    path = REPO / "config" / "shadowd.toml"
    text = path.read_text()
    assert "Every key is shown" in text.splitlines()[0]
    for section, (shipped, default) in _sections(load_config(path)).items():
        for key in shipped.__struct_fields__:
            if isinstance(getattr(default, key), msgspec.Struct):
                continue  # a table of its own, walked as such
            line = _line_of(text, section, key)
            mine, theirs = getattr(shipped, key), getattr(default, key)
            if mine == theirs:
                assert "(default:" not in line, line
            else:
                assert f"(default: {msgspec.json.encode(theirs).decode()})" in line, line
