"""``WRIFTAI_LOG``: the library's log lines, turned on without code changes.

The subprocess tests set only the environment variable, as a user would; the
in-process ones check what a line holds and that the token never shows.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from tests.conftest import FAST_RETRY
from wriftai_async import AsyncClient
from wriftai_async._logging import LOGGER_NAME, setup_from_env
from wriftai_async.testing import Emulator

SECRET = "sk-log-secret-0123456789"


@pytest.fixture
def secret_emulator():
    with Emulator(access_token=SECRET).run_in_thread() as emu:
        yield emu


def _run(emu, level, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(WRIFTAI_ACCESS_TOKEN=SECRET, WRIFTAI_API_BASE_URL=emu.base_url)
    if level is not None:
        env["WRIFTAI_LOG"] = level
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "wriftai_async", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def _log_lines(stderr):
    return [line for line in stderr.splitlines() if " wriftai_async " in line]


def test_debug_logs_every_attempt_without_the_token(secret_emulator):
    emu = secret_emulator
    emu.inject(
        503,
        headers={"x-request-id": "req-503-a"},
        times=1,
        path="/models/alice/text-echo",
    )
    result = _run(emu, "debug", "models", "get", "alice/text-echo", "-q")
    assert result.returncode == 0, result.stderr
    lines = _log_lines(result.stderr)
    text = "\n".join(lines)
    assert "DEBUG] sending GET /v1/models/alice/text-echo (attempt 1)" in text
    assert "INFO] GET /v1/models/alice/text-echo -> 503 (attempt 1," in text
    assert "request id req-503-a" in text
    assert (
        "retrying GET /v1/models/alice/text-echo in 0." in text
        and "after status 503, request id req-503-a (attempt 1)" in text
    )
    assert "DEBUG] sending GET /v1/models/alice/text-echo (attempt 2)" in text
    assert "INFO] GET /v1/models/alice/text-echo -> 200 (attempt 2," in text
    # Never the token, and never a body (the model's overview is in the body).
    assert SECRET not in result.stderr and SECRET not in result.stdout
    assert "Returns its input unchanged" not in result.stderr
    assert "Bearer" not in result.stderr


def test_info_leaves_out_the_debug_lines(secret_emulator):
    result = _run(secret_emulator, "INFO", "models", "get", "alice/text-echo")
    assert result.returncode == 0, result.stderr
    lines = _log_lines(result.stderr)
    assert len(lines) == 1 and "-> 200 (attempt 1," in lines[0]
    assert SECRET not in result.stderr


@pytest.mark.parametrize("value", [None, "verbose"])
def test_no_log_lines_unless_asked(secret_emulator, value):
    result = _run(secret_emulator, value, "models", "get", "alice/text-echo")
    assert result.returncode == 0, result.stderr
    assert _log_lines(result.stderr) == []


def test_a_broken_connection_logs_its_type_not_the_url(secret_emulator, caplog):
    secret_emulator.inject_disconnect(times=1, path="/users/alice")

    async def main():
        async with AsyncClient(
            SECRET, secret_emulator.base_url, retry=FAST_RETRY
        ) as client:
            await client.users.get("alice")

    import asyncio

    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    assert any(
        m.startswith("GET /v1/users/alice failed: ServerDisconnectedError (attempt 1")
        for m in messages
    ), messages
    assert any("after ServerDisconnectedError (attempt 1)" in m for m in messages), (
        messages
    )
    assert any("-> 200 (attempt 2," in m for m in messages), messages
    assert all(SECRET not in m and "127.0.0.1" not in m for m in messages)


def test_setup_from_env_adds_one_handler_only():
    logger = logging.getLogger(LOGGER_NAME)
    saved_level, saved_handlers = logger.level, list(logger.handlers)
    try:
        assert setup_from_env({"WRIFTAI_LOG": "Debug"}) == logging.DEBUG
        assert setup_from_env({"WRIFTAI_LOG": "info"}) == logging.INFO
        assert logger.level == logging.INFO
        added = [h for h in logger.handlers if h not in saved_handlers]
        assert len(added) == 1
        assert setup_from_env({"WRIFTAI_LOG": "loud"}) is None
        assert setup_from_env({}) is None
    finally:
        for handler in logger.handlers[:]:
            if handler not in saved_handlers:
                logger.removeHandler(handler)
        logger.setLevel(saved_level)


def test_a_huge_request_id_is_cut_in_the_log_line(secret_emulator, caplog):
    # (Control characters cannot arrive: aiohttp refuses them in headers.)
    secret_emulator.inject(
        503, headers={"x-request-id": "r1" + "x" * 5000}, path="/user"
    )

    async def main():
        async with AsyncClient(
            SECRET, secret_emulator.base_url, retry=FAST_RETRY
        ) as client:
            await client.user.get()

    import asyncio

    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records if "-> 503" in r.getMessage()]
    (line,) = lines
    assert "request id r1xxx" in line
    assert len(line) < 200  # the id is cut at 100 characters
