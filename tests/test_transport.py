"""The request path over real sockets: retries, errors, auth, timeouts, cleanup."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from wriftai_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    PredictionStatus,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    __version__,
)
from wriftai_async._timeouts import deadline

from .conftest import FAST_RETRY, make_client, new_prediction, resolve

UUID = "11111111-2222-4333-8444-555555555555"


def _pid(emulator, status="started"):
    return new_prediction(emulator, status=status)


def _hits(emulator, method, path):
    return [r for r in emulator.requests if r.method == method and r.path == path]


async def test_auth_and_user_agent_headers(client, emulator):
    pid = _pid(emulator)
    await resolve(client.predictions.get(pid))
    [request] = emulator.requests
    assert request.headers["Authorization"] == f"Bearer {emulator.access_token}"
    assert request.headers["User-Agent"] == f"wriftai-async/{__version__}"
    assert request.headers["Accept"] == "application/json"


async def test_custom_headers_are_sent(emulator):
    async with make_client("async", emulator, headers={"X-Team": "ml"}) as client:
        await client.predictions.get(_pid(emulator))
    assert emulator.requests[-1].headers["X-Team"] == "ml"


async def test_429_with_reset_is_waited_out_and_retried(client, emulator):
    pid = _pid(emulator)
    reset = round(time.time() + 0.3, 3)
    emulator.inject(status=429, headers={"x-ratelimit-reset": f"{reset:.3f}"}, times=1)
    prediction = await resolve(client.predictions.get(pid))
    assert prediction.id == pid
    _, second = _hits(emulator, "GET", f"/predictions/{pid}")
    # What the client guarantees: the retry is not sent before the reset time.
    # (Not a gap between the two requests: a slow first request, on a busy
    # machine, rightly shrinks it.) The emulator stamps requests with the
    # monotonic clock; this converts the stamp to wall time, within ~1 ms.
    wall_minus_monotonic = time.time() - time.monotonic()
    assert second.received_at + wall_minus_monotonic >= reset - 0.02


async def test_429_beyond_the_wait_cap_raises_at_once(emulator):
    reset = time.time() + 3600
    emulator.inject(status=429, headers={"x-ratelimit-reset": str(int(reset))}, times=1)
    async with make_client("async", emulator) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.predictions.get(UUID)
    assert caught.value.status == 429
    assert caught.value.reset_at == pytest.approx(int(reset), abs=1)
    assert len(emulator.requests) == 1


async def test_503_storm_longer_than_max_retries_surfaces_server_error(
    client, emulator
):
    emulator.inject(status=503, times=10)
    with pytest.raises(ServerError) as caught:
        await resolve(client.predictions.get(UUID))
    assert caught.value.status == 503
    assert len(emulator.requests) == 3  # the first send and max_retries=2


async def test_short_503_storm_is_ridden_out(client, emulator):
    pid = _pid(emulator)
    emulator.inject(status=503, times=2)
    assert (await resolve(client.predictions.get(pid))).id == pid
    assert len(emulator.requests) == 3


async def test_max_retries_zero_sends_once(emulator):
    emulator.inject(status=503, times=5)
    async with make_client("async", emulator, max_retries=0) as client:
        with pytest.raises(ServerError):
            await client.predictions.get(UUID)
    assert len(emulator.requests) == 1


async def test_html_502_page_is_a_server_error_not_a_decode_crash(client, emulator):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    emulator.inject(
        status=502, body=html, headers={"Content-Type": "text/html"}, times=10
    )
    with pytest.raises(ServerError) as caught:
        await resolve(client.predictions.get(UUID))
    assert caught.value.status == 502 and caught.value.detail is None
    assert "502 Bad Gateway" in str(caught.value)


async def test_empty_error_body_is_still_a_typed_error(client, emulator):
    emulator.inject(status=500, body=b"", times=10)
    with pytest.raises(ServerError) as caught:
        await resolve(client.predictions.get(UUID))
    assert caught.value.detail is None and "no detail" in str(caught.value)


async def test_unknown_field_and_status_do_not_break_structuring(client, emulator):
    body = {
        "id": UUID,
        "status": "hibernating",
        "created_at": "2026-01-01T00:00:00Z",
        "model": {"owner": "a", "name": "b", "version_number": 1, "arch": "x"},
        "gpu_seconds": 4.5,
    }
    emulator.inject(status=200, body=body, times=1)
    prediction = await resolve(client.predictions.get(UUID))
    assert prediction.status == "hibernating" and not prediction.is_terminal
    assert prediction.extra == {"gpu_seconds": 4.5}
    assert prediction.model.extra == {"arch": "x"}


@pytest.mark.parametrize(
    "body", [b"<html>ok</html>", b'{"id": ', b"[1, 2]", b'"just a string"']
)
async def test_success_with_a_body_that_is_not_the_promised_json(
    client, emulator, body
):
    emulator.inject(status=200, body=body, times=1)
    with pytest.raises(ResponseDecodeError):
        await resolve(client.predictions.get(UUID))


async def test_dropped_connection_on_get_is_retried(client, emulator):
    pid = _pid(emulator)
    # aiohttp itself re-sends an idempotent request once on a dropped
    # connection; the second drop is the retry middleware's to handle.
    emulator.inject_disconnect(times=2)
    assert (await resolve(client.predictions.get(pid))).id == pid
    assert len(_hits(emulator, "GET", f"/predictions/{pid}")) == 3


async def test_dropped_connection_on_post_is_not_resent(client, emulator):
    pid = _pid(emulator)
    emulator.inject_disconnect(times=1, method="POST")
    with pytest.raises(APIConnectionError):
        await resolve(client.predictions.cancel(pid))
    assert len(_hits(emulator, "POST", f"/predictions/{pid}/cancel")) == 1


async def test_post_is_resent_after_an_empty_503_but_not_after_a_500(client, emulator):
    pid = _pid(emulator)
    emulator.inject(status=503, body=b"", method="POST", times=1)
    await resolve(client.predictions.cancel(pid))
    assert len(_hits(emulator, "POST", f"/predictions/{pid}/cancel")) == 2
    emulator.inject(status=500, method="POST", times=1)
    with pytest.raises(ServerError):
        await resolve(client.predictions.cancel(pid))
    assert len(_hits(emulator, "POST", f"/predictions/{pid}/cancel")) == 3


async def test_slow_answer_times_out(emulator):
    # The server would take far longer than the test's own time limit: the
    # call can only end, with APITimeoutError, because its timeout fired.
    emulator.inject_delay(3600.0, times=5)
    async with make_client("async", emulator, timeout=0.2, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            await client.predictions.get(UUID)
    assert len(emulator.requests) == 1


async def test_connection_refused_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncClient(
        "t", f"http://127.0.0.1:{port}/v1", retry=FAST_RETRY
    ) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.predictions.get(UUID)
    assert not isinstance(caught.value, APITimeoutError)


async def test_wrong_token_is_authentication_error_without_the_token(emulator):
    secret = "sk-very-secret-value"
    async with AsyncClient(secret, emulator.base_url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.predictions.get(UUID)
    assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_token_never_in_repr_or_logs(emulator, caplog):
    token = emulator.access_token
    emulator.inject(status=503, times=1)
    caplog.set_level(logging.DEBUG)
    async with make_client("async", emulator) as client:
        assert token not in repr(client) and token not in repr(client.session)
        assert token not in repr(client.models)
        await client.predictions.get(_pid(emulator))
    assert "retrying" in caplog.text
    assert token not in caplog.text


async def test_environment_variables_are_the_fallback(emulator, monkeypatch):
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", emulator.access_token)
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", emulator.base_url)
    async with AsyncClient() as client:
        prediction = await client.predictions.get(_pid(emulator))
    assert prediction.status is PredictionStatus.STARTED


def test_default_base_url(monkeypatch):
    monkeypatch.delenv("WRIFTAI_API_BASE_URL", raising=False)
    assert AsyncClient("t").session.base_url == "https://api.wrift.ai/v1"


async def test_closed_client_raises_runtime_error(emulator):
    client = make_client("async", emulator)
    await client.predictions.get(_pid(emulator))
    connector = client.session._session.connector
    await client.aclose()
    assert connector.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.predictions.get(UUID)


async def test_a_client_never_used_closes_cleanly():
    client = AsyncClient("t", "http://127.0.0.1:9/v1")
    await client.aclose()
    await client.aclose()  # idempotent


async def test_a_reset_beyond_the_cap_does_not_hold_other_requests(emulator):
    pid = _pid(emulator)
    emulator.inject(
        status=429, headers={"x-ratelimit-reset": str(int(time.time()) + 3600)}
    )
    async with make_client("async", emulator) as client:
        with pytest.raises(RateLimitError):
            await client.predictions.get(pid)
        assert client.session.rate_limit.remaining == 0
        # Held, it would wait an hour: the 30 s guard only tells a hold from
        # none, with room for any load (no duration is asserted).
        async with deadline(30):
            assert (await client.predictions.get(pid)).id == pid


async def test_a_body_over_max_response_size_is_refused_not_buffered(emulator):
    big = b'{"id": "' + b"x" * 5000 + b'", "status": "started"}'
    emulator.inject(status=200, body=big, content_type="application/json", times=1)
    emulator.inject(status=500, body=b"<html>" + b"y" * 5000, times=1)
    async with make_client(
        "async", emulator, max_response_size=1000, max_retries=0
    ) as c:
        with pytest.raises(ResponseDecodeError, match="max_response_size"):
            await c.predictions.get(UUID)
        with pytest.raises(ServerError) as caught:
            await c.predictions.get(UUID)
        assert caught.value.status == 500 and caught.value.detail is None
        pid = _pid(emulator)
        assert (await c.predictions.get(pid)).id == pid  # small bodies as usual


async def test_an_endless_chunked_body_is_cut_off():
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    sent = 0

    async def endless(request):
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)  # chunked: no Content-Length
        try:
            for _ in range(1024):  # up to 64 MiB, unless the client hangs up
                await response.write(b"[" * 65536)
                sent += 65536
        except (ConnectionResetError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    app = web.Application()
    app.router.add_get("/v1/predictions/{id}", endless)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("/v1"))
        async with AsyncClient("t", url, max_response_size=16384) as client:
            with pytest.raises(ResponseDecodeError, match="max_response_size"):
                await client.predictions.get(UUID)
    # The client hung up long before the end: only socket buffers' worth left.
    assert sent < 32 * 1024 * 1024


def test_max_response_size_must_be_positive():
    with pytest.raises(ValueError):
        AsyncClient("t", "http://127.0.0.1:9/v1", max_response_size=0)


async def test_the_middleware_chain_is_built_once_per_session(emulator, monkeypatch):
    # aiohttp caches a chain by the identity of its middlewares: one built
    # per call was a cache miss, and a new set of objects, every time.
    from wriftai_async._middlewares import AuthMiddleware, RetryMiddleware

    built: list[object] = []
    for cls in (AuthMiddleware, RetryMiddleware):
        original = cls.__init__

        def counting(self, *args, __original=original, **kwargs):
            built.append(self)
            __original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    async with make_client("async", emulator) as client:
        made = len(built)
        pid = _pid(emulator)
        for _ in range(3):
            await client.predictions.get(pid)
        async with client.session.stream("GET", f"/predictions/{pid}") as answer:
            await answer.read()
        await client.files.upload(b"x" * 10, mime_type="text/plain")
    assert made >= 2 and len(built) == made
    assert len(emulator.requests) >= 6
