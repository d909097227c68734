"""The command line's parsers, walked: no abbreviated long options, and
every subcommand's ``--help`` says what it does in one line.

Each subcommand's parser is reached from ``wriftai-async``'s own through
argparse's subparsers, so a subcommand added later is checked too.
"""

from __future__ import annotations

import argparse
import re

import pytest

from wriftai_async._cli import _parser, main
from wriftai_async.testing._serve import _parser as emulator_parser


def _walk(parser, path=()):
    """(path, parser) for the command and every subcommand under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_the_walk_reaches_every_subcommand():
    paths = {" ".join(path) for path, _ in _walk(_parser())}
    assert paths >= {
        "",
        "models",
        "models list",
        "models get",
        "models update",
        "predictions",
        "predictions get",
        "predictions wait",
        "predictions cancel",
        "emulator",
        "demo",
    }


def test_no_parser_takes_an_abbreviated_long_option():
    parsers = [*_walk(_parser()), (("emulator (its own)",), emulator_parser("x"))]
    allowing = [" ".join(path) for path, p in parsers if p.allow_abbrev]
    assert allowing == []


@pytest.mark.parametrize(
    ("args", "abbreviation"),
    [
        # Each once taken silently as the long option it begins.
        (["models", "update", "alice/text-echo", "--desc", "x"], "--desc"),
        (["models", "list", "alice", "--sort-dir", "desc"], "--sort-dir"),
        (["models", "list", "--from", "/dev/null", "alice"], "--from"),
        (["predictions", "wait", "p-1", "--poll", "1"], "--poll"),
        (["predictions", "cancel", "p-1", "--wai"], "--wai"),
        (["demo", "--model", "1"], "--model"),
    ],
)
def test_an_abbreviated_long_option_is_refused(
    emulator, monkeypatch, capsys, args, abbreviation
):
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", emulator.access_token)
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", emulator.base_url)
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2 and out == "", err
    (line,) = err.splitlines()
    assert line.startswith("wriftai-async: error: unrecognized arguments: "), line
    assert abbreviation in line
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["models", "list", "--bogus", "alice"], "models list"),
        (["models", "update", "alice/text-echo", "--bogus"], "models update"),
        (["predictions", "cancel", "p-1", "--bogus"], "predictions cancel"),
        (["demo", "--bogus"], "demo"),
    ],
)
def test_an_unknown_option_points_at_its_subcommands_help(capsys, args, command):
    # argparse reports what is left over from the top parser: the message
    # pointed at `wriftai-async --help`, which does not list the option.
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "unrecognized arguments: --bogus" in line
    assert line.endswith(f"(see `wriftai-async {command} --help`)"), line


def test_the_emulator_refuses_an_abbreviated_long_option(capsys):
    # Parsed only: taken as --dialect, it would start serving.
    with pytest.raises(SystemExit) as exit:
        emulator_parser("wriftai-async emulator").parse_args(["--dial", "old"])
    assert exit.value.code == 2
    assert "unrecognized arguments: --dial old" in capsys.readouterr().err


def _flat(text):
    return re.sub(r"\s+", " ", text).strip()


def _subcommands():
    return [
        pytest.param(path, p, id="-".join(path)) for path, p in _walk(_parser()) if path
    ]


@pytest.mark.parametrize(("path", "parser"), _subcommands())
def test_every_subcommand_has_a_one_line_description(path, parser):
    description = parser.description
    assert isinstance(description, str) and description.strip(), path
    assert "\n" not in description, path  # argparse wraps it to the terminal
    assert description[0].isupper() and description.endswith((".", ")")), path


def test_every_subcommand_is_listed_with_a_one_line_help():
    for path, parser in _walk(_parser()):
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue
            listed = {a.dest: a.help for a in action._choices_actions}
            assert listed.keys() == action.choices.keys(), path
            for name, text in listed.items():
                assert text and text.strip() and "\n" not in text, (path, name)


@pytest.mark.parametrize(("path", "parser"), _subcommands())
def test_every_subcommands_help_shows_its_description(path, parser, capsys):
    if path == ("emulator",):  # its own parser answers, unparsed by ours
        with pytest.raises(SystemExit) as exit:
            main([*path, "--help"])
        code = exit.value.code
    else:
        code = main([*path, "--help"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    assert out.startswith(f"usage: wriftai-async {' '.join(path)} ")
    # The description comes right after the usage block.
    after_usage = _flat(out.split("\n\n", 1)[1])
    assert after_usage.startswith(_flat(parser.description)), out
