"""The redirect policy, against real servers on 127.0.0.1, both clients.

The policy (README, "Retries, timeouts and rate limits"): only GET and HEAD
follow redirects, only within the API's origin; anything else raises an
``APIStatusError`` with the redirect's status. So a request body (a secret
variable's value, a webhook secret) never reaches another host, the token
never comes back on a path another host chose, a 429 from another host
never holds the client's rate-limit gate, and an odd ``Location`` (an
invalid host name, 8 KB long) is a bounded ``WriftAIError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from wriftai_async import APIStatusError, RetryPolicy, WriftAIError
from wriftai_async._middlewares import Response, RetryMiddleware
from wriftai_async._rate_limit import Limiter, Pacer

from .conftest import CLIENT_KINDS, resolve
from .test_hostile_protocol import TOKEN, HostileServer, close, json_answer, make

SECRET = "s3cr3t-variable-value-42"


@pytest.fixture
def api() -> Iterator[HostileServer]:
    server = HostileServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def other() -> Iterator[HostileServer]:
    """Another origin: records what reaches it, answers ``{}`` (or 429)."""
    server = HostileServer()
    bodies: list[bytes] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.read())
        if request.path.endswith("/limited"):
            # Within FAST_RETRY.max_rate_limit_wait: a gate fed by it would close.
            return web.json_response({}, status=429, headers={"Retry-After": "4"})
        if request.path.endswith("/back"):
            # Back to the API's origin, on a path this host chose.
            target = request.query["to"]
            return web.Response(status=307, headers={"Location": target})
        return json_answer({"name": "v", "key": "K", "value": "x"})

    server.handler = handler
    server.bodies = bodies  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def redirect_to(api: HostileServer, location: str, status: int) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    api.handler = handler


SECRET_CALLS = {
    "variables.create(secret=True)": (
        lambda c: c.variables.create("v", "K", SECRET, secret=True),
        [307, 308],
    ),
    "variables.update(value=...)": (
        lambda c: c.variables.update("v", value=SECRET),
        [301, 302, 307, 308],
    ),
    "predictions.create(webhook_secret=...)": (
        lambda c: c.predictions.create(
            "alice/m",
            {"text": "hi"},
            webhook_url="https://h.example/w",
            webhook_secret=SECRET,
        ),
        [307, 308],
    ),
}


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("call", list(SECRET_CALLS))
async def test_a_request_body_never_follows_a_redirect(api, other, kind, call):
    make_call, statuses = SECRET_CALLS[call]
    for status in statuses:
        redirect_to(api, other.url + "/elsewhere", status)
        client = make(kind, api)
        try:
            with pytest.raises(APIStatusError) as caught:
                await resolve(make_call(client))
        finally:
            await close(client)
        assert caught.value.status == status
        assert "not followed" in str(caught.value)
    # Nothing reached the other host: not the secret, not even a request.
    assert other.requests == []
    assert not any(SECRET.encode() in body for body in other.bodies)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("method", ["delete", "get"])
async def test_the_token_never_comes_back_from_another_origin(api, other, kind, method):
    # The API answers 307 to another host, which answers 307 back to the
    # API's origin on a path of its choosing: that path must never be asked,
    # with the token or without.
    chosen = api.url + "/models/alice/important-model"
    seen: list[tuple[str, str | None]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.path, request.headers.get("Authorization")))
        if request.path.endswith("/important-model"):
            return json_answer({"id": "m", "name": "important-model"})
        where = URL(other.url + "/back").with_query(to=chosen)
        return web.Response(status=307, headers={"Location": str(where)})

    api.handler = handler
    client = make(kind, api)
    try:
        with pytest.raises(APIStatusError) as caught:
            await resolve(getattr(client.models, method)("alice/tmp"))
    finally:
        await close(client)
    assert caught.value.status == 307
    assert seen == [("/v1/models/alice/tmp", f"Bearer {TOKEN}")]
    assert other.requests == []


async def test_a_get_follows_a_redirect_within_the_origin_with_its_token(api):
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/old"):
            return web.Response(status=301, headers={"Location": "/v1/models/a/new"})
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        return json_answer({"id": "m", "name": "new"})

    api.handler = handler
    async with make("async", api) as client:
        model = await client.models.get("a/old")
    assert model.name == "new"
    assert [path for _, path, _ in api.requests] == ["/models/a/old", "/models/a/new"]


# -- odd Location values -------------------------------------------------------------

ODD_LOCATIONS = {
    "xn--a host": "http://xn--a/x",
    "64-character label": "http://" + "a" * 64 + ".example/x",
    "empty label": "http://a..b/x",
    "8 KB of garbage": "http:// " + "x" * 8000,
    "8 KB path on another host": "http://127.0.0.1:9/" + "y" * 8000 + "?sig=s3cr3t",
    "user info": "http://user:pass@127.0.0.1:9/x",
}


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("location", list(ODD_LOCATIONS))
async def test_an_odd_location_is_a_bounded_wriftai_error(api, kind, location):
    redirect_to(api, ODD_LOCATIONS[location], 302)
    client = make(kind, api)
    errors: list[BaseException] = []
    calls = [
        lambda c: c.models.get("alice/m"),
        lambda c: c.users.get("alice"),
        lambda c: c.request("GET", "/hardware"),
        lambda c: c.models.list_page("alice"),
    ]
    try:
        for call in calls:
            try:
                await resolve(call(client))
            except BaseException as exc:  # the point of the test
                errors.append(exc)
    finally:
        await close(client)
    assert len(errors) == len(calls)
    for error in errors:
        assert isinstance(error, WriftAIError), repr(error)[:300]
        assert len(str(error)) < 1000
        assert "s3cr3t" not in str(error) and "pass" not in str(error)


# -- the rate-limit gate -------------------------------------------------------------


def _gate(client: Any) -> Limiter:
    inner = getattr(client, "_async_client", client)
    return inner.session.rate_limit


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_429_from_another_host_does_not_close_the_gate(api, other, kind):
    redirect_to(api, other.url + "/limited", 307)
    client = make(kind, api, max_retries=0)
    try:
        with pytest.raises(APIStatusError):
            await resolve(client.users.get("alice"))
        assert _gate(client).remaining == 0.0  # nothing holds the next request
    finally:
        await close(client)


async def test_the_retry_middleware_feeds_the_gate_only_from_its_origin(other):
    gate = Pacer(None)
    policy = RetryPolicy(backoff_base=0.001, backoff_max=0.001)
    api_origin = URL("http://127.0.0.1:9")  # the API: not the host answering
    middleware = RetryMiddleware(
        policy, 0, 1000, limiter=gate, limiter_origin=api_origin
    )
    async with (
        aiohttp.ClientSession(response_class=Response) as session,
        session.get(other.url + "/limited", middlewares=(middleware,)) as response,
    ):
        assert response.status == 429
    assert gate.remaining == 0.0
    # The same answer from the gate's own origin closes it.
    own = RetryMiddleware(policy, 0, 1000, limiter=gate, limiter_origin=URL(other.url))
    async with (
        aiohttp.ClientSession(response_class=Response) as session,
        session.get(other.url + "/limited", middlewares=(own,)) as response,
    ):
        assert response.status == 429
    assert gate.remaining > 1
    await gate.aclose()


async def test_a_redirect_loop_within_the_origin_ends(api):
    redirect_to(api, "/v1/again", 302)
    async with make("async", api) as client:
        with pytest.raises(WriftAIError, match="redirects"):
            await client.request("GET", "/again")
    assert len(api.requests) == 11  # the first and ten redirects
