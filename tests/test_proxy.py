"""Behind a proxy: ``proxy=``, ``trust_env`` and the ``*_PROXY`` variables.

Every request goes to a real forward proxy on 127.0.0.1
(``tests/forward_proxy.py``) that records what it saw and forwards to the
emulator: the client's choice of proxy is read off the wire, never off the
client. The proxy's password must reach the proxy (``Proxy-Authorization``)
and nothing else: no message, repr, cause, log line or span.
"""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from wriftai_async import (
    APIConnectionError,
    APIStatusError,
    AsyncClient,
    Client,
)
from wriftai_async._constants import USER_AGENT

from .conftest import FAST_RETRY
from .forward_proxy import ForwardProxy, running_proxy
from .forward_proxy import emulator_port as _port
from .test_tracing import spans  # noqa: F401 (a fixture)

USER, PASSWORD = "alice", "s3cr3t-pa55"
ENCODED = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, ENCODED)


@pytest.fixture
def proxy(emulator: Any) -> Iterator[ForwardProxy]:
    with running_proxy(_port(emulator)) as p:
        yield p


@pytest.fixture
def locked_proxy(emulator: Any) -> Iterator[ForwardProxy]:
    """A proxy that wants ``alice``'s password."""
    with running_proxy(_port(emulator), credentials=(USER, PASSWORD)) as p:
        yield p


def _client(emu: Any, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return AsyncClient(emu.access_token, kwargs.pop("base_url", emu.base_url), **kwargs)


async def _call(client: AsyncClient) -> Any:
    async with client:
        return await client.request("GET", "/hardware")


def _targets(proxy: ForwardProxy) -> list[str]:
    return [f"{seen.method} {seen.target}" for seen in proxy.seen]


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, text


def _everything_about(error: BaseException) -> list[str]:
    """What a program could print of an error: its text, repr, whole chain."""
    texts = ["".join(traceback.format_exception(error)), str(error), repr(error)]
    seen = error
    while (seen := seen.__cause__ or seen.__context__) is not None:  # type: ignore[assignment]
        texts += [str(seen), repr(seen), repr(getattr(seen, "args", ()))]
    return texts


# -- which proxy ---------------------------------------------------------------


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
async def test_a_proxy_variable_carries_the_request(
    emulator, proxy, monkeypatch, variable
):
    monkeypatch.setenv(variable, proxy.url())
    assert await _call(_client(emulator)) is not None
    # Absolute form: the proxy was asked for the API's own URL.
    assert _targets(proxy) == [f"GET {emulator.base_url}/hardware"]


async def test_https_proxy_is_not_used_for_an_http_url(emulator, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    await _call(_client(emulator))
    assert proxy.seen == []


async def test_a_proxy_without_a_scheme_in_the_variable_is_http(
    emulator, proxy, monkeypatch
):
    monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.port}")  # httpx's reading
    await _call(_client(emulator))
    assert len(proxy.seen) == 1


@pytest.mark.parametrize(
    "no_proxy",
    ["127.0.0.1", "*", "example.com, *", "example.com,127.0.0.1", "127.0.0.1:{port}"],
)
async def test_no_proxy_sends_the_host_straight(emulator, proxy, monkeypatch, no_proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=_port(emulator)))
    assert await _call(_client(emulator)) is not None
    assert proxy.seen == []
    # NO_PROXY is about the variables' proxies: a proxy= given is used.
    await _call(_client(emulator, proxy=proxy.url()))
    assert len(proxy.seen) == 1


@pytest.mark.parametrize("no_proxy", ["example.com", "127.0.0.2", "127.0.0.1:1"])
async def test_no_proxy_for_other_hosts_still_proxies(
    emulator, proxy, monkeypatch, no_proxy
):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("no_proxy", no_proxy)
    await _call(_client(emulator))
    assert len(proxy.seen) == 1


async def test_trust_env_false_ignores_the_variables(emulator, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("ALL_PROXY", proxy.url())
    client = _client(emulator, trust_env=False)
    assert "proxy" not in repr(client)
    await _call(client)
    assert proxy.seen == []


async def test_explicit_proxy_wins_over_the_environment(emulator, monkeypatch):
    with (
        running_proxy(_port(emulator)) as from_env,
        running_proxy(_port(emulator)) as given,
    ):
        monkeypatch.setenv("HTTP_PROXY", from_env.url())
        monkeypatch.setenv("NO_PROXY", "*")  # for the environment's proxy only
        await _call(_client(emulator, proxy=given.url()))
        await _call(_client(emulator, proxy=given.url(), trust_env=False))
        assert from_env.seen == []
        assert len(given.seen) == 2


def test_the_sync_client_goes_through_the_proxy(emulator, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    with Client(emulator.access_token, emulator.base_url) as client:
        client.request("GET", "/hardware")
    with Client(
        emulator.access_token, emulator.base_url, proxy=proxy.url(), trust_env=False
    ) as client:
        client.users.get(emulator.username)
    assert _targets(proxy) == [
        f"GET {emulator.base_url}/hardware",
        f"GET {emulator.base_url}/users/{emulator.username}",
    ]


async def test_a_stream_goes_through_the_proxy(emulator, proxy, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    async with _client(emulator) as client:
        created = await client.predictions.create(
            "alice/text-echo", {"text": "through"}, stream=True, wait=False
        )
        events = [e.event async for e in client.predictions.stream(created.id)]
    assert events[0] == "init" and events[-1] == "done"
    assert f"GET {emulator.base_url}/predictions/{created.id}/stream" in " ".join(
        _targets(proxy)
    ), _targets(proxy)


async def test_an_absolute_form_request_carries_our_user_agent(emulator, locked_proxy):
    """An http:// URL: the proxy reads the request itself, our agent on it."""
    proxy_url = locked_proxy.url(f"{USER}:{PASSWORD}")
    async with _client(emulator, proxy=proxy_url) as client:
        await client.request("GET", "/hardware")
        await client.files.upload(b"x" * 1000, mime_type="text/plain")
    methods = {seen.method for seen in locked_proxy.seen}
    assert {"GET", "POST", "PUT"} <= methods, _targets(locked_proxy)
    for seen in locked_proxy.seen:
        assert seen.target.startswith("http://"), seen.target  # absolute form
        assert seen.headers["user-agent"] == USER_AGENT, seen.head
        assert seen.head.lower().count(b"user-agent:") == 1
        assert seen.headers["proxy-authorization"] == f"Basic {ENCODED}"


# -- uploads: each host's own decision --------------------------------------------


@pytest.mark.parametrize(
    ("no_proxy", "explicit", "parts_proxied"),
    [("", False, True), ("localhost", False, False), ("localhost", True, True)],
)
async def test_an_upload_part_takes_the_proxy_of_its_own_host(
    emulator, monkeypatch, no_proxy, explicit, parts_proxied
):
    port = _port(emulator)
    # The emulator names its storage host after the Host it was asked for;
    # the proxy tells it "localhost", so the parts go to another host than
    # the API's (127.0.0.1), and NO_PROXY can tell them apart.
    with running_proxy(port, host_header=f"localhost:{port}") as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url())
        monkeypatch.setenv("NO_PROXY", no_proxy)
        given = {"proxy": proxy.url()} if explicit else {}
        async with _client(emulator, **given) as client:
            url = await client.files.upload(b"x" * 1000, mime_type="text/plain")
        assert url.startswith(f"http://localhost:{port}/")
        api = [s for s in proxy.seen if s.method != "PUT"]
        parts = [s for s in proxy.seen if s.method == "PUT"]
        assert api, _targets(proxy)  # the API's calls: always through it
        assert all(s.target.startswith(emulator.base_url) for s in api)
        assert bool(parts) is parts_proxied, _targets(proxy)
        for part in parts:
            assert part.target.startswith(f"http://localhost:{port}/")
            assert "authorization" not in part.headers  # never the token


# -- credentials ----------------------------------------------------------------------


async def test_credentials_reach_the_proxy_and_nothing_else(
    emulator, locked_proxy, caplog
):
    caplog.set_level(logging.DEBUG, logger="wriftai_async")  # WRIFTAI_LOG=debug
    # Percent-escapes in the URL are the proxy's to decode: "@" and ":" in
    # a password must be escaped there.
    client = _client(emulator, proxy=locked_proxy.url(f"{USER}:{PASSWORD}"))
    _assert_no_secret(repr(client), repr(client.session))
    await _call(client)
    (seen,) = locked_proxy.seen
    assert seen.headers["proxy-authorization"] == f"Basic {ENCODED}"
    # What the emulator got never held them (the proxy took its header).
    assert all("proxy-authorization" not in r.headers for r in emulator.requests)
    _assert_no_secret(caplog.text)


async def test_a_password_with_escapes_is_decoded(emulator):
    with running_proxy(_port(emulator), credentials=("a@b", "p:w/%")) as proxy:
        await _call(_client(emulator, proxy=proxy.url("a%40b:p%3Aw%2F%25")))
    assert proxy.seen[0].headers["proxy-authorization"] == (
        "Basic " + base64.b64encode(b"a@b:p:w/%").decode()
    )


async def test_a_refused_password_never_shows(emulator, locked_proxy, caplog):
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    wrong = f"{USER}:{PASSWORD}"  # the secret, but not what this proxy wants
    locked_proxy.credentials = (USER, "another")
    with pytest.raises(APIStatusError) as caught:
        await _call(_client(emulator, proxy=locked_proxy.url(wrong)))
    assert caught.value.status == 407  # the proxy's own answer to an http:// URL
    assert locked_proxy.seen[0].headers["proxy-authorization"] == f"Basic {ENCODED}"
    _assert_no_secret(caplog.text, *_everything_about(caught.value))


async def test_a_refused_tunnel_never_shows_the_password(
    emulator,
    locked_proxy,
    caplog,
    spans,  # noqa: F811 (test_tracing's fixture, imported)
):
    """An https:// URL: aiohttp's CONNECT error keeps the CONNECT's headers."""
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    locked_proxy.credentials = (USER, "another")
    client = _client(
        emulator,
        base_url=emulator.base_url.replace("http://", "https://"),
        max_retries=0,
        proxy=locked_proxy.url(f"{USER}:{PASSWORD}"),
    )
    with pytest.raises(APIConnectionError) as caught:
        await _call(client)
    message = str(caught.value)
    assert "407" in message and "Proxy Authentication Required" in message
    (connect,) = locked_proxy.seen
    assert connect.method == "CONNECT"
    assert connect.target == f"127.0.0.1:{_port(emulator)}"
    assert connect.headers["proxy-authorization"] == f"Basic {ENCODED}"
    _assert_no_secret(caplog.text, *_everything_about(caught.value))
    recorded = [
        str(value)
        for span in spans.get_finished_spans()
        for value in [
            *span.attributes.values(),
            *(v for event in span.events for v in event.attributes.values()),
        ]
    ]
    assert recorded  # the attempt's span, with its exception
    _assert_no_secret(*recorded)


async def test_the_token_never_goes_into_a_connect(emulator, locked_proxy):
    # The tunnel opens (then TLS fails: the emulator speaks plain HTTP); the
    # CONNECT held the proxy's credentials and not the token.
    base_url = emulator.base_url.replace("http://", "https://")
    client = _client(
        emulator,
        base_url=base_url,
        max_retries=0,
        proxy=locked_proxy.url(f"{USER}:{PASSWORD}"),
        headers={"X-Team": "secret-team"},
    )
    with pytest.raises(APIConnectionError):
        await _call(client)
    (connect,) = locked_proxy.seen
    assert connect.method == "CONNECT"
    assert "authorization" not in connect.headers
    assert emulator.access_token.encode() not in connect.head
    assert b"secret-team" not in connect.head


async def test_a_proxy_that_is_down_never_shows_the_password(emulator, caplog):
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    # Nothing listens on port 9 (discard) on loopback.
    client = _client(emulator, proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:9")
    _assert_no_secret(repr(client))
    with pytest.raises(APIConnectionError) as caught:
        await _call(client)
    assert "ClientProxyConnectionError" in str(caught.value)
    assert "127.0.0.1:9" in str(caught.value)
    _assert_no_secret(caplog.text, *_everything_about(caught.value))


# -- the redirect policy looks at the target, not the proxy --------------------------


async def test_redirects_through_a_proxy_keep_to_the_apis_origin(monkeypatch):
    async def handler(request: web.Request) -> web.StreamResponse:
        port = request.url.port
        if request.path == "/v1/same":
            raise web.HTTPFound("/v1/end")
        if request.path == "/v1/away":  # another origin: localhost
            raise web.HTTPFound(f"http://localhost:{port}/v1/end")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with running_proxy(port) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url())
            base = f"http://127.0.0.1:{port}/v1"
            async with AsyncClient("tok", base, retry=FAST_RETRY) as client:
                assert await client.request("GET", "/same") == {"ok": True}
                with pytest.raises(APIStatusError) as caught:
                    await client.request("GET", "/away")
            assert "leaves the API's origin" in str(caught.value)
            assert _targets(proxy) == [
                f"GET {base}/same",
                f"GET {base}/end",
                f"GET {base}/away",
            ]
            assert all(s.headers["authorization"] == "Bearer tok" for s in proxy.seen)
    finally:
        await runner.cleanup()


# -- bad values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "error", "words"),
    [
        ("", ValueError, "proxy is empty"),
        ("   ", ValueError, "proxy is empty"),
        ("socks5://alice:s3cr3t-pa55@h:1080", ValueError, "SOCKS"),
        ("socks5h://h:1080", ValueError, "aiohttp speaks only HTTP"),
        ("ftp://h:21", ValueError, "must be an http:// proxy URL"),
        ("proxy:3128", ValueError, "must be an http:// proxy URL"),  # no scheme
        ("http://", ValueError, "proxy"),
        ("http://h:3128/path", ValueError, "without a path"),
        ("http://h:3128?x=1", ValueError, "without a path, query"),
        ("http://h:99999", ValueError, "not a valid URL"),
        ("http://h :3128", ValueError, "whitespace"),
        ("http://alice:12/cr3t-pa55@h:3128", ValueError, "not shown"),
        (b"http://h:3128", TypeError, "proxy must be a str"),
    ],
)
def test_a_bad_proxy_is_refused_by_name(proxy, error, words):
    with pytest.raises(error) as caught:
        AsyncClient("tok", proxy=proxy)
    assert words in str(caught.value)
    assert str(caught.value).startswith("proxy ")
    _assert_no_secret(str(caught.value))
    assert "cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        (
            "HTTPS_PROXY",
            "socks5://alice:s3cr3t-pa55@h:1080",
            "HTTPS_PROXY names a SOCKS",
        ),
        ("https_proxy", "ftp://h", "https_proxy must be an http://"),
        ("ALL_PROXY", "http://h:3128/x", "ALL_PROXY must be"),
        ("HTTP_PROXY", "http://h:bad", "HTTP_PROXY is not a valid URL"),
    ],
)
def test_a_bad_proxy_variable_is_refused_by_name(monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match="trust_env=False") as caught:
        AsyncClient("tok")
    assert words in str(caught.value)
    _assert_no_secret(str(caught.value))
    AsyncClient("tok", trust_env=False)  # the way out: no error
    AsyncClient("tok", proxy="http://h:3128")


def test_an_empty_variable_is_no_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "")
    assert "proxy" not in repr(AsyncClient("tok"))


def test_trust_env_must_be_a_bool():
    with pytest.raises(TypeError, match="trust_env must be a bool"):
        AsyncClient("tok", trust_env="no")  # type: ignore[arg-type]


def test_an_https_proxy_is_taken_from_311_and_refused_before():
    # One test for both sides, so that every Python runs it (no skip).
    if sys.version_info >= (3, 11):
        client = AsyncClient("tok", proxy="https://h:3128")
        assert "proxy='https://h:3128'" in repr(client)
    else:
        with pytest.raises(ValueError, match=r"TLS inside TLS needs Python 3\.11"):
            AsyncClient("tok", proxy="https://h:3128")


# -- the command line ---------------------------------------------------------------


def _cli(emu: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "WRIFTAI_ACCESS_TOKEN": emu.access_token}
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "wriftai_async", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_command_line_takes_proxy(emulator, locked_proxy):
    result = _cli(
        emulator,
        "models",
        "list",
        emulator.username,
        "--base-url",
        emulator.base_url,
        "--proxy",
        locked_proxy.url(f"{USER}:{PASSWORD}"),
    )
    assert result.returncode == 0, result.stderr
    assert locked_proxy.seen
    assert all(
        s.headers["proxy-authorization"] == f"Basic {ENCODED}"
        for s in locked_proxy.seen
    )
    bad = _cli(
        emulator, "models", "list", "x", "--proxy", f"socks5://{USER}:{PASSWORD}@h:1"
    )
    assert bad.returncode == 2
    assert "--proxy names a SOCKS proxy" in bad.stderr
    _assert_no_secret(bad.stderr)


def test_the_demo_reaches_its_own_emulator_whatever_http_proxy_says():
    # The embedded demo talks to an emulator of its own process on loopback:
    # a machine's HTTP_PROXY (here: nothing listens on port 9) cannot reach it.
    env = {"PATH": "/usr/bin:/bin", "HTTP_PROXY": "http://127.0.0.1:9"}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "wriftai_async", "demo", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "polled until terminal" in result.stdout


# -- NO_PROXY's matching (the decision alone: these hosts are not reachable) --------


@pytest.mark.parametrize(
    ("no_proxy", "url", "straight"),
    [
        ("example.com", "https://example.com/v1", True),
        ("example.com", "https://api.example.com/v1", True),
        ("example.com", "https://wwwexample.com/v1", False),
        (".example.com", "https://api.example.com/v1", True),
        (".example.com", "https://example.com/v1", True),  # urllib's and curl's
        ("EXAMPLE.com", "https://API.example.COM/v1", True),
        ("example.com:8443", "https://example.com:8443/v1", True),
        ("example.com:8443", "https://example.com/v1", False),
        ("[::1]", "https://[::1]:8443/v1", True),
        ("::1", "https://[::1]/v1", True),
        ("10.0.0.1", "https://10.0.0.10/v1", False),
        (" , ,other.org", "https://example.com/v1", False),
        ("other.org,*", "https://example.com/v1", True),
        # A fully qualified name's trailing dot is the same host.
        ("example.com.", "https://api.example.com/v1", True),
        ("example.com", "https://example.com./v1", True),
        ("example.com.:8443", "https://example.com:8443/v1", True),
        # Go's and many tools' spelling of "and its subdomains".
        ("*.example.com", "https://api.example.com/v1", True),
        ("*.example.com", "https://wwwexample.com/v1", False),
        ("[::1]:8443", "https://[::1]:9443/v1", False),
    ],
)
def test_no_proxy_matches_as_urllib_reads_it(monkeypatch, no_proxy, url, straight):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    client = AsyncClient("tok", url)
    assert ("proxy=" not in repr(client)) is straight
