"""The ``wriftai-async`` command, run as a subprocess against the emulator.

Every test reads stdout as JSON Lines (each line a whole JSON object), checks
the exit code (0 ok, 1 some failed, 2 usage, 130 interrupted) and what went
to stderr, which is not a terminal here: progress is plain periodic lines.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import new_prediction
from wriftai_async._cli import main
from wriftai_async._cli._console import Output, Progress

_PROGRESS = re.compile(r"^\[(\d+\.\d)s\] (\w+): (\d+)/(\d+)")


def _env(emu, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env["WRIFTAI_ACCESS_TOKEN"] = emu.access_token
    env["WRIFTAI_API_BASE_URL"] = emu.base_url
    env.update(extra)
    return env


def _command(*args):
    return [sys.executable, "-W", "error", "-m", "wriftai_async", *args]


def cli(emu, *args, stdin=None, env=None, timeout=60):
    return subprocess.run(
        _command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or _env(emu),
        check=False,
    )


def json_lines(stdout):
    """Each line of stdout as JSON; a half-written last line fails here."""
    assert stdout == "" or stdout.endswith("\n"), stdout[-200:]
    return [json.loads(line) for line in stdout.splitlines()]


def progress_lines(stderr, label):
    return [
        m
        for line in stderr.splitlines()
        if (m := _PROGRESS.match(line)) and m[2] == label
    ]


def clean(stderr):
    assert "Traceback" not in stderr, stderr
    assert "Unclosed" not in stderr, stderr


# -- models list ---------------------------------------------------------------


def test_models_list_prints_every_model_and_reports_a_failed_owner(emulator):
    owners = emulator.add_many_users(4, prefix="lister", models_per_user=25)
    result = cli(emulator, "models", "list", *owners, "nobody-here")
    assert result.returncode == 1, result.stderr
    models = json_lines(result.stdout)
    # 25 models need two pages of the default 20: both pages are in.
    assert sorted(m["owner"]["username"] + "/" + m["name"] for m in models) == sorted(
        f"{o}/model-{i:04d}" for o in owners for i in range(25)
    )
    assert all(
        set(m) >= {"id", "name", "visibility", "predictions_count"} for m in models
    )
    assert "error: nobody-here: 404" in result.stderr
    assert re.search(
        r"listed 100 models of 5 owners \(1 failed\) with 9 requests for 8 pages",
        result.stderr,
    ), result.stderr
    lines = progress_lines(result.stderr, "listing")
    assert lines and all(int(m[4]) == 5 for m in lines)
    clean(result.stderr)


def test_models_list_reads_owners_from_stdin_in_order_once(emulator):
    emulator.add_many_users(2, prefix="fromfile", models_per_user=3)
    stdin = "# owners of the nightly job\nfromfile-0000\n\nfromfile-0001  # b\n"
    result = cli(
        emulator,
        "models",
        "list",
        "fromfile-0000",
        "--from-file",
        "-",
        "--quiet",
        stdin=stdin,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress, no summary
    models = json_lines(result.stdout)
    assert len(models) == 6
    listings = [r.path for r in emulator.requests if r.path.startswith("/models/")]
    assert sorted(listings) == ["/models/fromfile-0000", "/models/fromfile-0001"]


def test_models_list_passes_sort_and_page_size(emulator):
    emulator.add_many_models("sorter", 5)
    result = cli(
        emulator,
        "models",
        "list",
        "sorter",
        "--sort-by",
        "predictions_count",
        "--sort-direction",
        "desc",
        "--page-size",
        "2",
    )
    assert result.returncode == 0, result.stderr
    counts = [m["predictions_count"] for m in json_lines(result.stdout)]
    assert counts == sorted(counts, reverse=True) and len(counts) >= 2
    query = next(r.query for r in emulator.requests if r.path == "/models/sorter")
    assert query["sort_by"] == "predictions_count" and query["page_size"] == "2"


def test_models_list_as_a_table(emulator):
    result = cli(emulator, "models", "list", "alice", "--format", "table", "-q")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == [
        "MODEL",
        "VISIBILITY",
        "PREDICTIONS",
        "UPDATED",
        "DESCRIPTION",
    ]
    assert rows and all(row.startswith("alice/") for row in rows)


@pytest.mark.parametrize(
    "args",
    [
        ["models", "list"],
        ["models", "list", "alice", "--concurrency", "0"],
        ["models", "list", "alice", "--sort-by", "nonsense"],
        ["models", "list", "alice", "--from-file", "/nonexistent/owners.txt"],
        ["models", "get", "not-a-model-id"],
        ["models", "update", "alice/text-echo"],
        [
            "models",
            "update",
            "alice/text-echo",
            "--description",
            "x",
            "--clear",
            "description",
        ],
        ["predictions", "wait", "abc", "--poll-interval", "0"],
        ["predictions", "cancel"],
        ["models", "frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(emulator, args, monkeypatch, capsys):
    # In process (a subprocess each would only add start-up time): the exit
    # code is what main() returns or what argparse exits with.
    for name, value in _env(emulator).items():
        monkeypatch.setenv(name, value)
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert out == ""
    assert "error" in err
    assert emulator.requests == []  # refused before anything was sent


def test_a_usage_error_as_a_subprocess(emulator):
    result = cli(emulator, "models", "list", "alice", "--concurrency", "0")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(
        "wriftai-async: error: --concurrency: must be a whole number >= 1, not '0'"
    )
    clean(result.stderr)


def test_progress_off_a_terminal_is_a_plain_line_at_most_once_a_second(emulator):
    owners = emulator.add_many_users(24, prefix="slow", models_per_user=1)
    # 24 owners one at a time, each answer held 60 ms: at least 1.4 s in all.
    emulator.inject_delay(0.06, times=None, method="GET", path="/models/slow-*")
    result = cli(emulator, "models", "list", *owners, "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    assert len(json_lines(result.stdout)) == 24
    lines = progress_lines(result.stderr, "listing")
    assert len(lines) >= 2, result.stderr
    assert "\r" not in result.stderr and "\x1b" not in result.stderr  # no bar
    stamps = [float(m[1]) for m in lines]
    # The stamps are truncated to 0.1 s: a gap of 1 s shows as at least 0.9.
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(stamps)), stamps
    done = [int(m[3]) for m in lines]
    assert done == sorted(done)


def test_ctrl_c_mid_listing_exits_130_with_whole_lines(emulator):
    owners = emulator.add_many_users(40, prefix="intr", models_per_user=3)
    emulator.inject_delay(0.2, times=None, method="GET", path="/models/intr-*")
    process = subprocess.Popen(
        _command("models", "list", *owners, "--concurrency", "2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(emulator),
    )
    try:
        first = process.stdout.readline()  # the listing is under way
        assert first.endswith("\n"), first
        process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    models = json_lines(first + rest)
    assert 1 <= len(models) < 120  # stopped part way, every line whole
    assert "interrupted" in stderr
    clean(stderr)
    # Nothing was sent after the interrupt had been handled.
    arrived = len([r for r in emulator.requests if r.path.startswith("/models/intr")])
    assert arrived < len(owners)


# -- models get / update --------------------------------------------------------


def test_models_get_prints_the_model(emulator):
    result = cli(emulator, "models", "get", "alice/text-echo")
    assert result.returncode == 0, result.stderr
    (model,) = json_lines(result.stdout)
    expected = emulator.get_model("alice", "text-echo")
    assert model["name"] == "text-echo" and model["overview"] == expected["overview"]
    assert result.stderr == ""


def test_models_get_of_a_missing_model_fails_with_1(emulator):
    result = cli(emulator, "models", "get", "alice/not-there")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "404" in result.stderr and "not-there" in result.stderr
    clean(result.stderr)


def test_models_update_sends_only_the_given_fields_and_nulls(emulator):
    before = emulator.get_model("alice", "text-echo")
    result = cli(
        emulator,
        "models",
        "update",
        "alice/text-echo",
        "--description",
        "Nightly build",
        "--clear",
        "license_url",
    )
    assert result.returncode == 0, result.stderr
    (model,) = json_lines(result.stdout)
    patch = [r for r in emulator.requests if r.method == "PATCH"]
    assert [r.json for r in patch] == [
        {"description": "Nightly build", "license_url": None}
    ]
    assert model["description"] == "Nightly build"
    assert model["license_url"] is None
    assert model["source_url"] == before["source_url"]  # untouched, unchanged
    assert model["visibility"] == before["visibility"]


# -- predictions ---------------------------------------------------------------


def test_predictions_get(emulator):
    pid = new_prediction(emulator)
    result = cli(emulator, "predictions", "get", pid)
    assert result.returncode == 0, result.stderr
    (prediction,) = json_lines(result.stdout)
    assert prediction["id"] == pid and prediction["status"] == "started"


def test_predictions_cancel_requests_and_reports_an_ended_one(emulator):
    running = [new_prediction(emulator) for _ in range(3)]
    ended = new_prediction(emulator, status="succeeded")
    result = cli(emulator, "predictions", "cancel", *running, ended)
    assert result.returncode == 1, result.stderr
    lines = json_lines(result.stdout)
    assert sorted(line["id"] for line in lines) == sorted(running)
    assert all(line["cancel"] == "requested" for line in lines)
    assert f"error: {ended}:" in result.stderr
    assert "cancel requested for 3 of 4 predictions (1 failed)" in result.stderr
    assert progress_lines(result.stderr, "cancelling")
    clean(result.stderr)


def test_predictions_cancel_wait_prints_each_as_it_ends(emulator):
    running = [new_prediction(emulator) for _ in range(3)]
    ended = new_prediction(emulator, status="succeeded")
    result = cli(
        emulator,
        "predictions",
        "cancel",
        *running,
        ended,
        "--wait",
        "--poll-interval",
        "0.05",
        "--timeout",
        "30",
    )
    assert result.returncode == 0, result.stderr
    final = {p["id"]: p["status"] for p in json_lines(result.stdout)}
    assert final == {**dict.fromkeys(running, "cancelled"), ended: "succeeded"}
    assert "1 had already ended" in result.stderr
    assert progress_lines(result.stderr, "waiting")


def test_predictions_wait_reports_a_timeout_and_a_missing_id(emulator):
    quick = new_prediction(emulator, finish_after=0.1)
    forever = new_prediction(emulator)  # runs until cancelled
    result = cli(
        emulator,
        "predictions",
        "wait",
        quick,
        forever,
        "no-such-prediction",
        "--poll-interval",
        "0.05",
        "--timeout",
        "0.5",
        "--format",
        "table",
    )
    assert result.returncode == 1
    header, *rows = result.stdout.splitlines()
    assert header.split()[:2] == ["ID", "STATUS"]
    assert [row.split()[:2] for row in rows] == [[quick, "succeeded"]]
    assert f"error: {forever}:" in result.stderr
    assert "error: no-such-prediction: 404" in result.stderr
    assert progress_lines(result.stderr, "waiting")
    clean(result.stderr)


def test_predictions_wait_ids_from_a_file(emulator, tmp_path):
    ids = [new_prediction(emulator, finish_after=0.05) for _ in range(2)]
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n", encoding="utf-8")
    result = cli(
        emulator,
        "predictions",
        "wait",
        "--from-file",
        str(path),
        "--poll-interval",
        "0.05",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p["id"] for p in json_lines(result.stdout)) == sorted(ids)


# -- options and other commands -----------------------------------------------


def test_token_and_base_url_options_win_over_the_environment(emulator):
    env = _env(
        emulator,
        WRIFTAI_ACCESS_TOKEN="wrong",
        WRIFTAI_API_BASE_URL="http://127.0.0.1:9/v1",
    )
    result = cli(
        emulator,
        "models",
        "get",
        "alice/text-echo",
        "--token",
        emulator.access_token,
        "--base-url",
        emulator.base_url,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    seen = [r.headers.get("Authorization") for r in emulator.requests]
    assert seen == [f"Bearer {emulator.access_token}"]


def test_a_connection_failure_is_exit_1_without_a_traceback(emulator):
    env = _env(emulator, WRIFTAI_API_BASE_URL="http://127.0.0.1:9/v1")
    result = cli(
        emulator, "models", "get", "alice/text-echo", "--max-retries", "0", env=env
    )
    assert result.returncode == 1
    assert "error:" in result.stderr
    clean(result.stderr)


def test_the_emulator_command_hands_its_arguments_on(emulator):
    result = cli(emulator, "emulator", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: wriftai-async emulator")
    assert "--port" in result.stdout and "--dialect" in result.stdout


def test_demo_shows_counts_before_and_after_and_no_dead_url():
    result = subprocess.run(
        _command("demo", "--users", "12", "--models-per-user", "25"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")},
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # 25 models are two pages each: 24 pages, and no retries here.
    assert "listed 300 models of 12 users" in out
    assert "24 requests for 24 pages" in out
    assert re.search(r"description: '.+' -> 'Updated by the wriftai-async demo'", out)
    assert "visibility:  'public' -> 'public' (untouched, so unchanged)" in out
    assert "http://" not in out  # the emulator's URL dies with the demo
    assert out.rstrip().splitlines()[-1].startswith("next: ")
    assert progress_lines(result.stderr, "listing")  # progress off a terminal
    clean(result.stderr)


def test_a_reader_that_goes_away_stops_the_listing_quietly(emulator):
    # More output than a pipe holds, so the writer meets the closed pipe.
    owners = emulator.add_many_users(10, prefix="piped", models_per_user=40)
    process = subprocess.Popen(
        _command("models", "list", *owners, "--concurrency", "2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(emulator),
    )
    try:
        json.loads(process.stdout.readline())  # like `| head -n 1`
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert process.returncode == 141, stderr  # 128 + SIGPIPE, as shells say
    clean(stderr)
    assert "BrokenPipeError" not in stderr


class _Terminal(io.StringIO):
    def isatty(self):
        return True


async def test_progress_on_a_terminal_is_one_redrawn_bar():
    screen = _Terminal()
    async with Progress("listing", 4, stream=screen, detail=lambda: "7 models") as p:
        p(1)
        p(2)  # within a tenth of a second: not redrawn
        p(4)
    # The end is always drawn, and ends the line.
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "[" + "#" * 30 + "] 4/4, 7 models" in text
    quiet = _Terminal()
    async with Progress("listing", 4, stream=quiet, quiet=True) as p:
        p(4)
    assert quiet.getvalue() == ""


async def test_a_result_on_the_same_terminal_wipes_the_bar_first():
    screen, out = _Terminal(), _Terminal()
    async with Progress("listing", 4, stream=screen) as progress:
        progress(1)
        Output("json", stream=out).write({"id": "x"})
        assert screen.getvalue().endswith("\r\x1b[K")  # wiped before the line
        assert out.getvalue() == '{"id":"x"}\n'
        progress(2)  # and drawn again at once
        assert screen.getvalue().endswith("2/4\x1b[K")


def test_progress_is_a_bar_when_stderr_is_a_real_terminal(emulator, tmp_path):
    owners = emulator.add_many_users(3, prefix="tty", models_per_user=2)
    primary, secondary = pty.openpty()
    with open(tmp_path / "out", "wb") as out:
        process = subprocess.Popen(
            _command("models", "list", *owners),
            stdout=out,
            stderr=secondary,
            env=_env(emulator),
        )
    os.close(secondary)
    screen = b""
    try:
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal (EIO on Linux)
                break
            if not chunk:
                break
            screen += chunk
        process.wait(timeout=30)
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, screen
    text = screen.decode()
    assert "\rlisting [" + "#" * 30 + "] 3/3" in text
    assert not re.search(r"^\[\d+\.\ds\] listing", text, re.M)  # no plain lines
    assert len(json_lines((tmp_path / "out").read_text())) == 6


def test_text_from_the_network_cannot_drive_the_terminal(emulator):
    emulator.add_model("mallory", "m", description="fine\x1b]0;pwned\x07\x1b[2J")
    emulator.inject(404, body={"detail": "gone\x1b[31m red"}, path="/models/nobody")
    result = cli(emulator, "models", "list", "mallory", "nobody", "--format", "table")
    assert result.returncode == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\x1b" not in result.stderr
    assert "fine?]0;pwned??[2J" in result.stdout
    # The library's message already shows the escape escaped, as text.
    assert "gone\\x1b[31m red" in result.stderr
    # JSON Lines keep the text exactly (JSON escapes it).
    as_json = cli(emulator, "models", "list", "mallory", "-q")
    (model,) = json_lines(as_json.stdout)
    assert model["description"] == "fine\x1b]0;pwned\x07\x1b[2J"
    assert "\x1b" not in as_json.stdout


def test_the_installed_command_is_the_same_program(emulator):
    script = Path(sys.executable).with_name("wriftai-async")
    assert script.exists(), "the wriftai-async entry point is installed"
    result = subprocess.run(
        [str(script), "models", "get", "alice/text-echo", "--format", "table"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(emulator),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith("alice/text-echo ")
