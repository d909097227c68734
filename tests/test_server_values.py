"""Headers and upload plans that once broke a promise, against real servers.

Each test serves its answer from an aiohttp.web server on 127.0.0.1 (its own
thread, so both clients use it): ``Retry-After`` dates and numbers no clock
can reach (ignored, never ``OverflowError``), and upload plans whose part
URLs have no valid host or show a presigned query (refused with a short
message that never shows the query).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from wriftai_async import (
    RateLimitError,
    ResponseDecodeError,
    ServerError,
)

from .conftest import CLIENT_KINDS, resolve
from .test_hostile_protocol import HostileServer, close, make

UUID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


# -- Retry-After no calendar holds -------------------------------------------------

ABSURD_RETRY_AFTER = [
    "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
    "Mon, 01 Jan 2024 00:00:00 +99999999999999999999",
    "Fri, 31 Dec 9999 23:59:59 -9999",
    "nan",
    "1e999",
]

CALLS = {
    "predictions.get": lambda c: c.predictions.get(UUID),
    "users.list": lambda c: list_all(c.users.list()),
    "predictions.cancel": lambda c: c.predictions.cancel(UUID),
    "files.upload": lambda c: c.files.upload(b"data", mime_type="text/plain"),
}


async def list_all(iterator: Any) -> list[Any]:
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("status", [429, 503])
async def test_an_absurd_retry_after_is_ignored(server, kind, status):
    expected = RateLimitError if status == 429 else ServerError
    for value in ABSURD_RETRY_AFTER:
        server.answer(b'{"detail": "slow down"}', status, **{"Retry-After": value})
        client = make(kind, server, max_retries=1)
        try:
            for name, call in CALLS.items():
                with pytest.raises(expected) as caught:
                    await resolve(call(client))
                if status == 429:
                    reset_at = caught.value.reset_at
                    assert reset_at is None or math.isfinite(reset_at), (name, value)
        finally:
            await close(client)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_an_absurd_retry_after_on_an_upload_part_is_ignored(server, kind):
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/v1/uploads":
            part = f"http://127.0.0.1:{server.port}/part?X-Amz-Signature=sig"
            plan = {"id": "u1", "urls": [part], "part_size": 64}
            return web.json_response(plan)
        return web.Response(status=503, headers={"Retry-After": ABSURD_RETRY_AFTER[0]})

    server.handler = handler
    client = make(kind, server, max_retries=1)
    try:
        with pytest.raises(ServerError):
            await resolve(client.files.upload(b"data", mime_type="text/plain"))
    finally:
        await close(client)


PRESIGNED = "https://bucket.s3.example/key?X-Amz-Signature=abcdef&X-Amz-Credential=cred"

BAD_PLANS = {
    "urls is an object": {"id": "u1", "urls": {"a": PRESIGNED}, "part_size": 4},
    "urls holds a number": {"id": "u1", "urls": [PRESIGNED, 5], "part_size": 4},
    "a part URL is relative": {
        "id": "u1",
        "urls": ["/relative/key?X-Amz-Signature=abcdef"],
        "part_size": 64,
    },
    "xn--a host": {
        "id": "u1",
        "urls": ["http://xn--a/k?X-Amz-Signature=a"],
        "part_size": 64,
    },
    "64-character label": {
        "id": "u1",
        "urls": ["http://" + "a" * 64 + ".example/k?X-Amz-Signature=a"],
        "part_size": 64,
    },
}


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("plan", list(BAD_PLANS))
async def test_a_bad_upload_plan_is_refused_without_showing_a_query(server, kind, plan):
    server.answer(orjson.dumps(BAD_PLANS[plan]))
    client = make(kind, server)
    try:
        with pytest.raises(ResponseDecodeError) as caught:
            await resolve(client.files.upload(b"data", mime_type="text/plain"))
    finally:
        await close(client)
    message = str(caught.value)
    assert "X-Amz" not in message and "abcdef" not in message
    assert len(message) < 500
    assert [(m, p) for m, p, _ in server.requests] == [("POST", "/uploads")]
