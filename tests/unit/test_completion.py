"""Shell completion from the argparse trees: the scripts parse, and sourced in bash (and
zsh, when installed) they complete subcommands, options and choices; plus the --json
audit of every leaf command."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from shadowd.cli import shadowctl as client_cli
from shadowd.cli import shadowd as cli
from shadowd.cli.completion import script, tables

PARSERS = {"shadowctl": client_cli.build_parser, "shadowd": cli.build_parser}


def _bash_complete(prog: str, *words: str) -> list[str]:
    """COMPREPLY for ``prog WORDS...`` with the cursor on the last word, in a real bash."""
    quoted = " ".join(f"'{w}'" for w in (prog, *words))
    driver = (f"{script('bash', prog, PARSERS[prog]())}\n"
              f"COMP_WORDS=({quoted}); COMP_CWORD={len(words)}; COMPREPLY=()\n"
              f"_{prog}_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    out = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


@pytest.mark.parametrize("prog", sorted(PARSERS))
@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_script_parses(prog: str, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    text = script(shell, prog, PARSERS[prog]())
    out = subprocess.run([shell, "-n"], input=text, capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(("words", "expected"), [
    (("pol",), ["policies"]),
    (("policies", ""), ["list", "show", "propose", "deploy", "approve", "rollback",
                        "history"]),
    (("policies", "de"), ["deploy"]),
    (("--socket", "/run/x.sock", "policies", "l"), ["list"]),
    (("--json", "lo"), ["log", "loads"]),
    (("worst-case", "--failures", ""), ["links", "nodes", "srlg", "links2"]),
    (("worst-case", "--f"), ["--failures"]),
    (("policies", "propose", "--metric", "r1", "l1", "5", "--r"), ["--reason"]),
    (("completion", ""), ["bash", "zsh"]),
    (("met",), ["metrics"]),
])
def test_bash_completes_shadowctl(words: tuple[str, ...], expected: list[str]) -> None:
    assert _bash_complete("shadowctl", *words) == expected


def test_bash_completes_shadowd() -> None:
    assert _bash_complete("shadowd", "lo") == ["log"]
    assert set(_bash_complete("shadowd", "log", "")) == {"inspect", "replay", "repair",
                                                          "replay-kafka"}
    assert "--config" in _bash_complete("shadowd", "run", "--")


def test_zsh_completes_through_compadd() -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    text = script("zsh", "shadowctl", client_cli.build_parser())
    driver = ("compdef() { :; }\ncompadd() { shift; print -r -- \"$*\"; }\n"
              f"{text}\nwords=(shadowctl policies ''); CURRENT=3; _shadowctl\n"
              "words=(shadowctl worst-case --failures ''); CURRENT=4; _shadowctl\n")
    out = subprocess.run(["zsh", "-f", "-c", driver], capture_output=True, text=True,
                         check=True)
    assert out.stdout.splitlines() == ["list show propose deploy approve rollback history",
                                       "links nodes srlg links2"]


def test_the_tables_skip_option_values() -> None:
    t = tables(client_cli.build_parser())
    assert t.nargs[". --socket"] == 1
    assert t.nargs[".policies.propose. --metric"] == 3
    assert ". --json" not in t.nargs


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_completion_is_a_command(prog: str, capsys: pytest.CaptureFixture[str]) -> None:
    if prog == "shadowctl":
        assert client_cli.main(["completion", "bash"]) == 0
    else:  # not cli.main: it points the process's logging at the captured stderr
        args = cli.build_parser().parse_args(["completion", "bash"])
        assert args.func(args) == 0
    assert f"complete -o bashdefault -o default -F _{prog}_complete {prog}" in \
        capsys.readouterr().out


# --- --json on every command that answers once ----------------------------------------


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaves(child, (*path, name))


def _without_json(parser: argparse.ArgumentParser) -> set[str]:
    return {" ".join(path) for path, leaf in _leaves(parser)
            if "--json" not in {f for a in leaf._actions for f in a.option_strings}}


def test_every_shadowctl_command_takes_json() -> None:
    assert _without_json(client_cli.build_parser()) == {"completion"}  # prints a script


def test_shadowd_commands_without_json_are_the_long_running_ones() -> None:
    # run and agent stream logs ([logging] format = "json" makes them JSON lines);
    # completion prints a shell script.
    assert _without_json(cli.build_parser()) == {"run", "agent", "completion"}
