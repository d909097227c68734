"""Every listing ends by a bound the caller sees: ``max_listing_items``.

A server that answers every page with items and a fresh cursor defeats cycle
detection; the listing must still end, after ``max_listing_items`` items,
with ``ListingLimitError`` (README, "Every listing ends"). Served by a real
aiohttp.web server on 127.0.0.1, to both clients, the bulk helper and the
command line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from wriftai_async import AsyncClient, WriftAIError
from wriftai_async._cli import main

from .conftest import CLIENT_KINDS
from .test_hostile_protocol import (
    LISTINGS,
    TOKEN,
    HostileServer,
    close,
    collect,
    item,
    json_answer,
    make,
)


@pytest.fixture
def endless() -> Iterator[HostileServer]:
    """Pages of ``per_page`` items (query ``page_size``, else 100), each with a
    fresh cursor, forever (until 10,000 pages: a client without the bound
    would fail the test by size, not hang)."""
    server = HostileServer()

    async def handler(request: web.Request) -> web.StreamResponse:
        n = len(server.requests) - 1  # this one is recorded already
        per_page = int(request.query.get("page_size", "100"))
        items = [item(n * per_page + i) for i in range(per_page)]
        cursor = f"fresh-{n}" if n < 10_000 else None
        return json_answer({"items": items, "next_cursor": cursor})

    server.handler = handler
    server.start()
    try:
        yield server
    finally:
        server.stop()


def listing_limit_error() -> type[Exception]:
    from wriftai_async import ListingLimitError  # new with the bound

    return ListingLimitError


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_fresh_cursors_forever_end_at_max_listing_items(endless, kind):
    client = make(kind, endless, max_listing_items=250)
    models: list[Any] = []
    try:
        with pytest.raises(listing_limit_error()) as caught:
            await collect(client.models.list_for_user("alice"), models, limit=100_000)
    finally:
        await close(client)
    assert len(models) == 250  # every item up to the bound, then the error
    assert [m.name for m in models[:2]] == ["n0", "n1"]
    assert len(endless.requests) == 3  # no page past the one that crossed it
    assert caught.value.limit == 250
    assert "max_listing_items" in str(caught.value)
    assert isinstance(caught.value, WriftAIError)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("listing", list(LISTINGS))
async def test_every_listing_is_bounded(endless, kind, listing):
    client = make(kind, endless, max_listing_items=7)
    items: list[Any] = []
    try:
        with pytest.raises(listing_limit_error()):
            await collect(LISTINGS[listing](client), items, limit=100_000)
    finally:
        await close(client)
    assert len(items) == 7
    assert len(endless.requests) == 1  # 7 of the first page's 100


async def test_a_listing_of_exactly_the_bound_ends_normally(endless):
    async def handler(request: web.Request) -> web.StreamResponse:
        n = len(endless.requests) - 1
        items = [item(n * 5 + i) for i in range(5)]
        last = n == 2
        return json_answer({"items": items, "next_cursor": None if last else f"c{n}"})

    endless.handler = handler
    async with make("async", endless, max_listing_items=15) as client:
        names = [m.name async for m in client.models.list_for_user("alice")]
    assert len(names) == 15


async def test_each_owner_of_list_for_users_is_bounded(endless):
    async with make("async", endless, max_listing_items=120) as client:
        results = [r async for r in client.models.list_for_users(["alice", "bob"])]
    assert [type(r.error) for r in results] == [listing_limit_error()] * 2
    assert len(endless.requests) == 4  # two pages per owner


def test_the_bound_is_checked_and_has_a_documented_default():
    client = AsyncClient(TOKEN, "http://127.0.0.1:9/v1")
    assert client.session.max_listing_items == 1_000_000
    for bad, error in [
        (0, ValueError),
        (-1, ValueError),
        (True, TypeError),
        (1.5, TypeError),
    ]:
        with pytest.raises(error, match="max_listing_items"):
            AsyncClient(TOKEN, "http://127.0.0.1:9/v1", max_listing_items=bad)


def test_the_command_line_listing_ends(endless, monkeypatch, capsys):
    # In process, with the client's default bound lowered: the command line
    # builds its client with the default, as a user's program would.
    defaults = AsyncClient.__init__.__kwdefaults__
    monkeypatch.setitem(defaults, "max_listing_items", 250)
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", endless.url)
    code = main(["models", "list", "alice", "--format", "json"])
    _, err = capsys.readouterr()
    assert code != 0
    assert "max_listing_items" in err
    assert len(endless.requests) == 3
