"""The README's "Logs and traces" promises with no other test, and hostile set-ups.

The section's two runs (``WRIFTAI_LOG=debug python my_job.py`` and the
OpenTelemetry example) are run here as the README shows them, against an
emulator answering the first request with a 503, and their output compared
with the README's (timestamps, durations and the port aside). Then what a
user may get wrong: ``WRIFTAI_LOG`` set to nonsense, a log handler that
raises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aredis

from wriftai_async import AsyncClient, Client
from wriftai_async._logging import LOGGER_NAME
from wriftai_async._redis_limit import RedisLimiter
from wriftai_async.testing import Emulator, RedisServer

from .conftest import FAST_RETRY

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("\n## Logs and traces\n", 1)[1].split("\n## ", 1)[0]
SECRET = "sk-log-promise-0123456789"


def _block(kind: str, containing: str) -> str:
    blocks = re.findall(rf"```{kind}\n(.*?)```", SECTION, re.S)
    (found,) = [b for b in blocks if containing in b]
    return str(found)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
        cwd=ROOT,
    )


@pytest.fixture
def secret_emulator() -> Iterator[Emulator]:
    with Emulator(access_token=SECRET).run_in_thread() as emu:
        yield emu


# -- the section's two runs, as shown -------------------------------------------------

_STAMP = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
_SECONDS = re.compile(r"\b\d+\.\d{3}s\b")


def _shape(line: str) -> str:
    """A log line without what differs from run to run: the time, durations."""
    return _SECONDS.sub("<t>s", _STAMP.sub("[<stamp> ", line))


def test_my_job_logs_as_the_readme_shows(
    secret_emulator: Emulator, tmp_path: Path
) -> None:
    shown = _block("console", "WRIFTAI_LOG=debug python my_job.py").splitlines()
    assert shown[0] == "$ WRIFTAI_LOG=debug python my_job.py"
    script = tmp_path / "my_job.py"
    script.write_text(_block("python", "# my_job.py"), encoding="utf-8")
    # "an emulator that answers the first request with a 503 carrying a
    # request id"
    secret_emulator.inject(503, headers={"x-request-id": "req-7f3a"}, times=1)
    env = _env(
        WRIFTAI_LOG="debug",
        WRIFTAI_ACCESS_TOKEN=SECRET,
        WRIFTAI_API_BASE_URL=secret_emulator.base_url,
    )
    done = _run([str(script)], env)
    assert done.returncode == 0, done.stderr
    logged = [_shape(line) for line in done.stderr.splitlines()]
    assert logged == [_shape(line) for line in shown[1:-1]], done.stderr
    assert done.stdout.splitlines() == shown[-1:]
    assert SECRET not in done.stderr + done.stdout


def test_the_tracing_example_prints_what_the_readme_shows(
    secret_emulator: Emulator, tmp_path: Path
) -> None:
    shown = _block("text", "opentelemetry.instrumentation.aiohttp_client")
    script = tmp_path / "traced.py"
    script.write_text(_block("python", "AioHttpClientInstrumentor"), encoding="utf-8")
    secret_emulator.inject(503, times=1)  # "answers the first request with a 503"
    env = _env(
        WRIFTAI_ACCESS_TOKEN=SECRET, WRIFTAI_API_BASE_URL=secret_emulator.base_url
    )
    done = _run([str(script)], env)
    assert done.returncode == 0, done.stderr
    port = secret_emulator.base_url.split(":")[2].split("/")[0]
    assert done.stdout == shown.replace("41423", port)
    assert SECRET not in done.stdout + done.stderr


# -- what a line holds ---------------------------------------------------------------


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER_NAME]


async def test_a_cancelled_call_is_one_debug_line_not_a_failure(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # "A cancelled call (its task cancelled, a web client gone) is not a
    # failure: one DEBUG line, GET /v1/models/alice/text-echo cancelled
    # (attempt 1, 0.120s)."
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    emulator.inject_delay(30, path="/models/alice/text-echo")
    async with AsyncClient(emulator.access_token, emulator.base_url) as client:
        call = asyncio.create_task(client.models.get("alice/text-echo"))
        for _ in range(1000):  # until the request is at the server
            if emulator.requests:
                break
            await asyncio.sleep(0.01)
        assert emulator.requests
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    records = _records(caplog)
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]
    sent, cancelled = (r.getMessage() for r in records)
    assert sent == "sending GET /v1/models/alice/text-echo (attempt 1)"
    assert re.fullmatch(
        r"GET /v1/models/alice/text-echo cancelled \(attempt 1, \d+\.\d{3}s\)",
        cancelled,
    ), cancelled


def test_a_line_holds_no_header_but_the_request_id(
    secret_emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    # "Never a header other than the request id, never a body, never the token."
    caplog.set_level(logging.DEBUG, LOGGER_NAME)
    secret_emulator.inject(
        503,
        headers={"x-request-id": "req-1", "x-other": "other-value-42"},
        body={"detail": "body-text-42"},
        path="/user",
    )
    with Client(
        SECRET, secret_emulator.base_url, retry=FAST_RETRY, headers={"x-mine": "m-42"}
    ) as client:
        client.user.get()
    text = "\n".join(r.getMessage() for r in _records(caplog))
    assert "request id req-1" in text
    for never in ("other-value-42", "body-text-42", "m-42", SECRET, "Bearer"):
        assert never not in text


# -- WRIFTAI_LOG set to nonsense: one warning ----------------------------------------


@pytest.mark.parametrize("value", ["verbose", "DEBUGG", "2"])
def test_nonsense_in_wriftai_log_is_said_once(value: str) -> None:
    program = (
        "import wriftai_async, wriftai_async._logging as l; "
        "l.setup_from_env(); print('imported')"
    )
    done = _run(["-c", program], _env(WRIFTAI_LOG=value))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "imported\n"
    # Once at import (the call again says it again: it reads the variable again).
    lines = done.stderr.splitlines()
    said = (
        f"WRIFTAI_LOG={value!r} is not debug or info; the library's log lines stay off"
    )
    assert lines == [said, said], done.stderr


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_wriftai_log_is_as_unset(value: str) -> None:
    done = _run(["-c", "import wriftai_async"], _env(WRIFTAI_LOG=value))
    assert done.returncode == 0 and done.stderr == "", done.stderr


# -- a log handler that raises ---------------------------------------------------------


class _Raising(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        raise RuntimeError("the log shipper is down")


@pytest.fixture
def raising_handler(request: pytest.FixtureRequest) -> Iterator[_Raising]:
    """A handler that raises on the library's logger (or, indirectly
    parametrized, on the one named)."""
    import wriftai_async._logging as logs

    handler = _Raising()
    logger = logging.getLogger(getattr(request, "param", LOGGER_NAME))
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logs._handler_failed = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
        logs._handler_failed = False


def test_a_raising_log_handler_fails_no_call(
    emulator: Emulator, raising_handler: _Raising, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.inject(503, times=1, path="/user")
    with Client(emulator.access_token, emulator.base_url, retry=FAST_RETRY) as client:
        assert client.user.get().username == "alice"
        assert client.user.get().username == "alice"
    assert raising_handler.calls >= 6  # every line was offered to it
    err = capsys.readouterr().err
    # Said once, not once per line.
    assert err.count("a logging handler raised RuntimeError") == 1, err
    assert "the log shipper is down" in err


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_a_handler_stopping_the_program_is_not_swallowed(
    raising_handler: _Raising,
    stop: type[BaseException],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Ctrl-C (or ``sys.exit``) that lands in a handler stops the program,
    as it would from logging's own handlers; only an ``Exception`` is
    dropped."""
    from wriftai_async._logging import log_safely

    def emit(record: logging.LogRecord) -> None:
        raise stop()

    monkeypatch.setattr(raising_handler, "emit", emit)
    with pytest.raises(stop):
        log_safely(logging.getLogger(LOGGER_NAME), logging.INFO, "a line")
    assert "a logging handler raised" not in capsys.readouterr().err


@pytest.mark.parametrize("raising_handler", ["wriftai_async.rate_limit"], indirect=True)
async def test_a_raising_log_handler_cannot_stall_the_store_fallback(
    raising_handler: _Raising, capsys: pytest.CaptureFixture[str]
) -> None:
    # The store's "failed" warning is written from the task handing out
    # slots when a round trip for slots fails (here: a key of the wrong type
    # where the schedule lives, a script error); raised there, it ended that
    # task and left every waiting call to its deadline.
    with RedisServer() as server:
        plain = aredis.Redis.from_url(server.url)
        async with Emulator() as emu:
            client = AsyncClient(
                emu.access_token,
                emu.base_url,
                rate_limit=200,
                rate_limit_store=server.url,
                timeout=10,  # far past what the fallback takes
            )
            async with client:
                await client.user.get()  # online: listening, a slot taken
                limiter = client.session.rate_limit
                assert isinstance(limiter, RedisLimiter) and limiter.online
                await plain.delete(limiter._keys[0])
                await plain.lpush(limiter._keys[0], "x")
                users = await asyncio.gather(*(client.user.get() for _ in range(5)))
                assert not limiter.online
        await plain.aclose()
    assert [u.username for u in users] == ["alice"] * 5
    assert raising_handler.calls == 1  # the store's one warning
    assert "a logging handler raised RuntimeError" in capsys.readouterr().err


async def test_a_raising_log_handler_does_not_end_a_resumable_stream(
    raising_handler: _Raising, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stream's "resuming after event N" INFO line is written between two
    # connections: raised there, it ended a stream that could go on.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    answers = [
        b'id: 1\nevent: init\ndata: {}\n\nid: 2\nevent: output\ndata: "a"\n\n',
        b'id: 3\nevent: done\ndata: {"status": "succeeded"}\n\n',
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(answers.pop(0))
        await response.write_eof()  # a clean close: resumed at once
        return response

    app = web.Application()
    app.router.add_get("/v1/predictions/{id}/stream", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("/v1"))
        async with AsyncClient("t", url, retry=FAST_RETRY) as client:
            events = [e async for e in client.predictions.stream("p1")]
    assert [e.id for e in events] == ["1", "2", "3"]
    assert raising_handler.calls >= 1  # the resume line was offered to it
    assert capsys.readouterr().err.count("a logging handler raised") == 1
