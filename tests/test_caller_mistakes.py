"""Caller mistakes in the client's arguments, refused before any request.

``headers=``, ``trace_configs=``, the access token and the low-level
``request(method, path)`` are checked when given, on both clients, with a
``TypeError`` or ``ValueError`` that names the argument (and the header)
and never shows a value that could be a credential.
"""

from __future__ import annotations

from typing import Any

import pytest

from wriftai_async import AsyncClient, Client
from wriftai_async.testing import Emulator

from .conftest import make_client

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
