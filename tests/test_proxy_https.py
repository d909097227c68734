"""An ``https://`` proxy: TLS to the proxy itself, then ``CONNECT`` inside it.

The forward proxy of tests/forward_proxy.py serves TLS here (``ssl_context=``,
a certificate of this run's own CA from tests/tls_certs.py), and splices each
tunnel to the emulator, which serves TLS too: the API's TLS runs inside the
proxy's (TLS inside TLS), as through a corporate proxy reached over
``https://``. One ``ssl=`` context is used for both, so the client trusts
that CA through it.

Python 3.10's asyncio cannot run TLS inside TLS (``start_tls`` over a TLS
transport, bpo-44011): there the client refuses an ``https://`` proxy when it
is created, with a ``ValueError`` naming ``proxy`` or the variable (the
README's "Behind a proxy"). Each test asserts that refusal on 3.10 instead of
being skipped there.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import pathlib
import socketserver
import sys
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from wriftai_async import APIConnectionError, AsyncClient, Client
from wriftai_async._constants import USER_AGENT
from wriftai_async.testing import Emulator

from .conftest import (
    CLIENT_KINDS,
    close_client,
    collect,
    everything_about,
    make_client,
    resolve,
)
from .forward_proxy import TLS_HANDSHAKE, ForwardProxy, running_proxy
from .forward_proxy import emulator_port as _port
from .test_tracing import spans  # noqa: F401 (a fixture)
from .tls_certs import PKI, make_pki, tls_emulator, trusting

USER, PASSWORD = "alice", "https-pr0xy-pa55"
ENCODED = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PART = 400  # bytes per upload part: an upload of 1,000 bytes is three PUTs
TLS_IN_TLS = sys.version_info >= (3, 11)
REFUSED_ON_310 = r"names an https:// proxy .*TLS inside TLS needs Python 3\.11"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("https-proxy-pki"))


@pytest.fixture
def emu(pki: PKI) -> Iterator[Emulator]:
    with tls_emulator(pki, prediction_duration=0.05, upload_part_size=PART) as running:
        yield running


@pytest.fixture
def https_proxy(pki: PKI, emu: Emulator) -> Iterator[ForwardProxy]:
    """An https:// proxy to the TLS emulator, wanting ``alice``'s password."""
    with running_proxy(
        _port(emu), ssl_context=pki.server_context(), credentials=(USER, PASSWORD)
    ) as proxy:
        yield proxy


def _clear_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _assert_refused_on_310(
    kind: str, emu: Emulator, forward: ForwardProxy, **kwargs: Any
) -> None:
    """Python 3.10: the client is refused when created, before any socket."""
    with pytest.raises(ValueError, match=REFUSED_ON_310) as caught:
        make_client(kind, emu, **kwargs)
    assert PASSWORD not in str(caught.value)
    assert forward.seen == []


@pytest.mark.parametrize("how", ["env", "proxy="])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_client_reaches_the_api_through_an_https_proxy(
    pki: PKI,
    emu: Emulator,
    https_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    how: str,
) -> None:
    _clear_proxy_variables(monkeypatch)
    proxy_url = https_proxy.url(f"{USER}:{PASSWORD}")
    assert proxy_url.startswith("https://")
    kwargs: dict[str, Any] = {"ssl": trusting(pki), "headers": {"X-Team": "team-x"}}
    if how == "env":
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
    else:
        kwargs["proxy"] = proxy_url
    if not TLS_IN_TLS:
        _assert_refused_on_310(kind, emu, https_proxy, **kwargs)
        return
    client = make_client(kind, emu, **kwargs)
    try:
        user = await resolve(client.user.get())
        streamed = await resolve(
            client.predictions.create(
                "alice/text-echo", {"text": "x"}, stream=True, wait=False
            )
        )
        events = await collect(client.predictions.stream(streamed.id))
        url = await resolve(client.files.upload(b"h" * 1000, mime_type="text/plain"))
    finally:
        await close_client(client)
    assert user.username == emu.username
    assert events[-1].event == "done"
    assert url.startswith(f"https://127.0.0.1:{_port(emu)}/")
    # The proxy, past its own TLS, saw CONNECTs only: our agent and the
    # credentials on each, the API's TLS inside, never the token.
    assert len(https_proxy.seen) >= 2  # the API's tunnel and the storage host's
    for seen in https_proxy.seen:
        assert (seen.method, seen.target) == ("CONNECT", f"127.0.0.1:{_port(emu)}")
        assert seen.headers["user-agent"] == USER_AGENT
        assert seen.headers["proxy-authorization"] == f"Basic {ENCODED}"
        assert "authorization" not in seen.headers
        assert seen.tunneled.startswith(TLS_HANDSHAKE), bytes(seen.tunneled[:40])
        for secret in (emu.access_token.encode(), b"Bearer", b"team-x"):
            assert secret not in seen.head
            assert secret not in seen.tunneled
    # Inside: the emulator got the token and headers=, never the proxy's.
    api = [r for r in emu.requests if not r.path.startswith("/_storage")]
    assert api and len(emu.requests) > len(api)  # the upload's parts too
    for request in api:
        assert request.headers["Authorization"] == f"Bearer {emu.access_token}"
    assert all("Proxy-Authorization" not in r.headers for r in emu.requests)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_an_http_api_through_an_https_proxy_is_one_tls(
    pki: PKI, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ``http://`` API (a staging server): the request itself, inside the
    proxy's TLS, in absolute form (no TLS inside TLS, but refused on 3.10
    all the same: the check is on the proxy's URL, made once)."""
    _clear_proxy_variables(monkeypatch)
    with (
        Emulator(seed=True).run_in_thread() as plain,
        running_proxy(
            _port(plain),
            ssl_context=pki.server_context(),
            credentials=(USER, PASSWORD),
        ) as proxy,
    ):
        kwargs = {"ssl": trusting(pki), "proxy": proxy.url(f"{USER}:{PASSWORD}")}
        if not TLS_IN_TLS:
            _assert_refused_on_310(kind, plain, proxy, **kwargs)
            return
        base_url = plain.base_url
        client = make_client(kind, plain, **kwargs)
        try:
            user = await resolve(client.user.get())
        finally:
            await close_client(client)
    assert user.username == plain.username
    (seen,) = proxy.seen
    assert (seen.method, seen.target) == ("GET", f"{base_url}/user")
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["proxy-authorization"] == f"Basic {ENCODED}"


def test_an_https_proxy_variable_is_refused_on_310_by_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """3.10: the variable is named, and the way out (trust_env=False) given."""
    _clear_proxy_variables(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", f"https://{USER}:{PASSWORD}@proxy.test:3128")
    if TLS_IN_TLS:
        client = AsyncClient("tok", "https://api.test/v1")
        assert "proxy='https://proxy.test:3128'" in repr(client)
        assert PASSWORD not in repr(client)
        return
    with pytest.raises(ValueError) as caught:
        AsyncClient("tok", "https://api.test/v1")
    message = str(caught.value)
    assert message.startswith("HTTPS_PROXY names an https:// proxy")
    assert "https://proxy.test:3128" in message
    assert "trust_env=False" in message
    assert PASSWORD not in message


# -- whose certificate: the proxy's or the server's --------------------------------


def _assert_no_credentials(*texts: str) -> None:
    for text in texts:
        for secret in (PASSWORD, ENCODED, f"{USER}:"):
            assert secret not in text, text


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_an_untrusted_proxy_certificate_names_the_proxy_not_the_api(
    emu: Emulator,
    https_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    spans: Any,  # noqa: F811 (test_tracing's fixture, imported)
    kind: str,
) -> None:
    """No ssl=: the proxy's certificate (this run's CA) is the first refused."""
    _clear_proxy_variables(monkeypatch)
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    proxy_url = https_proxy.url(f"{USER}:{PASSWORD}")
    if not TLS_IN_TLS:
        _assert_refused_on_310(kind, emu, https_proxy, proxy=proxy_url)
        return
    client = make_client(kind, emu, proxy=proxy_url)
    _assert_no_credentials(repr(client))
    try:
        with pytest.raises(APIConnectionError) as caught:
            await resolve(client.user.get())
    finally:
        await close_client(client)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"GET {emu.base_url}/user failed: ")
    origin = f"https://127.0.0.1:{https_proxy.port}"
    assert f"the proxy's certificate was not trusted ({origin}: " in message
    assert "not the API's" in message
    assert "the server's certificate" not in message
    assert "pass ssl= a context that trusts it" in message
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorCertificateError)
    # Its own handshake failed: no CONNECT reached it, nothing the emulator.
    assert https_proxy.seen == []
    assert emu.requests == []
    recorded = [
        str(value)
        for span in spans.get_finished_spans()
        for value in [
            *span.attributes.values(),
            *(v for event in span.events for v in event.attributes.values()),
        ]
    ]
    _assert_no_credentials(caplog.text, *recorded, *everything_about(caught.value))


async def test_an_upload_part_through_an_untrusted_proxy_names_the_proxy(
    pki: PKI,
    emu: Emulator,
    https_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A presigned PUT, through the proxy while the API's calls go straight."""
    _clear_proxy_variables(monkeypatch)
    port = _port(emu)
    monkeypatch.setenv("HTTPS_PROXY", https_proxy.url(f"{USER}:{PASSWORD}"))
    monkeypatch.setenv("NO_PROXY", "localhost")  # the API; the part's host is not
    if not TLS_IN_TLS:
        with pytest.raises(ValueError, match=REFUSED_ON_310):
            AsyncClient(emu.access_token, f"https://localhost:{port}/v1")
        return
    part = f"https://127.0.0.1:{port}/_storage/uploads/u/parts/1?X-Signature=sig"
    async with AsyncClient(
        emu.access_token, f"https://localhost:{port}/v1", max_retries=0
    ) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.session.put_external(part, b"x")
    message = str(caught.value)
    assert message.startswith(f"PUT https://127.0.0.1:{port}/_storage/")
    assert "?" not in message.partition(" failed: ")[0]  # the signature: never
    assert "X-Signature" not in message
    assert "the proxy's certificate was not trusted (https://127.0.0.1:" in message
    assert https_proxy.seen == []
    _assert_no_credentials(*everything_about(caught.value))


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_trusted_proxy_before_an_untrusted_api_blames_the_api(
    pki: PKI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
    kind: str,
) -> None:
    """The proxy's TLS passes, the API's inside it does not: the server's."""
    _clear_proxy_variables(monkeypatch)
    other = make_pki(tmp_path)  # the API's certificate: a CA not trusted
    api = Emulator(seed=True, ssl_context=other.server_context())
    with (
        api.run_in_thread() as emu,
        running_proxy(
            _port(emu), ssl_context=pki.server_context(), credentials=(USER, PASSWORD)
        ) as proxy,
    ):
        kwargs = {"ssl": trusting(pki), "proxy": proxy.url(f"{USER}:{PASSWORD}")}
        if not TLS_IN_TLS:
            _assert_refused_on_310(kind, emu, proxy, **kwargs)
            return
        client = make_client(kind, emu, max_retries=0, **kwargs)
        try:
            with pytest.raises(APIConnectionError) as caught:
                await resolve(client.user.get())
        finally:
            await close_client(client)
        assert emu.requests == []
    message = str(caught.value)
    assert "the server's certificate was not trusted" in message
    assert "proxy's certificate" not in message
    assert f"127.0.0.1:{proxy.port}" not in message
    # The proxy's TLS passed, and the CONNECT with it: the API's TLS failed.
    (connect,) = proxy.seen
    assert connect.method == "CONNECT"
    assert connect.tunneled.startswith(TLS_HANDSHAKE)
    _assert_no_credentials(*everything_about(caught.value))


# -- the proxy's credentials show nowhere ------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("how", ["env", "proxy="])
def test_proxy_credentials_never_show_in_a_repr(
    monkeypatch: pytest.MonkeyPatch, scheme: str, how: str
) -> None:
    _clear_proxy_variables(monkeypatch)
    # Escaped, as a password with "@" or ":" must be: neither form shows.
    escaped = "p%40ss%3Aw0rd-xyz"
    url = f"{scheme}://{USER}:{escaped}@proxy.test:3128"
    kwargs: dict[str, Any] = {}
    if how == "env":
        monkeypatch.setenv("HTTPS_PROXY", url)
    else:
        kwargs["proxy"] = url
    if scheme == "https" and not TLS_IN_TLS:
        with pytest.raises(ValueError, match=REFUSED_ON_310) as caught:
            AsyncClient("tok", "https://api.test/v1", **kwargs)
        texts = [str(caught.value), repr(caught.value)]
    else:
        client = AsyncClient("tok", "https://api.test/v1", **kwargs)
        sync = Client("tok", "https://api.test/v1", **kwargs)
        try:
            route = client.session._api_route
            assert route is not None
            texts = [
                repr(client),
                str(client),
                repr(client.session),
                repr(route),
                repr(route.url),
                repr(sync),
                str(sync),
            ]
            assert f"proxy='{scheme}://proxy.test:3128'" in repr(client)
        finally:
            sync.close()
    for text in texts:
        for secret in (escaped, "p@ss:w0rd-xyz", "w0rd-xyz", f"{USER}:"):
            assert secret not in text, text


class _PlainHTTPProxy(socketserver.ThreadingTCPServer):
    """Answers whatever comes, a TLS ClientHello included, as an HTTP proxy
    (Squid, say) answers bytes that are not HTTP: ``400`` in plain text."""

    daemon_threads = True
    allow_reuse_address = True

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(4096)
            self.request.sendall(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                b"Connection: close\r\n\r\n"
            )

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), self.Handler)
        self.port: int = self.server_address[1]


@contextlib.contextmanager
def _plain_http_proxy() -> Iterator[_PlainHTTPProxy]:
    server = _PlainHTTPProxy()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_an_https_proxy_url_on_a_plain_http_proxy_names_the_proxy(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``https://`` given for a proxy that speaks plain HTTP: the proxy's URL
    is the one to fix, not the API's."""
    _clear_proxy_variables(monkeypatch)
    with _plain_http_proxy() as plain:
        proxy_url = f"https://{USER}:{PASSWORD}@127.0.0.1:{plain.port}"
        if not TLS_IN_TLS:
            with pytest.raises(ValueError, match=REFUSED_ON_310):
                make_client(kind, emu, proxy=proxy_url)
            return
        client = make_client(kind, emu, proxy=proxy_url, max_retries=0)
        try:
            with pytest.raises(APIConnectionError) as caught:
                await resolve(client.user.get())
        finally:
            await close_client(client)
    message = str(caught.value)
    assert (
        f"the proxy (https://127.0.0.1:{plain.port}) did not answer in TLS" in message
    )
    assert "a plain http:// proxy; check the proxy URL's scheme" in message
    assert emu.requests == []
    _assert_no_credentials(*everything_about(caught.value))
