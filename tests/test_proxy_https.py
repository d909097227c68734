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
import ssl
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from wriftai_async import AsyncClient
from wriftai_async._constants import USER_AGENT
from wriftai_async.testing import Emulator

from .conftest import CLIENT_KINDS, collect, make_client, resolve
from .forward_proxy import ForwardProxy, running_proxy
from .forward_proxy import emulator_port as _port
from .tls_certs import PKI, make_pki

USER, PASSWORD = "alice", "https-pr0xy-pa55"
ENCODED = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
PART = 400  # bytes per upload part: an upload of 1,000 bytes is three PUTs
# A TLS handshake record (content type 22, version 3.x): what the client
# sends first inside a tunnel, once the proxy's own TLS is unwrapped.
TLS_HANDSHAKE = b"\x16\x03"
TLS_IN_TLS = sys.version_info >= (3, 11)
REFUSED_ON_310 = r"names an https:// proxy .*TLS inside TLS needs Python 3\.11"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("https-proxy-pki"))


@pytest.fixture
def emu(pki: PKI) -> Iterator[Emulator]:
    server = Emulator(
        seed=True,
        ssl_context=pki.server_context(),
        prediction_duration=0.05,
        upload_part_size=PART,
    )
    with server.run_in_thread() as running:
        yield running


@pytest.fixture
def https_proxy(pki: PKI, emu: Emulator) -> Iterator[ForwardProxy]:
    """An https:// proxy to the TLS emulator, wanting ``alice``'s password."""
    with running_proxy(
        _port(emu), ssl_context=pki.server_context(), credentials=(USER, PASSWORD)
    ) as proxy:
        yield proxy


def trusting(pki: PKI) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=pki.ca)
    return context


def _clear_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


async def _close(client: Any) -> None:
    if isinstance(client, AsyncClient):
        await client.aclose()
    else:
        client.close()


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
        await _close(client)
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
            await _close(client)
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
