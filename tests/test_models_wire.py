"""Models over real sockets against the emulator, through both clients."""

from __future__ import annotations

import asyncio

import pytest

from wriftai_async import (
    UNSET,
    ModelDetails,
    NotFoundError,
    SortBy,
    ValidationError,
    Visibility,
)

from .conftest import collect, resolve


async def test_update_sends_only_given_fields_and_null_for_none(client, emulator):
    me = emulator.username
    emulator.add_model(
        me, "m", description="old", overview="keep me", paper_url="https://p.example"
    )
    details = await resolve(
        client.models.update(f"{me}/m", description="new", paper_url=None)
    )
    sent = [r for r in emulator.requests if r.method == "PATCH"]
    assert len(sent) == 1
    assert sent[0].path == f"/models/{me}/m"
    assert sent[0].json == {"description": "new", "paper_url": None}
    assert isinstance(details, ModelDetails)
    assert details.description == "new"
    assert details.paper_url is None
    assert details.overview == "keep me"  # untouched on the server


async def test_update_with_nothing_sends_an_empty_body(client, emulator):
    me = emulator.username
    emulator.add_model(me, "m", description="same")
    details = await resolve(client.models.update(f"{me}/m", overview=UNSET))
    assert [r.json for r in emulator.requests if r.method == "PATCH"] == [{}]
    assert details.description == "same"


async def test_update_enum_and_rename(client, emulator):
    me = emulator.username
    emulator.add_model(me, "m", visibility="public")
    details = await resolve(
        client.models.update(f"{me}/m", name="m2", visibility=Visibility.PRIVATE)
    )
    assert details.name == "m2" and details.visibility is Visibility.PRIVATE
    with pytest.raises(NotFoundError):
        await resolve(client.models.get(f"{me}/m"))


async def test_invalid_value_raises_validation_error_with_errors(client, emulator):
    me = emulator.username
    emulator.add_model(me, "m")
    with pytest.raises(ValidationError) as caught:
        await resolve(client.models.update(f"{me}/m", visibility="secret"))
    error = caught.value
    assert error.status == 422
    assert error.errors and error.errors[0]["loc"][-1] == "visibility"
    assert "msg" in error.errors[0] and "type" in error.errors[0]
    assert error.method == "PATCH" and error.url.endswith(f"/models/{me}/m")


@pytest.mark.parametrize("bad", ["alice", "a/b/c", "a/b:1", ""])
async def test_bad_identifier_is_value_error_before_any_request(client, emulator, bad):
    with pytest.raises(ValueError):
        await resolve(client.models.update(bad, description="x"))
    assert emulator.requests == []


async def test_listing_two_pages(client, emulator):
    emulator.add_user("erin")
    for i in range(3):
        emulator.add_model("erin", f"m{i}", created_at=f"2024-01-0{i + 1}T00:00:00Z")
    models = await collect(client.models.list_for_user("erin", page_size=2))
    assert [m.name for m in models] == ["m0", "m1", "m2"]
    gets = [r for r in emulator.requests if r.path == "/models/erin"]
    assert len(gets) == 2
    assert "cursor" not in gets[0].query and gets[1].query.get("cursor")
    assert gets[0].query.get("page_size") == "2"


async def test_list_page_returns_cursors(client, emulator):
    emulator.add_user("erin")
    for i in range(3):
        emulator.add_model("erin", f"m{i}")
    first = await resolve(client.models.list_page("erin", page_size=2))
    assert len(first.items) == 2 and first.next_cursor
    second = await resolve(
        client.models.list_page("erin", page_size=2, cursor=first.next_cursor)
    )
    assert len(second.items) == 1 and second.next_cursor is None
    assert {m.name for m in first.items + second.items} == {"m0", "m1", "m2"}


async def test_listing_of_a_user_with_no_models_is_empty(client, emulator):
    emulator.add_user("frank")
    assert await collect(client.models.list_for_user("frank")) == []
    page = await resolve(client.models.list_page("frank"))
    assert page.items == [] and page.next_cursor is None


async def test_listing_unknown_user_is_not_found(client, emulator):
    with pytest.raises(NotFoundError):
        await collect(client.models.list_for_user("nobody-here"))


async def test_sort_by_predictions_count_leaves_out_unused_models(client, emulator):
    emulator.add_user("gina")
    emulator.add_model("gina", "popular", predictions_count=9)
    emulator.add_model("gina", "unused", predictions_count=0)
    emulator.add_model("gina", "some", predictions_count=2)
    by_count = await collect(
        client.models.list_for_user(
            "gina", sort_by=SortBy.PREDICTIONS_COUNT, sort_direction="desc"
        )
    )
    assert [m.name for m in by_count] == ["popular", "some"]
    by_date = await collect(client.models.list_for_user("gina"))
    assert {m.name for m in by_date} == {"popular", "unused", "some"}


async def test_breaking_out_of_a_listing_fetches_no_further_page(client, emulator):
    emulator.add_user("hugo")
    for i in range(5):
        emulator.add_model("hugo", f"m{i}")
    iterator = client.models.list_for_user("hugo", page_size=2)
    if hasattr(iterator, "__aiter__"):
        async for _ in iterator:
            break
        await iterator.aclose()
    else:
        for _ in iterator:
            break
        iterator.close()
    # The sync iterator fetches one page ahead (cancelled on break): at most
    # that one more, and nothing after. The page ahead may still be on its
    # way to the emulator when close() returns (a loaded machine), so the
    # bound is checked over a short while rather than at one instant.
    bound = 1 if hasattr(iterator, "__aiter__") else 2
    for _ in range(20):
        sent = len([r for r in emulator.requests if r.path == "/models/hugo"])
        assert 1 <= sent <= bound
        await asyncio.sleep(0.01)
