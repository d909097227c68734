"""The command line's edges: bad targets, tokens, output errors, names, messages.

Most cases call ``main()`` in process (a subprocess each would only add
start-up time); what needs a real process (a full disk, a closed stdout, the
interpreter's own flush at exit) runs as a batch of subprocesses started at
once. The README's session, with a closed pipe and Ctrl-C, is run by
``tests/test_readme.py``.
"""

from __future__ import annotations

import errno
import io
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import new_prediction
from wriftai_async._cli import main

PASSWORD = "pw-very-secret-42"


@pytest.fixture
def run(emulator, monkeypatch, capsys):
    """``run(*args, env={...})`` -> (exit code, stdout, stderr), in process."""

    def invoke(*args, env=None, token=True):
        for name in list(os.environ):
            if name.startswith("WRIFTAI_"):
                monkeypatch.delenv(name)
        if token:
            monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", emulator.access_token)
        monkeypatch.setenv("WRIFTAI_API_BASE_URL", emulator.base_url)
        for name, value in (env or {}).items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return invoke


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- the base URL and the token ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--base-url", ""], {}, "--base-url is empty"),
        ([], {"WRIFTAI_API_BASE_URL": ""}, "WRIFTAI_API_BASE_URL is empty"),
        (["--base-url", "http://h/v1?x=1"], {}, "--base-url must not hold a query"),
        (
            ["--base-url", f"http://me:{PASSWORD}@127.0.0.1:9/v1"],
            {},
            "--base-url must not hold a user name or password",
        ),
        (
            [],
            {"WRIFTAI_API_BASE_URL": f"http://me:{PASSWORD}@127.0.0.1:9/v1"},
            "WRIFTAI_API_BASE_URL must not hold a user name or password",
        ),
        (["--token", ""], {}, "--token is empty"),
        # A token read from a file with its newline: once aiohttp's "Forbidden
        # control character ... header injection" (for `models list`, one
        # failure per owner and exit 1).
        (["--token", PASSWORD + "\n"], {}, "--token holds a line break"),
        (
            [],
            {"WRIFTAI_ACCESS_TOKEN": PASSWORD + "\r\n"},
            "$WRIFTAI_ACCESS_TOKEN holds a line break",
        ),
        # Once named by its library argument, rate_limit_store.
        (["--rate-limit-store", "foo://x"], {}, "--rate-limit-store must be"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["models", "update", "alice/text-echo", "--description", "x"],
        ["models", "get"],
        ["models", "list", "alice"],
    ],
)
def test_an_empty_or_misleading_target_is_a_usage_error(
    run, emulator, args, env, named, command
):
    if command == ["models", "get"]:
        command = [*command, "alice/text-echo"]
    code, out, err = run(*command, *args, env=env)
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"wriftai-async: error: {named}"), line
    assert PASSWORD not in err
    assert emulator.requests == []  # nothing was sent, to production or elsewhere


def test_demo_with_an_empty_base_url_is_refused_not_emulated(run):
    code, out, err = run("demo", "--base-url", "", "--owners", "alice")
    assert code == 2 and out == ""
    assert one_line(err).startswith("wriftai-async: error: --base-url is empty")


def test_a_missing_token_says_none_was_given_and_how_to_give_one(run):
    code, out, err = run("models", "get", "alice/text-echo", token=False)
    assert code == 1 and out == ""
    line = one_line(err)
    assert line.startswith("wriftai-async: error: 401 ")
    assert "no access token was given" in line
    assert "WRIFTAI_ACCESS_TOKEN" in line and "--token" in line


def test_demo_takes_a_token_for_a_real_service(run, emulator):
    code, out, err = run(
        "demo",
        "--base-url",
        emulator.base_url,
        "--owners",
        "alice,bob",
        "--token",
        emulator.access_token,
        "-q",
        token=False,
    )
    assert code == 0, err
    assert re.search(r"listed 4 models of 2 users .*: 2 requests for 2 pages", out)
    assert {r.headers.get("Authorization") for r in emulator.requests} == {
        f"Bearer {emulator.access_token}"
    }


# -- options that do not apply, and number messages ---------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["predictions", "cancel", "p-1", "--max-wait", "5"],
            "--max-wait applies only with --wait",
        ),
        (
            ["predictions", "cancel", "p-1", "--timeout", "5"],
            "--max-wait applies only with --wait",
        ),
        (
            ["predictions", "cancel", "p-1", "--poll-interval", "1"],
            "--poll-interval applies only with --wait",
        ),
        (["demo", "--owners", "alice"], "--owners applies only with --base-url"),
        (["demo", "--token", "t"], "--token applies only with --base-url"),
        (
            ["demo", "--base-url", "http://127.0.0.1:9/v1", "--users", "3"],
            "--users applies only to the embedded emulator",
        ),
        (
            ["models", "update", "alice/text-echo", "--clear", "hardware"],
            "--clear hardware: a model's hardware cannot be cleared",
        ),
        (
            ["models", "update", "a/b", "--source-url", "x", "--clear", "source_url"],
            "--source-url and --clear source-url: give one or the other",
        ),
        (
            ["models", "update", "a/b", "--visibility", "secret"],
            "--visibility: must be one of private, public, restricted; not 'secret'",
        ),
        (
            ["models", "list", "alice", "--sort-by", "name"],
            "--sort-by: must be one of created_at, predictions_count; not 'name'",
        ),
    ],
)
def test_options_that_do_not_apply_or_fit_are_refused(run, emulator, args, message):
    code, out, err = run(*args)
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"wriftai-async: error: {message}"), err
    assert emulator.requests == []


@pytest.mark.parametrize("option", ["--max-wait", "--timeout"])
@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "soon"])
def test_a_wait_limit_that_is_not_seconds_gets_one_message(run, option, value):
    code, _, err = run("predictions", "wait", "p-1", option, value)
    assert code == 2
    line = one_line(err)
    assert line.startswith(
        "wriftai-async: error: --max-wait/--timeout: must be a number of seconds "
        f"> 0 (leave it out to wait without limit), not '{value}'"
    ), line
    for python_word in ("None", "0.0", ">= 0", "float"):
        assert python_word not in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "0"], "--concurrency: must be a whole number >= 1, not '0'"),
        (["--concurrency", "x"], "--concurrency: must be a whole number >= 1, not 'x'"),
        (["--max-retries", "-1"], "--max-retries: must be a whole number >= 0"),
        (["--poll-interval", "0"], "--poll-interval: must be a number of seconds > 0"),
    ],
)
def test_numbers_are_checked_while_parsing_in_one_style(run, args, message):
    code, _, err = run("predictions", "wait", "p-1", *args)
    assert code == 2
    assert one_line(err).startswith(f"wriftai-async: error: {message}"), err


# -- one naming scheme ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "sent"),
    [
        (["--clear", "source_url"], {"source_url": None}),
        (["--clear", "source-url"], {"source_url": None}),
        (["--clear", "categories"], {"category_slugs": []}),
        (["--clear", "category_slugs"], {"category_slugs": []}),
        (["--hardware", "gpu-t4"], {"hardware_identifier": "gpu-t4"}),
        (["--hardware-identifier", "gpu-t4"], {"hardware_identifier": "gpu-t4"}),
        (
            ["--category", "audio", "--category-slug", "video"],
            {"category_slugs": ["audio", "video"]},
        ),
        (["--visibility", "PRIVATE"], {"visibility": "private"}),
    ],
)
def test_both_spellings_send_the_library_field(run, emulator, args, sent):
    code, out, err = run("models", "update", "alice/text-echo", *args)
    assert code == 0, err
    (patch,) = [r.json for r in emulator.requests if r.method == "PATCH"]
    assert patch == sent
    if sent == {"category_slugs": []}:
        assert '"categories":[]' in out  # cleared on the server too


def test_sort_by_takes_dashes_too(run, emulator):
    code, _, err = run(
        "models", "list", "alice", "--sort-by", "predictions-count", "-q"
    )
    assert code == 0, err
    (query,) = [r.query for r in emulator.requests if r.path == "/models/alice"]
    assert query["sort_by"] == "predictions_count"


# -- messages ------------------------------------------------------------------------


def test_a_validation_error_reads_field_by_field(run):
    code, out, err = run(
        "models",
        "update",
        "alice/text-echo",
        "--source-url",
        "not a url",
        "--name",
        "bad name!",
    )
    assert code == 1 and out == ""
    line = one_line(err)
    assert line.startswith("wriftai-async: error: 422 (PATCH http://127.0.0.1:")
    assert "source_url: " in line and "name: " in line
    assert "[{" not in line and "'loc'" not in line  # no Python list repr


def test_counts_of_one_are_singular(run, emulator):
    emulator.add_model("solo", "only-one")
    code, _, err = run("models", "list", "solo")
    assert code == 0, err
    assert "listed 1 model of 1 owner (0 failed) with 1 request for 1 page" in err


def test_every_failure_line_has_the_same_prefix(run, emulator):
    pid = new_prediction(emulator, status="succeeded")
    outputs = [
        run("models", "list", "alice", "nobody-here"),
        run("predictions", "cancel", pid),
        run("predictions", "wait", "no-such-id", "--poll-interval", "0.05"),
        run("models", "get", "alice/nope"),
        run("models", "list", "--concurrency", "0", "alice"),
    ]
    for code, _, err in outputs:
        assert code in (1, 2)
        errors = [line for line in err.splitlines() if "error" in line]
        assert errors and all(
            line.startswith("wriftai-async: error: ") for line in errors
        ), err


# -- output errors -------------------------------------------------------------------


class _Failing(io.StringIO):
    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def write(self, text: str) -> int:
        raise OSError(self.number, os.strerror(self.number))


@pytest.mark.parametrize(
    ("number", "code", "line"),
    [
        (
            errno.ENOSPC,
            74,
            "wriftai-async: error: cannot write the results to stdout: "
            "No space left on device",
        ),
        (errno.EPIPE, 141, "wriftai-async: stopped: the reader of stdout went away"),
    ],
)
def test_a_failed_write_ends_with_one_line_and_its_code(
    run, monkeypatch, number, code, line
):
    monkeypatch.setattr(sys, "stdout", _Failing(number))
    got, _, err = run("models", "list", "alice", "bob", "-q")
    assert got == code
    assert err == line + "\n"


def test_a_closed_stdout_is_refused_before_any_request(run, emulator, monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    code, _, err = run("models", "update", "alice/text-echo", "--description", "x")
    assert code == 74
    assert one_line(err).startswith("wriftai-async: error: stdout is closed")
    assert emulator.requests == []  # the update did not happen unseen


def test_a_closed_stdin_for_from_file_is_a_usage_error(run, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    code, _, err = run("models", "list", "--from-file", "-")
    assert code == 2
    assert one_line(err) == "wriftai-async: error: --from-file -: stdin is closed"


def test_a_closed_stderr_does_not_stop_the_results(run, monkeypatch):
    monkeypatch.setattr(sys, "stderr", None)
    code, out, _ = run("models", "list", "alice", "nobody-here")
    assert code == 1  # nobody-here failed; alice's models still printed
    assert out.count("\n") == 3


def _process_env(emu):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env["WRIFTAI_ACCESS_TOKEN"] = emu.access_token
    env["WRIFTAI_API_BASE_URL"] = emu.base_url
    return env


def test_output_errors_of_a_real_process(emulator):
    """Buffered stdout, the interpreter's flush at exit: only a process shows."""
    command = f"{sys.executable} -W error -m wriftai_async"
    cases = {
        "full disk": (f"{command} models list alice bob > /dev/full", 74),
        "help to a full disk": (f"{command} --help > /dev/full", 74),
        "closed stdout": (f"{command} models get alice/text-echo >&-", 74),
        "closed stderr": (f"{command} models list alice nobody 2>&- > /dev/null", 1),
        "closed stdin": (f"{command} models list --from-file - <&-", 2),
    }
    started = {
        name: subprocess.Popen(
            ["bash", "-c", line],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_process_env(emulator),
        )
        for name, (line, _) in cases.items()
    }
    for name, process in started.items():
        _, err = process.communicate(timeout=60)
        expected = cases[name][1]
        assert process.returncode == expected, (name, process.returncode, err)
        assert "Traceback" not in err and "Exception ignored" not in err, (name, err)
        if name != "closed stderr":
            assert len(err.splitlines()) == 1, (name, err)
            assert err.startswith("wriftai-async: error: "), (name, err)


# -- progress ----------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_long_wait_shows_it_is_alive_before_anything_ends(run, emulator, monkeypatch):
    from wriftai_async._cli._console import Progress

    # Time-driven: lines come while no prediction has ended (every 30 ms here
    # instead of every second, to keep the test short; a second of waiting
    # leaves room for a loaded machine).
    monkeypatch.setattr(Progress, "_PLAIN_EVERY", 0.03)
    pid = new_prediction(emulator)  # runs until cancelled
    code, _, err = run(
        "predictions", "wait", pid, "--max-wait", "1", "--poll-interval", "0.05"
    )
    assert code == 1  # it did not end in time
    ticks = re.findall(
        r"^\[\d+\.\ds\] waiting: 0/1, 1 started, 0 failed, (\d+) requests?$",
        err,
        re.M,
    )
    assert len(ticks) >= 2, err
    assert int(ticks[-1]) > int(ticks[0])  # the requests going out are counted
    assert f"wriftai-async: error: {pid}: " in err


def test_a_wait_on_a_terminal_redraws_the_bar_while_nothing_ends(
    run, emulator, monkeypatch
):
    from wriftai_async._cli._console import Progress

    # Redrawn every 30 ms here (ten times a second for a person); a second
    # of waiting leaves room for a loaded machine to draw it twice or more.
    monkeypatch.setattr(Progress, "_BAR_EVERY", 0.03)
    screen = _Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    pid = new_prediction(emulator)  # runs until cancelled
    code, out, _ = run(
        "predictions", "wait", pid, "--max-wait", "1", "--poll-interval", "0.05"
    )
    assert code == 1 and out == ""
    text = screen.getvalue()
    bars = re.findall(r"\rwaiting \[\.{30}\] 0/1, 1 started, 0 failed, (\d+) req", text)
    assert len(bars) >= 2 and int(bars[-1]) > int(bars[0]), text
    # The bar is wiped (not left half-drawn) before the error line.
    assert f"\x1b[K\r\x1b[Kwriftai-async: error: {pid}: " in text, text


async def test_an_error_line_wipes_the_bar_instead_of_leaving_it():
    from wriftai_async._cli._console import Progress, say

    screen = _Terminal()
    async with Progress("waiting", 4, stream=screen) as progress:
        progress(1)
        monkeypatched = sys.stderr
        try:
            sys.stderr = screen
            say("wriftai-async: error: p-1: 404")
        finally:
            sys.stderr = monkeypatched
    text = screen.getvalue()
    # The half-drawn bar is wiped, not ended with a newline above the error.
    assert "1/4\x1b[K\r\x1b[Kwriftai-async: error: p-1: 404\n" in text
    assert Progress._open is None


async def test_an_exception_leaves_no_bar_on_the_screen():
    from wriftai_async._cli._console import Progress

    screen = _Terminal()
    with pytest.raises(RuntimeError):
        async with Progress("listing", 4, stream=screen) as progress:
            progress(1)
            raise RuntimeError("boom")
    assert screen.getvalue().endswith("\r\x1b[K")
