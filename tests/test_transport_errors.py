"""Every aiohttp failure family becomes the right WriftAIError (``transport_errors``).

Mocked, not served: a certificate that fails verification, a fingerprint
mismatch or a proxy refusal is not something a loopback server can be made
to produce on demand, so aioresponses raises each exact aiohttp exception
where the request would have been sent (before the client's middlewares:
what is checked here is the mapping, not the retry policy). Wire behaviour
of the same failures over real sockets is in test_transport.py and
test_hostile_transport.py.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from yarl import URL

from wriftai_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    WriftAIError,
)

TOKEN = "tok-SECRET-do-not-show"
BASE = "http://127.0.0.1:9/v1"
# Every URL an exception mentions carries secrets in the places that are cut.
LEAKY = URL("http://user:SECRET@127.0.0.1:9/v1/models?sig=SECRET#SECRET")
_KEY: Any = SimpleNamespace(host="127.0.0.1", port=9, ssl=True, is_ssl=True)
_INFO = aiohttp.RequestInfo(LEAKY, "GET", {}, LEAKY)  # type: ignore[arg-type]
_CERT = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed")


def _families() -> dict[str, BaseException]:
    """One exact instance of every aiohttp.ClientError family, by class name."""
    built: dict[str, Any] = {
        "ClientError": lambda c: c("broken"),
        "ClientConnectionError": lambda c: c("broken"),
        "ClientConnectionResetError": lambda c: c("reset by peer"),
        "ClientOSError": lambda c: c(104, "Connection reset by peer"),
        "ClientConnectorError": lambda c: c(_KEY, ConnectionRefusedError(111, "no")),
        "ClientConnectorDNSError": lambda c: c(_KEY, OSError(-2, "Name unknown")),
        "ClientProxyConnectionError": lambda c: c(_KEY, OSError(111, "proxy")),
        "ClientSSLError": lambda c: c(_KEY, ssl.SSLError(1, "wrong version")),
        "ClientConnectorSSLError": lambda c: c(_KEY, ssl.SSLError(1, "handshake")),
        "ClientConnectorCertificateError": lambda c: c(_KEY, _CERT),
        "ServerConnectionError": lambda c: c("gone"),
        "ServerDisconnectedError": lambda c: c(),
        "ServerTimeoutError": lambda c: c("read timed out"),
        "ConnectionTimeoutError": lambda c: c("connect timed out"),
        "SocketTimeoutError": lambda c: c("socket read timed out"),
        "ServerFingerprintMismatch": lambda c: c(b"\0" * 32, b"\1" * 32, "h", 9),
        "ClientResponseError": lambda c: c(_INFO, (), status=400, message="bad"),
        "ClientHttpProxyError": lambda c: c(_INFO, (), status=407, message="auth"),
        "WSServerHandshakeError": lambda c: c(_INFO, (), status=400, message="ws"),
        "ContentTypeError": lambda c: c(_INFO, (), status=200, message="type"),
        "TooManyRedirects": lambda c: c(_INFO, (), status=302, message="loop"),
        "ClientPayloadError": lambda c: c(f"body broke off at {LEAKY}"),
        "UploadAbortedError": lambda c: c("aborted"),
        "InvalidURL": lambda c: c(LEAKY),
        "InvalidUrlClientError": lambda c: c(LEAKY),
        "RedirectClientError": lambda c: c(f"redirect to {LEAKY}"),
        "NonHttpUrlClientError": lambda c: c(LEAKY),
        "InvalidUrlRedirectClientError": lambda c: c(LEAKY, "bad redirect"),
        "NonHttpUrlRedirectClientError": lambda c: c(LEAKY),
    }
    return {
        name: make(getattr(aiohttp, name))
        for name, make in built.items()
        if hasattr(aiohttp, name)  # the floor, aiohttp 3.12, has fewer
    }


FAMILIES = _families()


def _subclasses(cls: type) -> set[type]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _subclasses(sub)
    return found


def test_every_public_client_error_family_is_covered() -> None:
    public = {
        cls.__name__
        for cls in _subclasses(aiohttp.ClientError)
        if cls.__module__.startswith("aiohttp.") and getattr(aiohttp, cls.__name__, 0)
    }
    assert public - set(FAMILIES) == set()


def _expected(exc: BaseException) -> type[WriftAIError]:
    # Timeouts (aiohttp's subclass asyncio.TimeoutError) are APITimeoutError.
    timeout = isinstance(exc, asyncio.TimeoutError)
    return APITimeoutError if timeout else APIConnectionError


def _check(caught: pytest.ExceptionInfo[WriftAIError], exc: BaseException) -> None:
    error = caught.value
    assert type(error) is _expected(exc)
    assert error.__cause__ is exc  # the exact aiohttp exception, for the curious
    message = str(error)
    assert type(exc).__name__ in message
    assert "SECRET" not in message and "127.0.0.1:9" in message


@pytest.mark.parametrize("name", sorted(FAMILIES))
async def test_a_request_maps_each_family(name: str) -> None:
    exc = FAMILIES[name]
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*"), exception=exc)
        async with AsyncClient(TOKEN, BASE, max_retries=0) as client:
            with pytest.raises(WriftAIError) as caught:
                await client.session.request("GET", "/models", params={"q": "x"})
    _check(caught, exc)


@pytest.mark.parametrize(
    "name", ["ClientConnectorCertificateError", "ServerFingerprintMismatch"]
)
async def test_a_stream_and_an_upload_part_map_them_too(name: str) -> None:
    exc = FAMILIES[name]
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*"), exception=exc)
        mocked.put(re.compile(r".*"), exception=exc)
        async with AsyncClient(TOKEN, BASE, max_retries=0) as client:
            with pytest.raises(WriftAIError) as caught:
                async with client.session.stream("GET", "/predictions/p/stream"):
                    pass
            _check(caught, exc)
            with pytest.raises(WriftAIError) as caught:
                await client.session.put_external(str(LEAKY), b"part")
            _check(caught, exc)


async def test_a_plain_timeout_is_an_api_timeout() -> None:
    exc = asyncio.TimeoutError()
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*"), exception=exc)
        async with AsyncClient(TOKEN, BASE, max_retries=0) as client:
            with pytest.raises(APITimeoutError) as caught:
                await client.session.request("GET", "/models")
    assert caught.value.__cause__ is exc


async def test_what_is_not_a_transport_failure_is_not_mapped() -> None:
    exc = RuntimeError("a bug of ours, not the network's")
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*"), exception=exc)
        async with AsyncClient(TOKEN, BASE, max_retries=0) as client:
            with pytest.raises(RuntimeError) as caught:
                await client.session.request("GET", "/models")
    assert caught.value is exc
