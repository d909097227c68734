"""``python -m wriftai_async.testing`` / ``wriftai-async emulator``, as processes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._emulator_process import STOP_TIMEOUT, Served, served
from wriftai_async import Client

COMMANDS = {
    "module": (sys.executable, "-m", "wriftai_async.testing"),
    "cli": (sys.executable, "-m", "wriftai_async", "emulator"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_serves_a_client_and_stops_cleanly_on_sigint(command: str) -> None:
    with served(command=COMMANDS[command]) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.token == "test-token"
        with Client(server.token, server.base_url) as client:
            assert client.user.get().username == "alice"
            assert client.models.get("alice/text-echo").name == "text-echo"
        assert server.stop() == 0
        assert server.process.stderr is not None
        assert "Traceback" not in server.process.stderr.read()


def test_env_variables_as_printed_reach_the_emulator() -> None:
    with served("--dialect", "old", "--token", "t0k", "--no-seed") as server:
        env = {
            **os.environ,
            "WRIFTAI_API_BASE_URL": server.base_url,
            "WRIFTAI_ACCESS_TOKEN": server.token,
        }
        script = (
            "from wriftai_async import Client\n"
            "with Client() as c:\n"
            "    print(c.user.get().username, c.hardware.list_page().items)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "alice []"  # --no-seed: nothing but the user
        # --dialect old: the older shapes, raw.
        request = urllib.request.Request(
            server.base_url + "/user", headers={"Authorization": "Bearer t0k"}
        )
        with urllib.request.urlopen(request, timeout=STOP_TIMEOUT) as answer:
            assert b'"username"' in answer.read()
        assert server.stop() == 0


def test_bad_arguments_and_a_taken_port() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "wriftai_async.testing", "--port", "70000"],
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert bad.returncode == 2 and "0..65535" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [sys.executable, "-m", "wriftai_async.testing", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT,
        )
    # A usage error, named like the command's other messages (once a bare
    # "error: ...", then exit status 1 with the OS's errno text).
    assert busy.returncode == 2
    assert busy.stderr.startswith("python -m wriftai_async.testing: error: ")
    # "" once served, printing `export WRIFTAI_ACCESS_TOKEN=`: every
    # client then sends no token and gets a 401.
    empty = subprocess.run(
        [sys.executable, "-m", "wriftai_async.testing", "--token", ""],
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert empty.returncode == 2 and "error: --token: " in empty.stderr


def runner(*args: str, command: str = "module") -> subprocess.CompletedProcess[str]:
    """The runner as a subprocess, on a free port unless ``args`` name one."""
    port = () if "--port" in args else ("--port", "0")
    return subprocess.run(
        [*COMMANDS[command], *port, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )


def usage_error(result: subprocess.CompletedProcess[str], command: str) -> str:
    """The one line of a usage error (exit status 2, nothing served)."""
    prog = {
        "module": "python -m wriftai_async.testing",
        "cli": "wriftai-async emulator",
    }
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""  # no banner: nothing was served
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # no argparse usage block
    assert lines[0].startswith(f"{prog[command]}: error: ")
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("host", ["", "  ", "127.0.0.1\n"])
def test_a_blank_host_is_refused(host: str, command: str) -> None:
    # "" bound every interface: the emulator and its well-known token on
    # the network, from an unset variable in `--host "$HOST"`.
    line = usage_error(runner("--host", host, command=command), command)
    assert line.startswith(f"{line.partition(':')[0]}: error: --host: ")
    assert "not a host" in line


@pytest.mark.parametrize("username", ["", " ", "a/b", "bob\r"])
def test_a_blank_username_is_refused(username: str) -> None:
    line = usage_error(runner("--username", username), "module")
    assert "error: --username: " in line and "not a username" in line
    assert "\r" not in line  # shown escaped, on one line


@pytest.mark.parametrize("command", COMMANDS)
def test_a_port_in_use_names_it(command: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner("--port", str(port), command=command)
    line = usage_error(result, command)
    assert f"127.0.0.1:{port} is already in use" in line


@pytest.mark.parametrize(
    "args",
    [
        ("--user", "bob"),  # once taken as --username bob
        ("--tok", "t0k"),  # once --token
        ("--cert", "x.pem", "--key", "x.key"),  # once --certfile/--keyfile
    ],
)
def test_abbreviated_options_are_refused(args: tuple[str, ...]) -> None:
    line = usage_error(runner(*args), "module")
    assert f"unrecognized arguments: {args[0]}" in line


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e400"])
def test_seconds_must_be_finite(value: str) -> None:
    line = usage_error(runner("--cancel-delay", value), "module")
    assert "--cancel-delay: seconds must be a finite number >= 0" in line


def test_a_full_disk_is_not_reported_as_a_port_problem() -> None:
    # The banner is the emulator's first write: an OSError there once read
    # "cannot serve on 127.0.0.1:0: No space left on device".
    line = f"{sys.executable} -m wriftai_async.testing --port 0 > /dev/full"
    full = subprocess.run(
        ["bash", "-c", line],
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert full.returncode == 74, full.stderr
    assert "testing: error: cannot write to standard output" in full.stderr
    assert "cannot serve" not in full.stderr and "Traceback" not in full.stderr


README = Path(__file__).resolve().parent.parent / "README.md"
ENV_EXAMPLES = [
    block
    for block in re.findall(r"```python\n(.*?)```", README.read_text("utf-8"), re.S)
    if "Emulator(" not in block  # the ones that read the environment variables
]


def test_readme_has_env_variable_examples() -> None:
    assert len(ENV_EXAMPLES) >= 4


@pytest.fixture(scope="module")
def one_server() -> Iterator[Served]:
    # One server for all the examples, in README order (as a reader would
    # run them one after the other against the same emulator).
    with served() as server:
        yield server
        assert server.stop() == 0


@pytest.mark.parametrize("index", range(len(ENV_EXAMPLES)))
def test_readme_example_runs_against_the_standalone_emulator(
    index: int, one_server: Served
) -> None:
    # As the README says: start it, export the two variables it prints, run.
    env = {
        **os.environ,
        "WRIFTAI_API_BASE_URL": one_server.base_url,
        "WRIFTAI_ACCESS_TOKEN": one_server.token,
    }
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", ENV_EXAMPLES[index]],
        env=env,
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
