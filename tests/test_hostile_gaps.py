"""Hostile answers on paths the other hostile tests leave aside.

The server's text in messages and log lines (line breaks, terminal escapes),
what an exception keeps of a huge error body, and the answers of the storage
host to upload parts: each against a raw server on 127.0.0.1
(``tests/hostile.py``).
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import tracemalloc
from typing import Any

import orjson
import pytest

from wriftai_async import (
    AsyncClient,
    BadRequestError,
    NotFoundError,
    StreamInterruptedError,
    WaitTimeoutError,
)

from .conftest import FAST_RETRY
from .hostile import Behaviour, HostileServer, MiB, Request, respond, send_head

TOKEN = "tok-gaps-0123456789"
UUID = "11111111-2222-4333-8444-555555555555"
# A forged log line, a colour, a window title (OSC ... BEL), a bidi override.
NASTY = "bad\n[2026 wriftai_async INFO] forged\x1b[31mred\x1b]0;title\x07\u202eevil"


def client(server: HostileServer, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return AsyncClient(TOKEN, server.url + "/v1", **kwargs)


def one_printable_line(text: str) -> bool:
    return text.isprintable()


# -- the server's text in messages and log lines ----------------------------------


@pytest.mark.parametrize(
    "body",
    [orjson.dumps({"detail": NASTY}), ("\x1b[31m" + NASTY).encode()],
    ids=["json-detail", "text-body"],
)
async def test_a_status_error_message_is_one_printable_line(body: bytes) -> None:
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 400, body, {"x-request-id": "r1\x1b[2J\tx"})

    async with HostileServer(behaviour) as server, client(server) as c:
        with pytest.raises(BadRequestError) as caught:
            await c.models.get("alice/m")
    message = str(caught.value)
    assert one_printable_line(message), repr(message)
    assert "\\x1b[31m" in message and "[request id r1\\x1b[2J\\tx]" in message
    if body.startswith(b"{"):
        assert caught.value.detail == NASTY  # the data itself is left as sent


async def test_a_stream_resume_log_line_is_one_printable_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The first connection brings one event and ends; each resume is a 503
    # whose detail would forge a line of the library's own log.
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        if "after_id" not in request.target:
            await send_head(writer, 200, {"Content-Type": "text/event-stream"})
            writer.write(b"id: 1\nevent: output\ndata: {}\n\n")
        else:
            await respond(writer, 503, orjson.dumps({"detail": NASTY}))

    caplog.set_level(logging.INFO, logger="wriftai_async")
    async with HostileServer(behaviour) as server, client(server, max_retries=1) as c:
        with pytest.raises(StreamInterruptedError) as caught:
            _ = [event async for event in c.predictions.stream(UUID)]
    assert one_printable_line(str(caught.value))
    resumes = [r.getMessage() for r in caplog.records if "resuming" in r.msg]
    assert any("forged" in line for line in resumes)  # the detail is in them
    for line in resumes:
        assert one_printable_line(line), repr(line)


async def test_a_wait_timeout_shows_an_odd_status_escaped() -> None:
    prediction = {"id": UUID, "status": "queued\n\x1b[2Jforged"}

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, orjson.dumps(prediction))

    async with HostileServer(behaviour) as server, client(server) as c:
        with pytest.raises(WaitTimeoutError) as caught:
            await c.predictions.wait(UUID, timeout=0.05, poll_interval=0.01)
    message = str(caught.value)
    assert "last status: queued\\n\\x1b[2Jforged" in message
    assert one_printable_line(message)


# -- what an exception keeps of a huge error body ----------------------------------


@pytest.mark.parametrize(
    "detail",
    [
        "x" * (2 * MiB),
        ["y" * 100] * 20_000,  # 2 MB of values, under the count bound
    ],
    ids=["long-text", "long-list"],
)
async def test_an_error_keeps_little_of_a_huge_body(detail: object) -> None:
    body = orjson.dumps({"detail": detail})

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 404, body)

    async with HostileServer(behaviour) as server, client(server) as c:
        with pytest.raises(NotFoundError) as caught:
            await c.models.get("alice/m")
    error = caught.value
    # Everything the exception holds, as a bulk call's result would keep it.
    assert len(pickle.dumps(error)) < 64 * 1024
    assert str(error).startswith("404 (GET ") and '{"detail":' in str(error)


async def test_an_error_of_ordinary_size_keeps_its_detail() -> None:
    # About 140 KB: a big validation error, still decoded.
    detail = [
        {"loc": ["body", f"f{i}"], "msg": "m" * 100, "type": "t"} for i in range(1000)
    ]

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 400, orjson.dumps({"detail": detail}))

    async with HostileServer(behaviour) as server, client(server) as c:
        with pytest.raises(BadRequestError) as caught:
            await c.models.get("alice/m")
    assert caught.value.detail == detail


# -- the storage host's answers to upload parts ------------------------------------

PARTS = 16
PART_ANSWER = b" " * (3 * MiB)


def upload_server(port: list[int]) -> Behaviour:
    """The API plans 16 parts on this host; each part's answer is 3 MiB."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.method == "POST" and request.path == "/v1/uploads":
            urls = [f"http://127.0.0.1:{port[0]}/part/{i}" for i in range(PARTS)]
            plan = {"id": "u1", "urls": urls, "part_size": 1}
            await respond(writer, 200, orjson.dumps(plan))
        elif request.method == "PUT":
            await respond(writer, 200, PART_ANSWER, {"ETag": '"e"'})
        else:
            done = {"download_url": "http://127.0.0.1:1/elsewhere"}
            await respond(writer, 200, orjson.dumps(done))

    return behaviour


async def test_upload_part_answers_are_read_under_a_small_bound() -> None:
    port: list[int] = []
    async with HostileServer(upload_server(port)) as server:
        port.append(server.port)
        # The default max_response_size (64 MiB): each answer read whole,
        # 16 at once, held 2x while joined, was ~100 MiB.
        async with client(server) as c:
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                url = await c.files.upload(b"x" * PARTS, mime_type="text/plain")
                peak = tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()
    assert url == "http://127.0.0.1:1/elsewhere"  # returned, never requested
    puts = [r for r in server.requests if r.method == "PUT"]
    assert len(puts) == PARTS
    assert all("authorization" not in r.headers for r in puts)
    assert not any(r.path == "/elsewhere" for r in server.requests)
    assert peak < 24 * MiB, f"peak {peak / MiB:.1f} MiB"
