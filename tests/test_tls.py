"""``ssl=``: your own certificate authority and client certificate, over real TLS.

Every server here listens on 127.0.0.1 with a certificate signed by a CA made
for this test run (tests/tls_certs.py, the ``openssl`` command): the emulator
in its TLS mode, an upload host of its own, and a plain threaded TLS server
that sends OpenSSL's alerts as real servers (nginx, Envoy) do, where
asyncio's server closes without flushing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import pathlib
import re
import shutil
import socket
import ssl
import sys
import threading
import warnings
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.accept_loop import AcceptLoop
from tests.conftest import (
    CLIENT_KINDS,
    FAST_RETRY,
    close_client,
    collect,
    make_client,
    resolve,
)
from tests.tls_certs import PKI, make_pki, tls_emulator, trusting
from wriftai_async import APIConnectionError, AsyncClient, Client, NotFoundError

# Python 3.10's asyncio (the old sslproto) never marks a TLS transport
# closed when the connection dies of an SSL error after the handshake (a TLS
# 1.3 server refusing the client's certificate): its __del__ warns at the
# next collection, though the socket is closed. Fixed by 3.11's sslproto;
# only those tests, only there.
_SSL_DEATH_ON_310 = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function _SSLProtocolTransport.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
    if sys.version_info < (3, 11)
    else "default::DeprecationWarning:nowhere"  # a no-op on 3.11+
)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """Another CA: its client certificate is one the servers do not trust."""
    return make_pki(tmp_path_factory.mktemp("other-pki"))


class AlertingServer(AcceptLoop):
    """A threaded TLS server on 127.0.0.1 that counts the handshakes begun.

    A handshake that fails sends OpenSSL's alert before the socket closes;
    one that succeeds gets a ``200 {}`` to whatever it asks.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__()
        self.context = context
        self.url = f"https://127.0.0.1:{self.port}/v1"

    def handle(self, conn: socket.socket) -> None:
        tls = self.context.wrap_socket(
            conn, server_side=True, do_handshake_on_connect=False
        )
        with contextlib.suppress(OSError), tls:  # ssl.SSLError included
            try:
                tls.do_handshake()
            except ssl.SSLError:
                # The alert is sent; close as nginx does (lingering):
                # a close with the request unread would send a reset,
                # which may reach the client before the alert.
                socket.socket.shutdown(tls, socket.SHUT_WR)
                while socket.socket.recv(tls, 65536):
                    pass
                return
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


# -- without ssl=: the default verification ------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_without_ssl_a_private_ca_is_not_trusted(pki: PKI, kind: str) -> None:
    with tls_emulator(pki) as emu:
        client = make_client(kind, emu)
        try:
            with pytest.raises(APIConnectionError) as caught:
                await collect(client.hardware.list())
        finally:
            await close_client(client)
        assert emu.requests == []  # nothing, the token least of all, was sent
    message = str(caught.value)
    assert "\n" not in message
    assert "the server's certificate was not trusted" in message
    assert "pass ssl= a context that trusts it" in message
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorCertificateError)


async def test_an_untrusted_certificate_is_not_retried(pki: PKI) -> None:
    with AlertingServer(pki.server_context()) as server:
        async with AsyncClient("token", server.url, retry=FAST_RETRY) as client:
            with pytest.raises(APIConnectionError, match="was not trusted"):
                await client.hardware.list_page()  # a GET: retried if it could pass
    assert server.connections == 1


# -- ssl= a context trusting the CA --------------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_context_trusting_the_ca_is_used(pki: PKI, kind: str) -> None:
    with tls_emulator(pki) as emu:
        client = make_client(kind, emu, ssl=trusting(pki))
        try:
            hardware = await collect(client.hardware.list())
            # The parts go to the storage host's presigned https:// URLs.
            url = await resolve(client.files.upload(b"x" * 1000))
        finally:
            await close_client(client)
        assert emu.base_url.startswith("https://")
    assert hardware and url.startswith("https://127.0.0.1:")


# -- a client certificate (mutual TLS) -----------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_client_certificate_in_the_context_is_presented(
    pki: PKI, kind: str
) -> None:
    with tls_emulator(pki, require_client_cert=True) as emu:
        client = make_client(kind, emu, ssl=trusting(pki, client_cert=pki))
        try:
            assert await collect(client.hardware.list())
        finally:
            await close_client(client)


@_SSL_DEATH_ON_310
async def test_the_emulator_refuses_a_client_without_its_certificate(
    pki: PKI,
) -> None:
    with tls_emulator(pki, require_client_cert=True) as emu:
        async with make_client("async", emu, ssl=trusting(pki)) as client:
            with pytest.raises(APIConnectionError):
                await client.hardware.list_page()
        assert emu.requests == []


@_SSL_DEATH_ON_310
async def test_a_missing_client_certificate_is_said_plainly(pki: PKI) -> None:
    server_context = pki.server_context(require_client_cert=True)
    with AlertingServer(server_context) as server:
        async with AsyncClient(
            "token", server.url, retry=FAST_RETRY, max_retries=3, ssl=trusting(pki)
        ) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.hardware.list_page()
    message = str(caught.value)
    assert "\n" not in message
    assert "requires a client certificate and none was sent" in message
    assert "load_cert_chain" in message
    # Not retried (it would fail the same way): 8 connections before. aiohttp
    # itself re-sends a GET once after a broken connection (RFC 9112's retry
    # of an idempotent request), outside the retry policy: hence 2.
    assert server.connections <= 2


@_SSL_DEATH_ON_310
async def test_a_client_certificate_of_another_ca_is_said_refused(
    pki: PKI, other_pki: PKI
) -> None:
    server_context = pki.server_context(require_client_cert=True)
    context = trusting(pki, client_cert=other_pki)
    with AlertingServer(server_context) as server:
        async with AsyncClient("token", server.url, ssl=context) as client:
            with pytest.raises(APIConnectionError, match="refused the client cert"):
                await client.hardware.list_page()


async def test_a_tls12_handshake_refusal_names_the_client_certificate(
    pki: PKI,
) -> None:
    server_context = pki.server_context(require_client_cert=True)
    server_context.maximum_version = ssl.TLSVersion.TLSv1_2
    with AlertingServer(server_context) as server:
        async with AsyncClient("token", server.url, ssl=trusting(pki)) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.hardware.list_page()
    assert "refused the TLS handshake" in str(caught.value)
    assert "client certificate" in str(caught.value)


# -- a presigned upload on another TLS host ------------------------------------


@contextlib.asynccontextmanager
async def upload_host(pki: PKI, received: list[bytes]) -> Any:
    """Another origin (its own port), which requires a client certificate."""

    async def put(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(headers={"ETag": '"part-1"'})

    app = web.Application()
    app.router.add_put("/bucket/part", put)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    context = pki.server_context(require_client_cert=True)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}/bucket/part?X-Signature=abc"
    finally:
        await runner.cleanup()


async def test_a_presigned_upload_uses_the_same_context(pki: PKI) -> None:
    received: list[bytes] = []
    context = trusting(pki, client_cert=pki)
    async with upload_host(pki, received) as url:
        async with AsyncClient("token", "https://127.0.0.1:9/v1", ssl=context) as c:
            headers = await c.session.put_external(url, b"part one")
        async with AsyncClient("token", "https://127.0.0.1:9/v1") as default:
            with pytest.raises(APIConnectionError, match="was not trusted"):
                await default.session.put_external(url, b"part two")
    assert headers["ETag"] == '"part-1"'
    assert received == [b"part one"]


# -- what ssl= refuses ---------------------------------------------------------


def _server_side_context() -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)


def _unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


REFUSED = [
    (False, TypeError, "ssl=False is not offered: without certificate verification"),
    (True, TypeError, r"pass nothing \(ssl=None\)"),
    ("/etc/ssl/corp-ca.pem", TypeError, "not a path: .*load_verify_locations"),
    (pathlib.Path("ca.pem"), TypeError, "not a path"),
    (b"ca.pem", TypeError, "not a path"),
    (1, TypeError, "ssl must be an ssl.SSLContext or None, not int"),
    (_server_side_context, ValueError, "a server's context"),
    (_unverified_context, ValueError, "ssl must verify the server"),
]


@pytest.mark.parametrize("cls", [AsyncClient, Client])
@pytest.mark.parametrize(("value", "kind", "message"), REFUSED)
def test_refused_values_say_why(cls: Any, value: Any, kind: type, message: str) -> None:
    if callable(value):
        value = value()
    # A constructor never sends: the refusal comes before any request could.
    with pytest.raises(kind, match=message) as caught:
        cls("token", "https://127.0.0.1:9/v1", ssl=value)
    assert "\n" not in str(caught.value)


def test_the_repr_does_not_show_the_context(pki: PKI) -> None:
    context = trusting(pki)
    for cls in (AsyncClient, Client):
        plain = cls("token", "https://127.0.0.1:9/v1")
        custom = cls("token", "https://127.0.0.1:9/v1", ssl=context)
        try:
            assert repr(custom) == repr(plain)
            assert "SSLContext" not in repr(custom) and len(repr(custom)) < 100
        finally:
            if isinstance(plain, Client):
                plain.close()
                custom.close()
            else:
                asyncio.run(plain.aclose())
                asyncio.run(custom.aclose())


# -- the README's example --------------------------------------------------------


def test_the_readme_example_runs_against_mutual_tls(
    pki: PKI,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    (example,) = re.findall(
        r"```python ssl-example\n(.*?)```", readme.read_text("utf-8"), re.S
    )
    for name, source in [
        ("corp-ca.pem", pki.ca),
        ("client.pem", pki.client_cert),
        ("client.key", pki.client_key),
    ]:
        shutil.copy(source, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    with tls_emulator(pki, require_client_cert=True) as emu:
        monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", emu.access_token)
        monkeypatch.setenv("WRIFTAI_API_BASE_URL", emu.base_url)
        exec(compile(example, "README.md (ssl-example)", "exec"), {})
        assert capsys.readouterr().out == f"{emu.username}\n"


# -- a connection the server ends: closed with the sync client ----------------


class ClosingServer:
    """A threaded TLS server that answers once with ``Connection: close``.

    It never answers the client's close_notify (many servers drop the socket
    instead), so a graceful TLS shutdown on the client would wait for it;
    it records when the client's side of the socket is gone.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.closed_by_client = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.url = f"https://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        conn, _ = self._sock.accept()
        conn.settimeout(10)
        with (
            contextlib.suppress(OSError),
            self.context.wrap_socket(conn, server_side=True) as tls,
        ):
            tls.recv(65536)
            body = b'{"detail": "Not found."}'
            tls.sendall(
                b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            # Read under TLS, unanswered: a close_notify, then the end of TCP.
            while socket.socket.recv(tls, 65536):
                pass
            self.closed_by_client.set()

    def __enter__(self) -> ClosingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()
        self._thread.join(timeout=15)


def _call_and_close_sync(url: str, context: ssl.SSLContext) -> None:
    client = Client(access_token="t", base_url=url, ssl=context, retry=FAST_RETRY)
    with pytest.raises(NotFoundError):
        client.users.get("nobody")
    client.close()


def _call_and_close_async(url: str, context: ssl.SSLContext) -> None:
    async def call() -> None:
        async with AsyncClient(
            access_token="t", base_url=url, ssl=context, retry=FAST_RETRY
        ) as client:
            with pytest.raises(NotFoundError):
                await client.users.get("nobody")

    asyncio.run(call())  # the loop closes right after the client


@_SSL_DEATH_ON_310
@pytest.mark.parametrize(
    "call_and_close",
    [_call_and_close_sync, _call_and_close_async],
    ids=["sync", "async"],
)
def test_closing_the_client_closes_a_connection_the_server_ended(
    pki: PKI, call_and_close: Any
) -> None:
    # The loop closed while asyncio still waited (up to 30 s) for the
    # server's close_notify: the socket stayed open and "unclosed transport"
    # was warned when it was collected. Closing the client aborts it.
    with ClosingServer(pki.server_context()) as server:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call_and_close(server.url, trusting(pki))
            # Bounded: the server sees the socket end well before 30 s.
            assert server.closed_by_client.wait(timeout=10)
            gc.collect()
        unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
        assert unclosed == []
