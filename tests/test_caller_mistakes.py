"""Caller mistakes in the client's arguments, refused before any request.

``headers=``, ``trace_configs=``, the access token and the low-level
``request(method, path)`` are checked when given, on both clients, with a
``TypeError`` or ``ValueError`` that names the argument (and the header)
and never shows a value that could be a credential.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from wriftai_async import AsyncClient, Client, ValidationError
from wriftai_async._errors import error_from_response
from wriftai_async.testing import Emulator

from .conftest import make_client, resolve

SECRET = "s3cret-value-never-shown"
CLIENTS = [AsyncClient, Client]


def _build(cls: Any, emulator: Emulator, **kwargs: Any) -> Any:
    """A client built, or the exception its construction raised."""
    client = cls(emulator.access_token, emulator.base_url, **kwargs)
    # Nothing was opened: neither kind connects before its first call.
    if isinstance(client, Client):
        client.close()
    return client


# -- headers= ------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ([("X-Team", "ml")], TypeError, "headers must be a mapping of str to str"),
        ("X-Team: ml", TypeError, "headers must be a mapping of str to str"),
        ({b"X-Team": "ml"}, TypeError, "a header name must be a str, not bytes"),
        ({"X-Team": 5}, TypeError, r"headers\['X-Team'\] must be a str, not int"),
        ({"X-Team": b"ml"}, TypeError, r"headers\['X-Team'\] must be a str"),
        ({"X-Key": SECRET + "\r\nX-Evil: 1"}, ValueError, r"headers\['X-Key'\] holds"),
        ({"X-Key": SECRET + "\n"}, ValueError, r"headers\['X-Key'\] holds a line"),
        ({"X-Key": "a\x00b" + SECRET}, ValueError, r"headers\['X-Key'\] holds"),
        ({"X Team": "ml"}, ValueError, "'X Team' is not a valid header name"),
        ({"X-Team\r\nX-Evil": "1"}, ValueError, "is not a valid header name"),
        ({"": "ml"}, ValueError, "'' is not a valid header name"),
        ({"X-A": "1", "x-a": "2"}, ValueError, "'x-a' is given twice"),
        ({"Content-Length": "5"}, ValueError, "'Content-Length' cannot be set"),
        ({"transfer-encoding": "chunked"}, ValueError, "cannot be set"),
        ({"Authorization": SECRET}, ValueError, "would be replaced by the access"),
        ({"authorization": SECRET}, ValueError, "would be replaced by the access"),
    ],
)
def test_bad_headers_are_refused_at_construction(
    cls: Any, emulator: Emulator, headers: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        _build(cls, emulator, headers=headers)
    assert SECRET not in str(caught.value)
    assert emulator.requests == []


async def test_good_headers_are_sent_as_given_and_copied(emulator: Emulator) -> None:
    given = {"X-Team": "ml", "X-Tabbed": "a\tb", "X-Empty": ""}
    async with make_client("async", emulator, headers=given) as client:
        given["X-Team"] = "changed after construction"
        await client.request("GET", "/user")
    sent = emulator.requests[-1].headers
    assert sent["X-Team"] == "ml"
    assert sent["X-Tabbed"] == "a\tb"
    assert sent["X-Empty"] == ""


async def test_authorization_without_a_token_is_sent_as_given(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No token to replace it: the caller's own scheme reaches the API.
    monkeypatch.delenv("WRIFTAI_ACCESS_TOKEN", raising=False)
    own = f"Bearer {emulator.access_token}"
    async with AsyncClient(
        None, emulator.base_url, headers={"Authorization": own}
    ) as c:
        await c.request("GET", "/user")
    assert emulator.requests[-1].headers["Authorization"] == own


def test_authorization_with_a_token_from_the_environment_is_refused(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "from-the-environment")
    with pytest.raises(ValueError, match="would be replaced") as caught:
        AsyncClient(None, emulator.base_url, headers={"Authorization": SECRET})
    assert SECRET not in str(caught.value)
    assert "from-the-environment" not in str(caught.value)


# -- trace_configs= ------------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("configs", "match"),
    [
        (aiohttp.TraceConfig(), r"wrap the one given in a list, trace_configs=\["),
        (5, "trace_configs must be a list of aiohttp.TraceConfig, not int"),
        ("config", "trace_configs must be a list of aiohttp.TraceConfig, not str"),
        ({"a": aiohttp.TraceConfig()}, "not dict"),
        ([aiohttp.TraceConfig(), "x"], r"trace_configs\[1\] is a str, not an aiohttp"),
        ([None], r"trace_configs\[0\] is a NoneType"),
    ],
)
def test_bad_trace_configs_are_refused_at_construction(
    cls: Any, emulator: Emulator, configs: Any, match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        _build(cls, emulator, trace_configs=configs)


async def test_trace_configs_from_any_iterable_are_used(emulator: Emulator) -> None:
    seen: list[str] = []

    async def on_start(session: Any, context: Any, params: Any) -> None:
        seen.append(params.method)

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_start)
    configs = (c for c in [config])  # a generator, read once
    async with make_client("async", emulator, trace_configs=configs) as client:
        await client.request("GET", "/user")
    assert seen == ["GET"]


# -- request(method, path) -------------------------------------------------------


@pytest.mark.parametrize("kind", ["async", "sync"])
@pytest.mark.parametrize(
    ("method", "path", "error", "match"),
    [
        (5, "/user", TypeError, "method must be a str, not int"),
        (b"GET", "/user", TypeError, "method must be a str, not bytes"),
        (None, "/user", TypeError, "method must be a str, not NoneType"),
        ("FETCH", "/user", ValueError, "method must be one of DELETE, GET, HEAD"),
        ("GET /user", "/user", ValueError, "not 'GET /user'"),
        ("", "/user", ValueError, "method must be one of"),
        ("CONNECT", "/user", ValueError, "method must be one of"),
        ("GET", 5, TypeError, "path must be a str such as '/hardware', not int"),
        ("GET", None, TypeError, "path must be a str"),
        ("GET", b"/user", TypeError, "not bytes"),
        ("GET", "user", ValueError, "path must start with '/'"),
        ("GET", "https://elsewhere.example/x", ValueError, "must start with '/'"),
        ("GET", "", ValueError, "must start with '/'"),
    ],
)
async def test_bad_method_or_path_is_refused_before_sending(
    kind: str, emulator: Emulator, method: Any, path: Any, error: Any, match: str
) -> None:
    client = make_client(kind, emulator)
    try:
        with pytest.raises(error, match=match):
            await resolve(client.request(method, path))
    finally:
        await resolve(client.aclose() if kind == "async" else client.close())
    assert emulator.requests == []


async def test_a_stream_checks_its_method_and_path(emulator: Emulator) -> None:
    async with make_client("async", emulator) as client:
        with pytest.raises(ValueError, match="method must be one of"):
            async with client.session.stream("FETCH", "/user"):
                pass
        with pytest.raises(TypeError, match="path must be a str"):
            async with client.session.stream("GET", 5):
                pass
    assert emulator.requests == []


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_a_method_in_small_letters_is_sent_in_capitals(
    kind: str, emulator: Emulator
) -> None:
    client = make_client(kind, emulator)
    try:
        user = await resolve(client.request("get", "/user"))
    finally:
        await resolve(client.aclose() if kind == "async" else client.close())
    assert user["name"] == emulator.username
    assert [r.method for r in emulator.requests] == ["GET"]


# -- the access token ----------------------------------------------------------


@pytest.mark.parametrize("cls", CLIENTS)
@pytest.mark.parametrize(
    ("token", "match"),
    [
        ("", "access_token is empty"),
        ("   ", "access_token is only whitespace"),
        ("\u3000", "access_token is only whitespace"),
        (f" {SECRET}", "access_token starts or ends with a space"),
        (f"{SECRET} ", "access_token starts or ends with a space"),
    ],
)
def test_a_blank_access_token_is_refused_without_showing_it(
    cls: Any,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    match: str,
) -> None:
    # "" fell back to the variable, and without one the calls went out with
    # no token; "   " was sent as "Bearer    " and refused as a bad token.
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "from-the-environment")
    with pytest.raises(ValueError, match=match) as caught:
        cls(token, emulator.base_url)
    assert SECRET not in str(caught.value)
    assert "from-the-environment" not in str(caught.value)
    assert emulator.requests == []


@pytest.mark.parametrize("cls", CLIENTS)
def test_a_blank_token_variable_is_refused_and_an_empty_one_is_unset(
    cls: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", " \t ")
    with pytest.raises(ValueError, match=r"\$WRIFTAI_ACCESS_TOKEN is only white"):
        cls(None, emulator.base_url)
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "")  # VAR= in a shell: unset
    client = cls(None, emulator.base_url)
    try:
        assert "no token" in repr(client)
    finally:
        if isinstance(client, Client):
            client.close()


# -- ValidationError's message -------------------------------------------------


def _validation_error(detail: Any) -> ValidationError:
    body = json.dumps({"detail": detail}).encode()
    error = error_from_response(
        422, body, {"x-request-id": "req-1"}, method="PATCH", url="https://h/v1/m"
    )
    assert isinstance(error, ValidationError)
    return error


def test_a_validation_error_reads_one_line_per_field() -> None:
    error = _validation_error(
        [
            {"loc": ["body", "visibility"], "msg": "Input should be 'public'"},
            {"loc": ["body", "items", 0, "name"], "msg": "Field required"},
        ]
    )
    assert str(error).splitlines() == [
        "422 (PATCH https://h/v1/m): 2 validation errors [request id req-1]",
        "  body.visibility: Input should be 'public'",
        "  body.items.0.name: Field required",
    ]
    single = _validation_error([{"loc": ["query", "q"], "msg": "too short"}])
    assert (
        str(single).splitlines()[0].endswith(": 1 validation error [request id req-1]")
    )
    # A plain message stays one line, as every other status's.
    assert str(_validation_error("name taken")) == (
        "422 (PATCH https://h/v1/m): name taken [request id req-1]"
    )


def test_a_hostile_validation_error_stays_short_and_cannot_forge_lines() -> None:
    # 600 errors of 300-character messages (~220 KB, under the 256 KiB an
    # error body is decoded within), line breaks and escapes in each.
    detail: list[Any] = [
        {"loc": ["body", f"f{i}\nERROR forged"], "msg": "m" * 300 + "\n\x1b[2J"}
        for i in range(600)
    ]
    detail[1:4] = [None, {"loc": {"a": 1}, "msg": 5}, "text"]
    text = str(_validation_error(detail))
    lines = text.splitlines()
    assert len(lines) == 1 + 10 + 1
    assert lines[-1] == "  ... and 590 more"
    assert all(len(line) <= 210 for line in lines)
    assert len(text) < 3000
    assert all(line.startswith("  ") for line in lines[1:])  # none forged
    assert "\x1b" not in text
    assert lines[2] == "  None" and lines[3].startswith("  {'a': 1}: 5")


async def test_a_validation_error_from_the_emulator_names_its_field(
    emulator: Emulator,
) -> None:
    me = emulator.username
    emulator.add_model(me, "m")
    async with make_client("async", emulator) as client:
        with pytest.raises(ValidationError) as caught:
            await client.models.update(f"{me}/m", visibility="secret")
    first, *fields = str(caught.value).splitlines()
    assert first.startswith("422 (PATCH ") and first.endswith("1 validation error")
    assert fields and fields[0].startswith("  body.visibility: ")
