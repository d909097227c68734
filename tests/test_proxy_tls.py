"""The corporate case: an ``https://`` API through an ``http://`` proxy, end to end.

Every call is a ``CONNECT host:port`` to the forward proxy of
tests/forward_proxy.py, which splices the bytes to the emulator serving real
TLS with a certificate of this run's own CA (tests/tls_certs.py); the client
trusts that CA through ``ssl=``. What the proxy saw is read off its record:
the ``CONNECT`` lines, and what the client sent inside each tunnel (TLS
records, never a plaintext request). Python 3.10 included: only TLS inside
TLS (an ``https://`` proxy) needs 3.11.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from wriftai_async import APIConnectionError, PredictionStatus
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
from .tls_certs import PKI, make_pki, tls_emulator, trusting

USER, PASSWORD = "alice", "tunnel-pa55word"
ENCODED = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PART = 400  # bytes per upload part: an upload of 1,000 bytes is three PUTs


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("tunnel-pki"))


@pytest.fixture
def emu(pki: PKI) -> Iterator[Emulator]:
    with tls_emulator(pki, prediction_duration=0.05, upload_part_size=PART) as running:
        yield running


@pytest.fixture
def proxy(emu: Emulator) -> Iterator[ForwardProxy]:
    with running_proxy(_port(emu)) as p:
        yield p


@pytest.fixture
def locked_proxy(emu: Emulator) -> Iterator[ForwardProxy]:
    with running_proxy(_port(emu), credentials=(USER, PASSWORD)) as p:
        yield p


def _proxied(
    kind: str,
    emu: Emulator,
    proxy_url: str,
    how: str,
    monkeypatch: pytest.MonkeyPatch,
    **kwargs: Any,
) -> Any:
    """A client whose proxy is ``HTTPS_PROXY`` (``how="env"``) or ``proxy=``."""
    for name in ("HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    if how == "env":
        monkeypatch.setenv("HTTPS_PROXY", proxy_url)
        monkeypatch.delenv("https_proxy", raising=False)  # it would win
    else:
        kwargs["proxy"] = proxy_url
    return make_client(kind, emu, **kwargs)


def _assert_only_tunnels(proxy: ForwardProxy, emu: Emulator, *secrets: str) -> None:
    """The proxy saw ``CONNECT``s of the API's host and TLS inside, nothing else."""
    assert proxy.seen
    for seen in proxy.seen:
        assert (seen.method, seen.target) == ("CONNECT", f"127.0.0.1:{_port(emu)}")
        assert "authorization" not in seen.headers
        # Inside: TLS from the first byte, never a request the proxy can read.
        assert seen.tunneled.startswith(TLS_HANDSHAKE), bytes(seen.tunneled[:40])
        assert b"HTTP/1.1" not in seen.tunneled
        for secret in (b"Bearer", *(s.encode() for s in secrets)):
            assert secret not in seen.head
            assert secret not in seen.tunneled


# -- every kind of call, through the tunnel ------------------------------------


@pytest.mark.parametrize("how", ["env", "proxy="])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_every_kind_of_call_goes_through_the_tunnel(
    pki: PKI,
    emu: Emulator,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    how: str,
) -> None:
    emu.add_user("ivy")
    for i in range(5):
        emu.add_model("ivy", f"m{i}")
    client = _proxied(
        kind,
        emu,
        proxy.url(),
        how,
        monkeypatch,
        ssl=trusting(pki),
        headers={"X-Team": "secret-team"},
    )
    try:
        user = await resolve(client.user.get())
        models = await collect(client.models.list_for_user("ivy", page_size=2))
        done = await resolve(
            client.predictions.create(
                "alice/text-echo",
                {"text": "through"},
                wait=True,
                timeout=10,
                poll_interval=0.02,
            )
        )
        streamed = await resolve(
            client.predictions.create(
                "alice/text-echo", {"text": "through"}, stream=True, wait=False
            )
        )
        events = await collect(client.predictions.stream(streamed.id))
        url = await resolve(client.files.upload(b"x" * 1000, mime_type="text/plain"))
    finally:
        await close_client(client)
    assert user.username == emu.username
    assert [m.name for m in models] == [f"m{i}" for i in range(5)]
    assert len([r for r in emu.requests if r.path == "/models/ivy"]) == 3  # pages
    assert done.status is PredictionStatus.SUCCEEDED
    assert events[0].event == "init" and events[-1].event == "done"
    assert url.startswith(f"https://127.0.0.1:{_port(emu)}/")

    _assert_only_tunnels(proxy, emu, emu.access_token, "secret-team")
    # The API's calls on one pooled tunnel, the parts on the storage
    # session's: a few tunnels for the ten-odd requests, not one each.
    assert 2 <= len(proxy.seen) <= 4, [s.target for s in proxy.seen]
    # Inside the tunnel the emulator got the token and headers=; the
    # presigned parts (to the storage host) neither.
    parts = [r for r in emu.requests if r.method == "PUT"]
    api = [r for r in emu.requests if not r.path.startswith("/_storage")]
    assert len(parts) == 3 and len(api) >= 7
    for request in api:
        assert request.headers["Authorization"] == f"Bearer {emu.access_token}"
        assert request.headers["X-Team"] == "secret-team"
    for part in parts:
        assert "Authorization" not in part.headers
        assert "X-Team" not in part.headers


# -- the proxy's credentials -----------------------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_each_connect_carries_the_proxy_credentials(
    pki: PKI,
    emu: Emulator,
    locked_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    client = _proxied(
        kind,
        emu,
        locked_proxy.url(f"{USER}:{PASSWORD}"),
        "env",
        monkeypatch,
        ssl=trusting(pki),
    )
    try:
        user = await resolve(client.user.get())
        await resolve(client.files.upload(b"y" * 1000, mime_type="text/plain"))
    finally:
        await close_client(client)
    assert user.username == emu.username
    assert len(locked_proxy.seen) >= 2  # the API's tunnel and the storage's
    for seen in locked_proxy.seen:
        assert seen.method == "CONNECT"
        assert seen.headers["proxy-authorization"] == f"Basic {ENCODED}"
        assert seen.tunneled.startswith(TLS_HANDSHAKE)
        assert emu.access_token.encode() not in seen.head + seen.tunneled
    # The proxy's header ended at the proxy: the emulator never got it.
    assert emu.requests
    assert all("Proxy-Authorization" not in r.headers for r in emu.requests)


@pytest.mark.parametrize("credentials", [True, False], ids=["password", "open"])
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_each_connect_carries_our_user_agent_and_never_the_token(
    pki: PKI,
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    credentials: bool,
) -> None:
    """Corporate proxies log and filter by agent: ours, not aiohttp's."""
    options: dict[str, Any] = {"credentials": (USER, PASSWORD)} if credentials else {}
    with running_proxy(_port(emu), **options) as proxy:
        user_info = f"{USER}:{PASSWORD}" if credentials else ""
        client = _proxied(
            kind,
            emu,
            proxy.url(user_info),
            "proxy=",
            monkeypatch,
            ssl=trusting(pki),
            headers={"X-Team": "secret-team"},
        )
        try:
            await resolve(client.user.get())
            await resolve(client.files.upload(b"u" * 1000, mime_type="text/plain"))
        finally:
            await close_client(client)
    assert len(proxy.seen) >= 2  # the API's tunnel and the storage host's
    for seen in proxy.seen:
        assert seen.method == "CONNECT"
        assert seen.headers["user-agent"] == USER_AGENT, seen.head
        assert b"aiohttp" not in seen.head
        assert seen.head.lower().count(b"user-agent:") == 1
        assert ("proxy-authorization" in seen.headers) is credentials
        assert "authorization" not in seen.headers
        assert emu.access_token.encode() not in seen.head
        assert b"secret-team" not in seen.head
    # Inside the tunnels the API's requests carried the same agent.
    assert emu.requests
    assert {r.headers["User-Agent"] for r in emu.requests} == {USER_AGENT}


# -- without ssl=: the one-line refusal, through the tunnel ----------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_an_untrusted_certificate_through_the_tunnel_is_said_plainly(
    emu: Emulator,
    locked_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    client = _proxied(
        kind, emu, locked_proxy.url(f"{USER}:{PASSWORD}"), "env", monkeypatch
    )
    try:
        with pytest.raises(APIConnectionError) as caught:
            await resolve(client.user.get())
    finally:
        await close_client(client)
    message = str(caught.value)
    assert "\n" not in message
    assert "the server's certificate was not trusted" in message
    assert "pass ssl= a context that trusts it" in message
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorCertificateError)
    # It was the tunnel's TLS that failed: the CONNECT went through, with
    # the credentials, then the handshake; no request reached the emulator.
    (connect,) = locked_proxy.seen
    assert connect.method == "CONNECT"
    assert connect.headers["proxy-authorization"] == f"Basic {ENCODED}"
    assert connect.tunneled.startswith(TLS_HANDSHAKE)
    assert emu.requests == []
    for text in everything_about(caught.value):
        assert PASSWORD not in text and ENCODED not in text, text


# -- connection reuse: a tunnel is pooled like any connection ------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_sequential_calls_reuse_their_tunnels(
    pki: PKI,
    emu: Emulator,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    calls = 12
    client = _proxied(kind, emu, proxy.url(), "env", monkeypatch, ssl=trusting(pki))
    try:
        for _ in range(calls):
            await resolve(client.user.get())
        after_calls = len(proxy.seen)
        # Three parts, sent at once: up to three tunnels to the storage host
        # (its own session's pool), then kept for the next uploads' parts.
        await resolve(client.files.upload(b"z" * 1000, mime_type="text/plain"))
        after_one_upload = len(proxy.seen)
        for _ in range(3):
            await resolve(client.files.upload(b"z" * 1000, mime_type="text/plain"))
    finally:
        await close_client(client)
    assert len([r for r in emu.requests if r.path == "/user"]) == calls
    assert after_calls == 1  # one tunnel for twelve calls, not twelve
    assert 2 <= after_one_upload <= 1 + 3, [s.target for s in proxy.seen]
    # Four uploads (each two API calls and three parts) opened no more.
    assert len(proxy.seen) == after_one_upload


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_stream_read_to_its_end_leaves_its_tunnel_pooled(
    pki: PKI,
    emu: Emulator,
    proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """The body's end comes just after ``done``: waited for, not cut off.

    A stream ends at its terminal event, a moment before the server's end
    of the body (the last chunk) arrives; a connection closed then rather
    than pooled was a new tunnel (CONNECT and TLS handshake) for the next
    call, after about half of the streams.
    """
    streams = 20
    client = _proxied(kind, emu, proxy.url(), "env", monkeypatch, ssl=trusting(pki))
    try:
        created = [
            await resolve(
                client.predictions.create(
                    "alice/text-echo", {"text": "x"}, stream=True, wait=False
                )
            )
            for _ in range(streams)
        ]
        for prediction in created:
            events = await collect(client.predictions.stream(prediction.id))
            assert events[-1].event == "done"
    finally:
        await close_client(client)
    assert len([r for r in emu.requests if r.path.endswith("/stream")]) == streams
    # One tunnel; a second if the machine is slow enough that a body's end
    # arrives later than the wait for it (a bounded moment).
    assert len(proxy.seen) <= 2, len(proxy.seen)
