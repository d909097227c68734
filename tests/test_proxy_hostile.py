"""A proxy that misbehaves: only a ``WriftAIError`` escapes, and never its password.

Each proxy here is a raw socket server on 127.0.0.1 that reads the request
head (a ``CONNECT`` for an ``https://`` URL, the request itself for an
``http://`` one) and answers what no proxy should: garbage, a head too long
to parse, a ``200`` then nothing, a redirect, or silence. aiohttp keeps the
request's headers (with the proxy's ``Proxy-Authorization``) in the
``request_info`` of a ``ClientResponseError``; ours keeps that error as a
cause, so the credentials must be gone from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import hdrs

from wriftai_async import APIConnectionError, APIStatusError, APITimeoutError

from .forward_proxy import running_proxy
from .test_proxy import (
    PASSWORD,
    USER,
    _assert_no_secret,
    _client,
    _everything_about,
    _port,
)

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"garbage, not HTTP\r\n\r\n")


async def _endless_head(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n")


async def _ok_then_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")


async def _redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 302 Found\r\nLocation: http://elsewhere.test/\r\n"
        b"Content-Length: 0\r\n\r\n"
    )


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up and closes


async def _serve(answer: Answer) -> AsyncIterator[int]:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            await answer(reader, writer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def hostile(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    async for port in _serve(request.param):
        yield port


def _hostile_client(emulator: Any, port: int, scheme: str) -> Any:
    return _client(
        emulator,
        base_url=f"{scheme}://127.0.0.1:9/v1",  # never reached: the proxy answers
        proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:{port}",
        timeout=0.5,
        max_retries=1,  # an earlier attempt's error is in the chain too
    )


@pytest.mark.parametrize("scheme", ["https", "http"])
@pytest.mark.parametrize(
    ("hostile", "error"),
    [
        (_garbage, APIConnectionError),
        (_endless_head, APIConnectionError),
        (_silent, APITimeoutError),
    ],
    indirect=["hostile"],
)
async def test_a_proxy_answering_nonsense_never_shows_the_password(
    emulator, hostile, scheme, error, caplog
):
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    async with _hostile_client(emulator, hostile, scheme) as client:
        with pytest.raises(error) as caught:
            await client.request("GET", "/hardware")
    _assert_no_secret(caplog.text, *_everything_about(caught.value))


@pytest.mark.parametrize(
    ("hostile", "scheme", "error"),
    [
        # A tunnel "opened", then closed: TLS never starts.
        (_ok_then_close, "https", APIConnectionError),
        # A redirect instead of a tunnel is a refused CONNECT.
        (_redirect, "https", APIConnectionError),
        # For an http:// URL the proxy's redirect is the answer: not followed
        # off the API's origin.
        (_redirect, "http", APIStatusError),
    ],
    indirect=["hostile"],
)
async def test_a_proxy_misleading_the_client_raises_a_wriftai_error(
    emulator, hostile, scheme, error
):
    async with _hostile_client(emulator, hostile, scheme) as client:
        with pytest.raises(error) as caught:
            await client.request("GET", "/hardware")
    _assert_no_secret(*_everything_about(caught.value))


async def test_a_response_through_a_proxy_keeps_no_credentials(emulator):
    """An ``http://`` URL: the request itself carried ``Proxy-Authorization``;
    the response handed back shows its request's headers without it, as it
    shows them without the token."""
    with running_proxy(_port(emulator), credentials=(USER, PASSWORD)) as proxy:
        client = _client(emulator, proxy=proxy.url(f"{USER}:{PASSWORD}"))
        async with client, client.session.stream("GET", "/hardware") as response:
            assert response.status == 200
            sent = response.request_info.headers
            await response.read()
        assert proxy.seen[0].headers["proxy-authorization"].startswith("Basic ")
    assert hdrs.PROXY_AUTHORIZATION not in sent
    assert hdrs.AUTHORIZATION not in sent
    _assert_no_secret(repr(response), repr(response.request_info))
