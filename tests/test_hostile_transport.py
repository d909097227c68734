"""The transport against servers that misbehave on purpose, case by case.

Redirects to other origins (the token stays home), answers that are not
success (101, 399, 301 without Location), bodies that break off (re-sent when
that is safe), decoded-size and JSON bounds, upload parts, the pool wait and
the constructor's checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import math
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator

import pytest
from yarl import URL

from wriftai_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    Client,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    _json,
)
from wriftai_async._middlewares import AuthMiddleware
from wriftai_async._urls import origin_key

from . import hostile
from .conftest import FAST_RETRY
from .hostile import HostileServer, MiB, Request, respond

TOKEN = "tok-very-secret-1234"
CUSTOM = {"X-Api-Key": "custom-secret-5678"}
SECRETS = (TOKEN, CUSTOM["X-Api-Key"])


@contextlib.asynccontextmanager
async def serve(
    behaviour: hostile.Behaviour, **kwargs
) -> AsyncIterator[tuple[HostileServer, AsyncClient]]:
    """A hostile server and a client of it (token, fast retries, 20 s timeout)."""
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout", 20.0)
    async with (
        HostileServer(behaviour) as server,
        AsyncClient(TOKEN, server.url + "/v1", **kwargs) as client,
    ):
        yield server, client


def _chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def assert_no_secret(exc: BaseException) -> None:
    """No exception of the chain shows a secret, in text or attributes."""
    for error in _chain(exc):
        texts = [str(error), repr(error), repr(getattr(error, "request_info", ""))]
        texts += [repr(getattr(error, "history", ""))]
        texts += [repr(vars(error))] if hasattr(error, "__dict__") else []
        for secret in SECRETS:
            assert all(secret not in text for text in texts), type(error)


# -- redirects -----------------------------------------------------------------

REDIRECTS = [301, 302, 303, 307, 308]
METHODS = ["GET", "PATCH", "POST", "DELETE"]


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("method", METHODS)
async def test_a_redirect_to_another_origin_is_not_followed(status, method):
    # The policy (README, "Redirects"): only GET and HEAD follow redirects,
    # only within the API's origin. Anything else is an APIStatusError with
    # the redirect's status, and nothing reaches the other host.
    async with HostileServer(hostile.json_body(b"{}")) as other:
        redirect = hostile.redirect(status, other.url + "/x?sig=s3cr3t")
        async with serve(redirect, headers=CUSTOM) as (api, client):
            json = {"a": 1} if method in ("PATCH", "POST") else None
            with pytest.raises(APIStatusError) as caught:
                await client.request(method, "/thing", json=json)
    assert caught.value.status == status
    assert "not followed" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert api.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert api.requests[0].headers["x-api-key"] == CUSTOM["X-Api-Key"]
    assert len(api.requests) == 1
    assert other.requests == []


@pytest.mark.parametrize("status", REDIRECTS)
async def test_a_stream_redirect_to_another_origin_is_not_followed(status):
    async with HostileServer(hostile.json_body(b"")) as other:
        redirect = hostile.redirect(status, other.url + "/x")
        async with serve(redirect, headers=CUSTOM) as (_, client):
            with pytest.raises(APIStatusError) as caught:
                async with client.session.stream("GET", "/stream"):
                    pass
    assert caught.value.status == status
    assert other.requests == []


@pytest.mark.parametrize("status", REDIRECTS)
async def test_a_redirect_to_another_host_on_the_same_port_is_not_followed(status):
    # "localhost" is another origin than "127.0.0.1", though the same server.
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/v1/old":
            port = request.headers["host"].rsplit(":", 1)[1]
            where = f"http://localhost:{port}/v1/new"
            await respond(writer, status, b"", {"Location": where})
        else:
            await respond(writer, 200, b"{}")

    async with serve(behaviour, headers=CUSTOM) as (api, client):
        with pytest.raises(APIStatusError, match="origin"):
            await client.request("GET", "/old")
    [first] = api.requests
    assert first.headers["authorization"] == f"Bearer {TOKEN}"


def test_an_explicit_default_port_is_the_same_origin():
    same = AuthMiddleware(URL("https://api.example/v1"), TOKEN, {}, "agent")
    assert origin_key(URL("https://API.example:443/x")) == same._origin
    assert origin_key(URL("http://api.example/x")) != same._origin
    assert origin_key(URL("https://api.example:8443/x")) != same._origin
    assert TOKEN not in repr(same)


async def test_redirect_on_the_same_origin_keeps_the_token():
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.path == "/v1/old":
            await respond(writer, 307, b"", {"Location": "/v1/new"})
        else:
            await respond(writer, 200, b'{"ok": true}')

    async with serve(behaviour, headers=CUSTOM) as (api, client):
        assert await client.request("GET", "/old") == {"ok": True}
    assert [r.path for r in api.requests] == ["/v1/old", "/v1/new"]
    assert api.requests[1].headers["authorization"] == f"Bearer {TOKEN}"
    assert api.requests[1].headers["x-api-key"] == CUSTOM["X-Api-Key"]


async def test_a_redirect_loop_raises_without_the_token_in_the_cause_chain():
    redirect = hostile.redirect(302, "/v1/again")
    async with serve(redirect, headers=CUSTOM) as (_, client):
        with pytest.raises(APIConnectionError) as caught:
            await client.request("GET", "/again")
        with pytest.raises(APIConnectionError) as caught_stream:
            async with client.session.stream("GET", "/again"):
                pass
    assert "TooManyRedirects" in str(caught.value)
    assert_no_secret(caught.value)
    assert_no_secret(caught_stream.value)


async def test_no_log_line_carries_the_token(caplog):
    caplog.set_level(logging.DEBUG)
    behaviour = hostile.call_count_then(
        hostile.cut_body(503), hostile.redirect(302, "/v1/a"), 2
    )
    async with serve(behaviour, headers=CUSTOM, max_retries=3) as (_, client):
        with pytest.raises(APIConnectionError) as caught:
            await client.request("GET", "/a")
    assert "retrying" in caplog.text
    assert all(secret not in caplog.text for secret in SECRETS)
    assert_no_secret(caught.value)


# -- answers that are not a success --------------------------------------------


@pytest.mark.parametrize("status", [301, 399])
async def test_an_answer_that_is_not_a_success_is_never_decoded_as_one(status):
    async with serve(hostile.status_only(status)) as (_, client):
        with pytest.raises(APIStatusError) as caught:
            await client.request("GET", "/thing")
        with pytest.raises(APIStatusError):
            async with client.session.stream("GET", "/thing"):
                pass
    assert caught.value.status == status


async def test_switching_protocols_is_not_a_success():
    # aiohttp refuses a 101 with a body as a protocol error; either way it
    # must never come back as a decoded answer.
    async with serve(hostile.status_only(101), headers=CUSTOM) as (_, client):
        with pytest.raises((APIStatusError, APIConnectionError)) as caught:
            await client.request("GET", "/thing")
    # aiohttp's ClientResponseError for it holds the request's headers.
    assert_no_secret(caught.value)


# -- bodies that break off -----------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
@pytest.mark.parametrize("reset", [False, True], ids=["cut", "reset"])
async def test_a_body_that_breaks_off_is_resent_when_safe(method, reset):
    behaviour = hostile.call_count_then(
        hostile.cut_body(reset=reset), hostile.json_body(b'{"ok": 1}')
    )
    async with serve(behaviour) as (api, client):
        assert await client.request(method, "/thing") == {"ok": 1}
    assert [r.method for r in api.requests] == [method, method]


@pytest.mark.parametrize("reset", [False, True], ids=["cut", "reset"])
async def test_a_post_whose_body_breaks_off_is_not_resent(reset):
    # The service may have created the thing: a second POST could duplicate it.
    behaviour = hostile.call_count_then(
        hostile.cut_body(reset=reset), hostile.json_body(b'{"ok": 1}')
    )
    async with serve(behaviour, max_retries=5) as (api, client):
        with pytest.raises(APIConnectionError):
            await client.request("POST", "/predictions", json={})
    assert len(api.requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_an_error_body_that_breaks_off_is_retried_not_raised(status):
    behaviour = hostile.call_count_then(
        hostile.cut_body(status), hostile.json_body(b'{"ok": 1}')
    )
    async with serve(behaviour) as (api, client):
        assert await client.request("GET", "/thing") == {"ok": 1}
    assert len(api.requests) == 2


async def test_a_post_keeps_the_status_of_an_error_whose_body_broke_off():
    async with serve(hostile.cut_body(500), max_retries=3) as (api, client):
        with pytest.raises(ServerError) as caught:
            await client.request("POST", "/predictions", json={})
    assert caught.value.status == 500
    assert len(api.requests) == 1


# -- bounds ----------------------------------------------------------------------


def _gzip_json(size: int) -> hostile.Behaviour:
    body = gzip.compress(b"{}" + b" " * (size - 2))

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, body, {"Content-Encoding": "gzip"})

    return behaviour


async def test_max_response_size_counts_decompressed_bytes():
    async with serve(_gzip_json(2 * MiB), max_response_size=MiB) as (_, client):
        with pytest.raises(ResponseDecodeError, match="max_response_size"):
            await client.request("GET", "/thing")
    async with serve(_gzip_json(MiB // 2), max_response_size=MiB) as (_, client):
        assert await client.request("GET", "/thing") == {}


async def test_a_body_that_would_decode_to_too_many_values_is_refused():
    behaviour = hostile.many_values(MiB)
    async with serve(behaviour, max_response_size=2 * MiB) as (_, client):
        with pytest.raises(ResponseDecodeError, match="too large to decode"):
            await client.request("GET", "/thing")


async def test_deep_nesting_is_a_decode_error():
    async with serve(hostile.deep_nesting(5000)) as (_, client):
        with pytest.raises(ResponseDecodeError, match="not JSON"):
            await client.request("GET", "/thing")


async def test_a_decode_that_overruns_the_deadline_fails_the_call(monkeypatch):
    # Decoding cannot be interrupted; stand in for a slow one.
    real = _json.loads_bounded

    def slow(data, max_values):
        time.sleep(0.6)
        return real(data, max_values)

    monkeypatch.setattr(_json, "loads_bounded", slow)
    async with serve(hostile.json_body(b"{}"), timeout=0.3) as (_, client):
        with pytest.raises(APITimeoutError):
            await client.request("GET", "/thing")


async def test_a_stream_error_body_that_trickles_times_out():
    async with serve(hostile.trickle(status=500), timeout=0.5) as (_, client):
        with pytest.raises(APITimeoutError):
            async with client.session.stream("GET", "/s"):
                pass


@contextlib.contextmanager
def peak_memory() -> Iterator[list[int]]:
    """The peak of traced memory above the start, in bytes, once left."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result: list[int] = []
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1] - base)
        tracemalloc.stop()


async def test_a_stream_error_body_is_read_under_max_response_size():
    bomb = hostile.compressed_bomb("gzip", 32 * MiB, 500)
    async with serve(bomb, max_response_size=MiB, max_retries=0) as (_, client):
        with peak_memory() as peak, pytest.raises(ServerError):
            async with client.session.stream("GET", "/s"):
                pass
    assert peak[0] < 8 * MiB


# The head of an answer is bounded by aiohttp alone (the session sets none of
# its parser limits): at most 128 headers (enforced by its C parser since
# 3.13.4; before, any number, held until the answer ends or the timeout) and
# lines of at most 8,190 bytes, counted across reads by its C parser since
# 3.14.1 (before, a status line sent in pieces grew without bound). Hence
# aiohttp>=3.14.1 in pyproject.toml. Each head below ends, so an aiohttp
# without the bound lets the call succeed rather than take all memory.
_PIECE = b"O" * 1024


def _head_in_pieces(start: bytes, piece: bytes, count: int) -> hostile.Behaviour:
    """``start``, then ``count`` pieces, each its own write; then a whole answer."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(start)
        for _ in range(count):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.001)  # one read each (a line split across reads)
        writer.write(b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        await writer.drain()

    return behaviour


HEADS = {
    "10,000 headers": _head_in_pieces(
        b"HTTP/1.1 200 OK", b"".join(b"\r\nX-H: v" for _ in range(1000)), 10
    ),
    "a 256 KiB status line in pieces": _head_in_pieces(b"HTTP/1.1 200 ", _PIECE, 256),
    "a 256 KiB header in pieces": _head_in_pieces(
        b"HTTP/1.1 200 OK\r\nX-Long: ", _PIECE, 256
    ),
}


@pytest.mark.parametrize("behaviour", HEADS.values(), ids=HEADS)
async def test_a_head_past_aiohttps_bounds_is_refused(behaviour):
    async with serve(behaviour, max_retries=0) as (_, client):
        with pytest.raises(APIConnectionError) as caught:
            await client.request("GET", "/thing")
    assert_no_secret(caught.value)


# -- upload parts ----------------------------------------------------------------


def _upload_server(part: hostile.Behaviour) -> hostile.Behaviour:
    """POST /uploads plans one part at /part on the same server; ``part`` answers."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        if request.method == "POST" and request.path == "/v1/uploads":
            url = b"http://%s/part?sig=s3cr3t" % request.headers["host"].encode()
            plan = b'{"id": "u1", "urls": ["%s"], "part_size": 1048576}' % url
            await respond(writer, 201, plan)
        elif request.method == "PUT":
            await part(request, writer)
        else:
            await respond(writer, 200, b'{"download_url": "https://files/u1"}')

    return behaviour


async def test_an_upload_part_whose_answer_breaks_off_is_resent():
    async def ok(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, b"", {"ETag": '"e1"'})

    part = hostile.call_count_then(hostile.cut_body(), ok)
    async with serve(_upload_server(part)) as (api, client):
        url = await client.files.upload(b"hello", mime_type="text/plain")
    assert url == "https://files/u1"
    puts = [r for r in api.requests if r.method == "PUT"]
    assert len(puts) == 2
    assert all("authorization" not in r.headers for r in puts)


async def test_an_upload_part_error_body_is_bounded():
    part = hostile.compressed_bomb("gzip", 32 * MiB, status=500)
    server = _upload_server(part)
    async with serve(server, max_response_size=MiB, max_retries=1) as (_, client):
        with peak_memory() as peak, pytest.raises(ServerError) as caught:
            await client.files.upload(b"hello", mime_type="text/plain")
    assert "s3cr3t" not in str(caught.value)
    assert peak[0] < 8 * MiB


# -- the pool and the constructor ----------------------------------------------


async def test_waiting_for_a_pooled_connection_counts_against_timeout():
    async def slow(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        await respond(writer, 200, b"{}")

    # Eight calls through one connection wait ~2.4 s in the pool, far past
    # connect_timeout; only opening the connection is held to it.
    options = {"connection_limit": 1, "connect_timeout": 0.5, "max_retries": 0}
    async with serve(slow, **options) as (_, client):
        results = await asyncio.gather(
            *(client.request("GET", "/thing") for _ in range(8))
        )
    assert results == [{}] * 8


@pytest.mark.parametrize("timeout", [None, math.inf])
async def test_no_timeout_is_none_or_inf(timeout):
    async with serve(hostile.json_body(b"{}"), timeout=timeout) as (_, client):
        assert await client.request("GET", "/thing") == {}
        assert await client.request("GET", "/thing", timeout=timeout) == {}


BAD_ARGUMENTS = [
    ("timeout", 0, ValueError),
    ("timeout", -1, ValueError),
    ("timeout", math.nan, ValueError),
    ("timeout", "10", TypeError),
    ("timeout", True, TypeError),
    ("connect_timeout", 0, ValueError),
    ("connect_timeout", math.nan, ValueError),
    ("connect_timeout", "1", TypeError),
    ("connection_limit", 0, ValueError),
    ("connection_limit", -1, ValueError),
    ("connection_limit", 1.5, TypeError),
    ("connection_limit", True, TypeError),
    ("max_retries", -1, ValueError),
    ("max_retries", 2.0, TypeError),
    ("max_retries", False, TypeError),
    ("max_response_size", 0, ValueError),
    ("max_response_size", math.inf, TypeError),
    ("max_response_size", "1", TypeError),
    ("retry", {"backoff_base": 1}, TypeError),
]


@pytest.mark.parametrize("cls", [AsyncClient, Client])
@pytest.mark.parametrize(("name", "value", "error"), BAD_ARGUMENTS)
def test_constructor_arguments_are_checked_up_front(cls, name, value, error):
    with pytest.raises(error, match=name if name != "retry" else "RetryPolicy"):
        cls(TOKEN, "http://127.0.0.1:9/v1", **{name: value})


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("backoff_base", math.nan, ValueError),
        ("backoff_max", math.inf, ValueError),
        ("max_rate_limit_wait", -1, ValueError),
        ("backoff_base", "1", TypeError),
        ("backoff_max", True, TypeError),
    ],
)
def test_retry_policy_numbers_are_checked(name, value, error):
    with pytest.raises(error, match=name):
        RetryPolicy(**{name: value})


async def test_a_per_call_timeout_is_checked_before_sending():
    async with serve(hostile.json_body(b"{}")) as (api, client):
        with pytest.raises(ValueError, match="timeout"):
            await client.request("GET", "/thing", timeout=math.nan)
    assert api.requests == []
