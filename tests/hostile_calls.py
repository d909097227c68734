"""Every public call of ``AsyncClient`` that reaches the network, runnable.

``CALLS`` maps a name to a function that makes the call on a client and
drives it to the end (drains a listing or a stream, unwraps bulk results),
so a hostile server is met by every code path a user can take. Used by the
hostile-server tests; add a call here when the client grows one (the test
``test_every_public_call_is_listed`` fails until you do).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wriftai_async import AsyncClient

UUID = "11111111-2222-4333-8444-555555555555"
MODEL = "alice/text-echo"
VERSION = "alice/text-echo:1"
WAIT = {"timeout": 30.0, "poll_interval": 0.01}


async def drain(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


async def unwrap_all(iterator: Any) -> list[Any]:
    return [result.unwrap() async for result in iterator]


async def _create_stream(client: AsyncClient) -> list[Any]:
    events = await client.predictions.create(MODEL, {"text": "hi"}, stream=True)
    return await drain(events)


Call = Callable[[AsyncClient], Awaitable[Any]]

CALLS: dict[str, Call] = {
    "request": lambda c: c.request("GET", "/hardware"),
    "models.get": lambda c: c.models.get(MODEL),
    "models.create": lambda c: c.models.create("m", hardware_identifier="cpu"),
    "models.update": lambda c: c.models.update(MODEL, description="d"),
    "models.delete": lambda c: c.models.delete(MODEL),
    "models.list_page": lambda c: c.models.list_page("alice"),
    "models.list_for_user": lambda c: drain(c.models.list_for_user("alice")),
    "models.list_for_users": lambda c: unwrap_all(c.models.list_for_users(["alice"])),
    "models.list_all_page": lambda c: c.models.list_all_page(),
    "models.list_all": lambda c: drain(c.models.list_all()),
    "models.search_page": lambda c: c.models.search_page("echo"),
    "models.search": lambda c: drain(c.models.search("echo")),
    "versions.list_page": lambda c: c.versions.list_page(MODEL),
    "versions.list": lambda c: drain(c.versions.list(MODEL)),
    "versions.get": lambda c: c.versions.get(VERSION),
    "versions.create": lambda c: c.versions.create(
        MODEL,
        release_notes="r",
        container_image_digest="sha256:" + "a" * 64,
        schemas={},
    ),
    "versions.delete": lambda c: c.versions.delete(VERSION),
    "versions.get_configuration": lambda c: c.versions.get_configuration(VERSION),
    "versions.update_configuration": lambda c: c.versions.update_configuration(
        VERSION, hardware_identifier="cpu"
    ),
    "predictions.create": lambda c: c.predictions.create(MODEL, {"text": "hi"}),
    "predictions.create(wait)": lambda c: c.predictions.create(
        MODEL, {"text": "hi"}, wait=True, **WAIT
    ),
    "predictions.create(stream)": lambda c: _create_stream(c),
    "predictions.get": lambda c: c.predictions.get(UUID),
    "predictions.list_page": lambda c: c.predictions.list_page(),
    "predictions.list": lambda c: drain(c.predictions.list()),
    "predictions.stream": lambda c: drain(c.predictions.stream(UUID)),
    "predictions.cancel": lambda c: c.predictions.cancel(UUID),
    "predictions.wait": lambda c: c.predictions.wait(UUID, **WAIT),
    "predictions.cancel_and_wait": lambda c: c.predictions.cancel_and_wait(
        UUID, **WAIT
    ),
    "predictions.cancel_many": lambda c: unwrap_all(c.predictions.cancel_many([UUID])),
    "predictions.wait_many": lambda c: unwrap_all(
        c.predictions.wait_many([UUID], **WAIT)
    ),
    "users.get": lambda c: c.users.get("alice"),
    "users.list_page": lambda c: c.users.list_page(),
    "users.list": lambda c: drain(c.users.list()),
    "users.search_page": lambda c: c.users.search_page("al"),
    "users.search": lambda c: drain(c.users.search("al")),
    "user.get": lambda c: c.user.get(),
    "user.update": lambda c: c.user.update(bio="b"),
    "user.models_page": lambda c: c.user.models_page(),
    "user.models": lambda c: drain(c.user.models()),
    "hardware.list_page": lambda c: c.hardware.list_page(),
    "hardware.list": lambda c: drain(c.hardware.list()),
    "categories.list_page": lambda c: c.categories.list_page(),
    "categories.list": lambda c: drain(c.categories.list()),
    "files.upload": lambda c: c.files.upload(b"some bytes", mime_type="text/plain"),
    "uploads.create": lambda c: c.uploads.create(size=10, mime_type="text/plain"),
    "uploads.complete": lambda c: c.uploads.complete("u-1", ["etag"]),
    "variables.create": lambda c: c.variables.create("v", "K", "1"),
    "variables.update": lambda c: c.variables.update("v", value="2"),
    "variables.delete": lambda c: c.variables.delete("v"),
    "variables.list_page": lambda c: c.variables.list_page(),
    "variables.list": lambda c: drain(c.variables.list()),
}
