"""Promises of the README with no other test, checked as written.

Each test names the README section and sentence it holds to: the exception
of each status ("Errors"), the defaults of the constructor line ("Retries,
timeouts and rate limits"), where the sync client runs a callback ("The sync
client") and what a log line leaves out ("Logs and traces"). All over real
sockets against the emulator on 127.0.0.1.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from wriftai_async import (
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from wriftai_async._logging import LOGGER_NAME
from wriftai_async.testing import Emulator

from .conftest import CLIENT_KINDS, make_client, resolve

README = Path(__file__).resolve().parent.parent / "README.md"

# -- "Errors": each status, its class and attributes --------------------------------

STATUS_CLASSES: list[tuple[int, type[APIStatusError]]] = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (418, APIStatusError),  # "any other answer that is not a 2xx": the base class
    (422, ValidationError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
    (504, ServerError),
    (599, ServerError),
]


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_each_status_raises_its_documented_class_with_its_attributes(
    emulator: Emulator, kind: str, status: int, cls: type[APIStatusError]
) -> None:
    errors = [{"loc": ["body", "input", "x"], "msg": "bad x", "type": "value_error"}]
    body: Any = {"detail": errors} if status == 422 else {"detail": f"no {status}"}
    emulator.inject(status, headers={"x-request-id": f"req-{status}"}, body=body)
    client = make_client(kind, emulator, max_retries=0)
    try:
        with pytest.raises(APIStatusError) as caught:
            await resolve(client.models.get("alice/text-echo"))
    finally:
        await resolve(client.aclose() if kind == "async" else client.close())
    error = caught.value
    assert type(error) is cls
    assert error.status == status
    assert error.method == "GET"
    assert error.url == f"{emulator.base_url}/models/alice/text-echo"
    assert error.request_id == f"req-{status}"
    if status == 422:
        assert isinstance(error, ValidationError) and error.errors == errors
    else:
        assert error.detail == f"no {status}"
    if status == 401:
        # The client had a token, and the API refused it.
        assert isinstance(error, AuthenticationError) and error.token_given is True
        assert "WRIFTAI_ACCESS_TOKEN" in str(error)


# -- "Retries, timeouts and rate limits": the constructor's defaults -----------------


def test_the_readme_constructor_line_states_the_real_defaults() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Retries, timeouts and rate limits", 1)[1]
    line = re.search(r"`AsyncClient\(([^`]*)\)`", section)
    assert line is not None
    stated = dict(part.split("=", 1) for part in line.group(1).split(", "))
    assert stated == {
        "max_retries": "2",
        "timeout": "60.0",
        "connect_timeout": "10.0",
        "retry": "RetryPolicy()",
    }
    for cls in (AsyncClient, Client):
        parameters = inspect.signature(cls).parameters
        for name, value in stated.items():
            default = parameters[name].default
            if name == "retry":
                assert default is None  # None: a RetryPolicy() of its own
            else:
                assert repr(default) == value, (cls, name)
    client = AsyncClient("t", "http://127.0.0.1:9/v1")
    session = client.session
    assert session.max_retries == 2
    assert session.retry == RetryPolicy()
    # "up to RetryPolicy.max_rate_limit_wait (60 s)"
    assert RetryPolicy().max_rate_limit_wait == 60.0
    assert "`RetryPolicy.max_rate_limit_wait` (60 s)" in section
    # "max_response_size (64 MiB)", "at most max_response_size // 64 values
    # (1 Mi at the default)"
    assert session.max_response_size == 64 * 1024 * 1024
    assert session.max_json_values == session.max_response_size // 64 == 1 << 20
    assert "`max_response_size` (64 MiB)" in section


# -- "The sync client": callbacks on the loop thread -------------------------------


def test_a_sync_callback_runs_on_the_loop_thread_and_cannot_call_the_client(
    emulator: Emulator,
) -> None:
    threads: list[threading.Thread] = []
    refusals: list[RuntimeError] = []

    def on_progress(done: int, total: int) -> None:
        threads.append(threading.current_thread())
        try:
            client.user.get()  # the client's own loop thread: it would wait forever
        except RuntimeError as exc:
            refusals.append(exc)

    with make_client("sync", emulator) as client:
        url = client.files.upload(b"x" * 100, on_progress=on_progress)
        assert url
        assert threads and refusals
        assert all(t is not threading.current_thread() for t in threads)
        assert len({t.ident for t in threads}) == 1  # one loop thread
        assert all("own event loop" in str(exc) for exc in refusals)
        # No request went out for the refused calls, and the client stays usable.
        assert not any(r.path == "/user" for r in emulator.requests)
        assert client.user.get().username == "alice"
        assert [r.path for r in emulator.requests].count("/user") == 1


# -- "Logs and traces": never the query; a level set at any time applies -----------


async def test_log_lines_never_show_the_query_and_follow_the_current_level(
    emulator: Emulator,
) -> None:
    logger = logging.getLogger(LOGGER_NAME)
    saved = logger.level
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        async with make_client("async", emulator) as client:
            logger.setLevel(logging.WARNING)
            await client.users.list_page(page_size=2)
            assert records == []
            # Set on the logger after the client was made: the next attempt logs.
            logger.setLevel(logging.DEBUG)
            page = await client.users.list_page(page_size=1)
            assert page.next_cursor
            await client.users.list_page(page_size=1, cursor=page.next_cursor)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
    messages = [r.getMessage() for r in records]
    assert len(messages) == 4, messages  # "sending" and the answer, twice
    assert all("/v1/users" in m for m in messages), messages
    sent = [r for r in emulator.requests if r.path == "/users"]
    assert sent[-1].query["cursor"] == page.next_cursor  # the query did go out
    for message in messages:
        assert "?" not in message and "page_size" not in message, message
        assert page.next_cursor not in message, message


def test_constructor_bounds_are_as_the_readme_states() -> None:
    # "timeout, connect_timeout (numbers > 0; None or math.inf for no limit)",
    # "max_retries (int >= 0)", "the RetryPolicy numbers (finite, >= 0)",
    # "rate_limit (a finite number > 0, or None)".
    base = "http://127.0.0.1:9/v1"
    for name in ("timeout", "connect_timeout"):
        for no_limit in (None, math.inf):
            AsyncClient("t", base, **{name: no_limit})
        with pytest.raises(ValueError, match=name):
            AsyncClient("t", base, **{name: 0})
    assert AsyncClient("t", base, max_retries=0).session.max_retries == 0
    zero = RetryPolicy(backoff_base=0, backoff_max=0, max_rate_limit_wait=0)
    assert zero.backoff(3) == 0
    with pytest.raises(ValueError, match="rate_limit"):
        AsyncClient("t", base, rate_limit=math.inf)
