"""A wrong base URL or port, said plainly (over real sockets on 127.0.0.1).

The mistakes a new user makes first: the origin without ``/v1``, an
``https://`` URL on a plain-http port, a port where nothing listens. Each
error names the mistake instead of aiohttp's internals (``ssl:default``,
``WRONG_VERSION_NUMBER`` alone, ``Connect call failed``).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any, TypeVar

import pytest

from tests.accept_loop import AcceptLoop
from tests.conftest import CLIENT_KINDS, FAST_RETRY, resolve
from wriftai_async import APIConnectionError, AsyncClient, Client, NotFoundError
from wriftai_async.testing import Emulator

E = TypeVar("E", bound=BaseException)


async def _failure(
    expected: type[E], kind: str, base_url: str, token: str, **kwargs: Any
) -> E:
    """What ``users.get(username)`` raises on a client of ``kind``."""
    username = kwargs.pop("username", "alice")
    cls = AsyncClient if kind == "async" else Client
    client = cls(access_token=token, base_url=base_url, retry=FAST_RETRY, **kwargs)
    try:
        with pytest.raises(expected) as caught:
            await resolve(client.users.get(username))
    finally:
        await resolve(client.aclose() if kind == "async" else client.close())
    return caught.value


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("path", ["", "/", "/v2"])
async def test_a_404_from_a_base_url_without_v1_says_so(
    emulator: Emulator, kind: str, path: str
) -> None:
    origin = emulator.base_url.removesuffix("/v1")
    error = await _failure(NotFoundError, kind, origin + path, emulator.access_token)
    hint = error.hint
    assert (
        hint is not None and "has no /v1" in hint and "https://api.wrift.ai/v1" in hint
    )
    assert hint in str(error)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_404_of_the_api_itself_has_no_hint(
    emulator: Emulator, kind: str
) -> None:
    error = await _failure(
        NotFoundError,
        kind,
        emulator.base_url,
        emulator.access_token,
        username="nobody-at-all",
    )
    assert error.hint is None
    assert "/v1," not in str(error)


class PlainHTTPServer(AcceptLoop):
    """Counts the connections it accepts and answers each in plain HTTP."""

    def handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)  # the ClientHello
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_https_to_a_plain_http_port_is_said_and_not_retried(kind: str) -> None:
    with PlainHTTPServer() as server:
        url = f"https://127.0.0.1:{server.port}/v1"
        error = await _failure(
            APIConnectionError, kind, url, "tok-SECRET", max_retries=3
        )
    message = str(error)
    assert "did not answer in TLS" in message and "http://" in message
    assert server.connections == 1  # a wrong scheme does not pass by retrying
    assert "SECRET" not in message


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_port_where_nothing_listens_is_said_plainly(kind: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    # Closed: nothing listens there now (nothing else binds it this soon).
    url = f"http://127.0.0.1:{port}/v1"
    error = await _failure(APIConnectionError, kind, url, "t", max_retries=0)
    message = str(error)
    assert f"cannot connect to 127.0.0.1:{port} (connection refused" in message
    assert "ssl:" not in message
