"""The README's "In web servers" recipes, run in real server processes.

Each recipe is taken from the README as written (its ``python file=NAME``
blocks), started as a server on 127.0.0.1 (aiohttp.web, uvicorn, gunicorn)
against the emulator of this process, sent a few requests, then stopped as
its supervisor would (SIGTERM): it must answer, then exit cleanly, without a
warning (``-W always::ResourceWarning``), a traceback or an unclosed session.
Also here: the emulator restarts on the same port, and a cancelled call is
logged once at DEBUG.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from wriftai_async import AsyncClient, RetryPolicy
from wriftai_async.testing import Emulator

README = Path(__file__).resolve().parent.parent / "README.md"
RECIPES = dict(
    re.findall(
        r"```python file=(\S+)\n(.*?)```", README.read_text(encoding="utf-8"), re.S
    )
)
POSIX = pytest.mark.skipif(os.name != "posix", reason="servers stopped by SIGTERM")
BAD = ("Traceback", "Exception ignored", "ResourceWarning", "Unclosed", "Error")
EXPECTED = {"name": "text-echo", "predictions": 42}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator().run_in_thread() as emulator:
        yield emulator


class Server:
    """A server process whose output goes to a file (a pipe could fill up)."""

    def __init__(self, args: list[str], cwd: Path, emu: Emulator, **env: str) -> None:
        self.log = cwd / "server.log"
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
        environ.update(
            WRIFTAI_ACCESS_TOKEN=emu.access_token,
            WRIFTAI_API_BASE_URL=emu.base_url,
            **env,
        )
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-W", "always::ResourceWarning", *args],
                cwd=cwd,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, times: int = 1) -> re.Match[str]:
        """The first match of ``pattern``, once it appears ``times`` times."""
        deadline = time.monotonic() + 20
        while len(found := re.findall(pattern, self.output())) < times:
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"no {pattern!r}:\n{self.output()}"
            time.sleep(0.05)
        match = re.search(pattern, self.output())
        assert match is not None and found
        return match

    def port(self, pattern: str) -> int:
        return int(self.wait_for(pattern).group(1))

    def stop(self) -> str:
        """SIGTERM, as a supervisor stops a server; the whole output."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        output = self.output()
        # uvicorn re-raises the signal once it has shut down gracefully.
        assert code in (0, -signal.SIGTERM), output
        for bad in BAD:
            assert bad not in output, output
        return output

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _write_recipes(path: Path, *names: str) -> None:
    for name in names:
        (path / name).write_text(RECIPES[name], encoding="utf-8")


def _get(port: int, path: str = "/models/alice/text-echo") -> object:
    url = f"http://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, timeout=15) as answer:
        assert answer.status == 200
        return json.loads(answer.read())


def _get_many(port: int, n: int = 12) -> list[object]:
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        return list(pool.map(lambda _: _get(port), range(n)))


def _hang_up_during_a_held_call(emu: Emulator, port: int) -> None:
    """Send a request whose WriftAI call the emulator holds, then hang up."""
    before = len(emu.requests)
    emu.inject_delay(0.5, method="GET", path="/models/alice/text-echo")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /models/alice/text-echo HTTP/1.1\r\nHost: localhost\r\n\r\n")
        deadline = time.monotonic() + 10
        while not any(r.fault == "delay" for r in emu.requests[before:]):
            assert time.monotonic() < deadline, "the app never called the API"
            time.sleep(0.01)


def test_the_readme_has_every_recipe() -> None:
    assert set(RECIPES) == {
        "aiohttp_app.py",
        "fastapi_app.py",
        "flask_app.py",
        "gunicorn.conf.py",
    }


@POSIX
def test_aiohttp_web_recipe(emu: Emulator, tmp_path: Path) -> None:
    _write_recipes(tmp_path, "aiohttp_app.py")
    server = Server(["aiohttp_app.py"], tmp_path, emu, PORT="0", WRIFTAI_LOG="debug")
    try:
        port = server.port(r"Running on http://127\.0\.0\.1:(\d+)")
        assert _get_many(port) == [EXPECTED] * 12
        # handler_cancellation=True: the handler, and its API call, are
        # cancelled when the user hangs up; one DEBUG line says so.
        _hang_up_during_a_held_call(emu, port)
        server.wait_for(r"GET /v1/models/alice/text-echo cancelled \(attempt 1")
        output = server.stop()
    finally:
        server.kill()
    assert output.count(" cancelled (attempt") == 1
    assert "CancelledError" not in output


@POSIX
def test_fastapi_lifespan_recipe_under_uvicorn(emu: Emulator, tmp_path: Path) -> None:
    _write_recipes(tmp_path, "fastapi_app.py")
    server = Server(
        ["-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", "0"],
        tmp_path,
        emu,
        WRIFTAI_LOG="info",
    )
    try:
        port = server.port(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")
        assert _get_many(port) == [EXPECTED] * 12
        # uvicorn never cancels a handler: the held call runs to its end
        # after the user has gone (as the README says).
        answer = "GET /v1/models/alice/text-echo -> 200"
        answered = server.output().count(answer)
        _hang_up_during_a_held_call(emu, port)
        server.wait_for(re.escape(answer), times=answered + 1)
        output = server.stop()
    finally:
        server.kill()
    assert "Application shutdown complete" in output
    assert " cancelled (attempt" not in output


@POSIX
@pytest.mark.parametrize(
    "options",
    [["-c", "gunicorn.conf.py"], ["--preload"]],
    ids=["with-worker_exit", "preload-closed-at-exit"],
)
def test_flask_recipe_under_gunicorn(
    emu: Emulator, tmp_path: Path, options: list[str]
) -> None:
    # --preload: the app's client makes a call in the master, which then
    # forks the workers (every request in every worker used to fail). Run
    # without the config, the workers' clients are closed at their exit,
    # quietly (each worker exit used to warn "unclosed Client").
    _write_recipes(tmp_path, "flask_app.py", "gunicorn.conf.py")
    server = Server(
        [
            "-m",
            "gunicorn",
            *options,
            "--bind",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--no-control-socket",
            "flask_app:app",
        ],
        tmp_path,
        emu,
    )
    try:
        port = server.port(r"Listening at: http://127\.0\.0\.1:(\d+)")
        assert _get_many(port, 16) == [EXPECTED] * 16
        server.wait_for(r"Booting worker with pid: \d+", times=2)
        output = server.stop()
    finally:
        server.kill()
    assert output.count("Worker exiting") == 2
    # The categories were read once per import: in the master with --preload.
    reads = sum(r.path == "/model_categories" for r in emu.requests)
    assert reads == (1 if "--preload" in options else 2)


# -- the emulator and the logs ------------------------------------------------


def test_the_emulator_restarts_at_once_on_the_same_port() -> None:
    # Connections the emulator closed (keep-alive ones, at shutdown) sit in
    # TIME_WAIT on its port for a minute: without SO_REUSEADDR the next bind
    # on that port failed with "Address already in use".
    runner = Emulator().run_in_thread()
    try:
        port = int(runner.start().base_url.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /v1/hardware HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            head, body = answer.split(b"\r\n\r\n", 1)
            length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
            while len(body) < length:
                body += sock.recv(65536)
            # Still open (keep-alive): the emulator closes it first, at its
            # shutdown, so the TIME_WAIT is on the emulator's side.
            runner.stop()
            assert sock.recv(100) == b""
    finally:
        runner.stop()
    with Emulator(port=port).run_in_thread() as second:
        assert second.base_url == f"http://127.0.0.1:{port}/v1"


async def test_a_cancelled_call_is_logged_once_at_debug_not_as_a_failure(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.inject_delay(5.0, method="GET", path="/models/alice/text-echo")
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    retry = RetryPolicy(backoff_base=0.001, backoff_max=0.01)
    async with AsyncClient(emu.access_token, emu.base_url, retry=retry) as client:
        call = asyncio.ensure_future(client.models.get("alice/text-echo"))
        for _ in range(1000):  # at most ~10 s for the request to arrive
            if any(r.fault == "delay" for r in emu.requests):
                break
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    cancelled = [line for line in lines if " cancelled " in line[1]]
    assert len(cancelled) == 1, lines
    assert cancelled[0][0] == "DEBUG"
    assert re.fullmatch(
        r"GET /v1/models/alice/text-echo cancelled \(attempt 1, \d+\.\d{3}s\)",
        cancelled[0][1],
    )
    assert not [line for line in lines if "failed" in line[1]], lines
