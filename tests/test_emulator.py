"""Tests of the API emulator itself, over real sockets with plain aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from wriftai_async.testing import SEED_PREDICTIONS, Emulator, pytest_plugin

# The plugin's fixtures, made visible to this module without enabling the plugin.
wriftai_emulator = pytest_plugin.wriftai_emulator
wriftai_emulator_options = pytest_plugin.wriftai_emulator_options

STARTED = SEED_PREDICTIONS["started"]


class Api:
    """A thin JSON helper around one aiohttp session."""

    def __init__(self, emu: Emulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: Any = None,
    ) -> tuple[int, Any]:
        url = path if path.startswith("http") else self.emu.base_url + path
        async with self.session.request(
            method, url, json=json_body, data=data, headers=headers, params=params
        ) as resp:
            raw = await resp.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
            return resp.status, body

    async def get(self, path: str, **kw: Any) -> tuple[int, Any]:
        return await self.call("GET", path, **kw)


def auth(emu: Emulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emu.access_token}"}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    # Most tests here read raw JSON in the older dialect (its shapes are
    # spelled out); the default dialect is tested by test_official_contract.
    async with Emulator(
        style="old", cancel_delay=0.2, prediction_duration=0.2
    ) as emulator:
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(headers=auth(emu)) as session:
        yield Api(emu, session)


async def names(api: Api, path: str, **params: Any) -> list[str]:
    status, body = await api.get(path, params=params)
    assert status == 200, body
    return [item["name"] for item in body["items"]]


# -- auth and errors -----------------------------------------------------------


async def test_auth_is_required(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        api = Api(emu, session)
        assert (await api.get("/user"))[0] == 401
        status, body = await api.get("/user", headers={"Authorization": "Bearer wrong"})
        assert status == 401 and isinstance(body["detail"], str)
        emu.add_user("dave", token="dave-token")
        status, body = await api.get(
            "/user", headers={"Authorization": "Bearer dave-token"}
        )
        assert status == 200 and body["username"] == "dave"


async def test_router_errors_are_json(api: Api) -> None:
    assert await api.get("/no/such/path") == (404, {"detail": "Not Found"})
    status, body = await api.call("PUT", "/user")
    assert status == 405 and isinstance(body["detail"], str)


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"null"])
async def test_bodies_that_are_not_objects_are_422(api: Api, raw: bytes) -> None:
    for method, path in [
        ("PATCH", "/models/alice/text-echo"),
        ("POST", "/models"),
        ("POST", "/predictions"),
        ("PATCH", "/user"),
    ]:
        status, body = await api.call(
            method, path, data=raw, headers={"Content-Type": "application/json"}
        )
        assert status == 422, (method, path, body)
        assert body["detail"][0]["loc"] == ["body"]


# -- PATCH /models/{owner}/{name} ----------------------------------------------


async def test_patch_empty_body_changes_nothing(api: Api) -> None:
    _, before = await api.get("/models/alice/text-echo")
    status, after = await api.call("PATCH", "/models/alice/text-echo", json_body={})
    assert status == 200 and after == before


async def test_patch_changes_only_present_fields(api: Api) -> None:
    _, before = await api.get("/models/alice/text-echo")
    status, after = await api.call(
        "PATCH",
        "/models/alice/text-echo",
        json_body={"description": None, "paper_url": "https://arxiv.org/abs/1"},
    )
    assert status == 200
    assert after["description"] is None
    assert after["paper_url"] == "https://arxiv.org/abs/1"
    for key in ("source_url", "license_url", "visibility", "overview", "categories"):
        assert after[key] == before[key], key
    assert (await api.get("/models/alice/text-echo"))[1] == after


async def test_patch_categories_replace_and_hardware(api: Api) -> None:
    status, body = await api.call(
        "PATCH",
        "/models/alice/text-echo",
        json_body={
            "category_slugs": ["audio", "video"],
            "hardware_identifier": "gpu-a100",
        },
    )
    assert status == 200
    assert [c["slug"] for c in body["categories"]] == ["audio", "video"]
    assert body["hardware"] == {"identifier": "gpu-a100", "name": "NVIDIA A100 80GB"}


async def test_patch_validation_lists_every_error(api: Api) -> None:
    status, body = await api.call(
        "PATCH",
        "/models/alice/text-echo",
        json_body={
            "visibility": "restricted",  # only valid in the new style
            "source_url": "not a url",
            "license_url": "ftp://example.com/x",
            "name": "Bad Name!",
            "hardware_identifier": "tpu-9000",
            "category_slugs": ["audio", "nope"],
            "surprise": 1,
        },
    )
    assert status == 422
    locs = {tuple(item["loc"]) for item in body["detail"]}
    assert locs == {
        ("body", "visibility"),
        ("body", "source_url"),
        ("body", "license_url"),
        ("body", "name"),
        ("body", "hardware_identifier"),
        ("body", "category_slugs", 1),
        ("body", "surprise"),
    }
    assert all({"loc", "msg", "type"} <= item.keys() for item in body["detail"])
    # Nothing was applied.
    assert (await api.get("/models/alice/text-echo"))[1]["visibility"] == "public"


@pytest.mark.parametrize(
    "field", ["name", "visibility", "hardware_identifier", "category_slugs"]
)
async def test_patch_null_on_non_nullable_is_422(api: Api, field: str) -> None:
    status, body = await api.call(
        "PATCH", "/models/alice/text-echo", json_body={field: None}
    )
    assert status == 422 and body["detail"][0]["loc"] == ["body", field]


async def test_patch_404_and_403(api: Api) -> None:
    assert (await api.call("PATCH", "/models/alice/nope", json_body={}))[0] == 404
    assert (await api.call("PATCH", "/models/bob/bob-llm", json_body={}))[0] == 403
    # A private model of someone else is invisible, not forbidden.
    assert (await api.call("PATCH", "/models/bob/bob-draft", json_body={}))[0] == 404


async def test_patch_rename_changes_path(api: Api) -> None:
    status, body = await api.call(
        "PATCH", "/models/alice/text-echo", json_body={"name": "echo-2"}
    )
    assert status == 200 and body["name"] == "echo-2"
    assert (await api.get("/models/alice/text-echo"))[0] == 404
    assert (await api.get("/models/alice/echo-2"))[0] == 200
    status, _ = await api.call(
        "PATCH", "/models/alice/echo-2", json_body={"name": "image-gen"}
    )
    assert status == 409


async def test_restricted_visibility_in_new_style() -> None:
    async with (
        Emulator(style="new") as emu,
        aiohttp.ClientSession(headers=auth(emu)) as session,
    ):
        status, body = await Api(emu, session).call(
            "PATCH", "/models/alice/text-echo", json_body={"visibility": "restricted"}
        )
        assert status == 200 and body["visibility"] == "restricted"


# -- models: create, delete, list ----------------------------------------------


async def test_create_and_delete_model(api: Api) -> None:
    status, body = await api.call("POST", "/models", json_body={"name": "x"})
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "hardware_identifier"]
    status, body = await api.call(
        "POST",
        "/models",
        json_body={"name": "new-one", "hardware_identifier": "cpu", "overview": "o"},
    )
    assert status == 201
    assert body["owner"]["username"] == "alice"
    assert body["latest_version"] is None and body["overview"] == "o"
    again = {"name": "new-one", "hardware_identifier": "cpu"}
    assert (await api.call("POST", "/models", json_body=again))[0] == 409
    assert (await api.call("DELETE", "/models/alice/new-one")) == (204, None)
    assert (await api.get("/models/alice/new-one"))[0] == 404
    assert (await api.call("DELETE", "/models/bob/bob-llm"))[0] == 403


async def test_list_user_models_orders_and_count_rule(api: Api) -> None:
    by_created = ["text-echo", "fresh-model", "image-gen"]
    assert await names(api, "/models/alice") == by_created
    assert await names(api, "/models/alice", sort_direction="desc") == by_created[::-1]
    # Sorting by prediction count drops models without predictions.
    assert await names(api, "/models/alice", sort_by="predictions_count") == [
        "image-gen",
        "text-echo",
    ]
    assert await names(
        api, "/models/alice", sort_by="predictions_count", sort_direction="desc"
    ) == ["text-echo", "image-gen"]
    assert await names(api, "/models/alice", category_slugs="image-generation") == [
        "image-gen"
    ]
    assert await names(api, "/models/carol") == []
    assert (await api.get("/models/nobody"))[0] == 404
    all_mine = await names(api, "/user/models")
    assert "secret-model" in all_mine and len(all_mine) == 4


@pytest.mark.parametrize(
    "params",
    [
        {"sort_by": "name"},
        {"sort_direction": "up"},
        {"page_size": "0"},
        {"page_size": "101"},
        {"page_size": "ten"},
    ],
)
async def test_bad_query_params_are_422(api: Api, params: dict[str, str]) -> None:
    status, body = await api.get("/models/alice", params=params)
    assert status == 422 and body["detail"][0]["loc"][0] == "query"


async def test_global_list_search_and_versions(api: Api, emu: Emulator) -> None:
    listed = await names(api, "/models")
    assert "bob-llm" in listed and "secret-model" not in listed
    assert await names(api, "/search/models", q="ECHO") == ["text-echo"]
    assert (await api.get("/search/models"))[0] == 422
    status, body = await api.get("/search/users", params={"q": "liddell"})
    assert [u["username"] for u in body["items"]] == ["alice"]

    status, body = await api.get("/models/alice/text-echo/versions")
    assert [v["number"] for v in body["items"]] == [2, 1]
    assert "schemas" not in body["items"][0]
    digest = "sha256:" + "ab" * 32
    new: dict[str, Any] = {"schemas": {"prediction": {"input": {}, "output": {}}}}
    status, body = await api.call(
        "POST", "/models/alice/text-echo/versions", json_body=new
    )
    assert status == 422  # container_image_digest is required
    new["container_image_digest"] = digest
    status, body = await api.call(
        "POST", "/models/alice/text-echo/versions", json_body=new
    )
    assert status == 201 and body["number"] == 3
    assert emu.get_model("alice", "text-echo")["latest_version"]["number"] == 3
    assert (await api.get("/models/alice/text-echo/versions/3"))[1]["schemas"]
    assert (await api.call("DELETE", "/models/alice/text-echo/versions/3"))[0] == 204
    assert (await api.get("/models/alice/text-echo/versions/3"))[0] == 404
    assert (await api.get("/models/bob/bob-draft/versions"))[0] == 404


# -- pagination ----------------------------------------------------------------


async def test_cursor_walk_and_previous(api: Api, emu: Emulator) -> None:
    created = emu.add_many_models("zoe", 45)
    seen: list[str] = []
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 20}
    while True:
        status, page = await api.get("/models/zoe", params=params)
        assert status == 200
        pages.append(page)
        seen += [item["name"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"page_size": 20, "cursor": page["next_cursor"]}
    assert seen == created
    assert [len(p["items"]) for p in pages] == [20, 20, 5]
    assert pages[0]["previous_cursor"] is None
    status, back = await api.get(
        "/models/zoe", params={"page_size": 20, "cursor": pages[2]["previous_cursor"]}
    )
    assert back["items"] == pages[1]["items"]
    # The old style also sends next_url, which must work as is.
    status, via_url = await api.get(pages[0]["next_url"])
    assert via_url["items"] == pages[1]["items"]
    # Default page size is 20.
    assert len((await api.get("/models/zoe"))[1]["items"]) == 20


async def test_cursor_from_another_query_is_rejected(api: Api, emu: Emulator) -> None:
    emu.add_many_models("zoe", 5)
    _, page = await api.get("/models/zoe", params={"page_size": 2})
    cursor = page["next_cursor"]
    for path, params in [
        ("/models/zoe", {"cursor": cursor, "sort_direction": "desc"}),
        ("/models/alice", {"cursor": cursor}),
        ("/models/zoe", {"cursor": "garbage!"}),
    ]:
        status, body = await api.get(path, params=params)
        assert status == 400 and isinstance(body["detail"], str), params


# -- predictions ---------------------------------------------------------------


async def test_create_prediction_runs_to_success(api: Api, emu: Emulator) -> None:
    count = emu.get_model("alice", "text-echo")["predictions_count"]
    status, body = await api.call(
        "POST", "/models/alice/text-echo/predictions", json_body={"input": {"a": 1}}
    )
    assert status == 201 and body["status"] in ("starting", "started")
    assert body["model"] == {"owner": "alice", "name": "text-echo", "version_number": 2}
    assert emu.get_model("alice", "text-echo")["predictions_count"] == count + 1
    await asyncio.sleep(0.25)
    status, done = await api.get(f"/predictions/{body['id']}")
    assert done["status"] == "succeeded" and done["output"] == {"a": 1}
    assert done["execution_time"].endswith("s")


async def test_prefer_wait_and_model_reference(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/predictions",
        json_body={"model": "alice/text-echo:1", "input": {"prompt": "x"}},
        headers={"Prefer": "wait"},
    )
    assert status == 201 and body["status"] == "succeeded"
    assert body["model"]["version_number"] == 1
    status, body = await api.call(
        "POST",
        "/predictions",
        json_body={"model": "alice/text-echo", "input": {}},
        headers={"Prefer": "wait=0.01"},
    )
    assert status == 201 and body["status"] != "succeeded"
    bad = {"model": "alice", "input": {}}
    assert (await api.call("POST", "/predictions", json_body=bad))[0] == 422
    missing = {"model": "alice/text-echo:9", "input": {}}
    assert (await api.call("POST", "/predictions", json_body=missing))[0] == 404


async def test_validate_input_header(api: Api) -> None:
    path = "/models/alice/text-echo/versions/2/predictions"
    body = {"input": {"max_tokens": "many", "extra": 1}}
    status, out = await api.call(
        "POST", path, json_body=body, headers={"Validate-Input": "true"}
    )
    assert status == 422
    assert {tuple(d["loc"]) for d in out["detail"]} == {
        ("body", "input", "prompt"),
        ("body", "input", "max_tokens"),
        ("body", "input", "extra"),
    }
    assert (await api.call("POST", path, json_body=body))[0] == 201


async def test_list_predictions_with_status_filter(api: Api) -> None:
    status, body = await api.get(
        "/predictions", params=[("statuses", "failed"), ("statuses", "pending")]
    )
    assert status == 200
    assert {p["id"] for p in body["items"]} == {
        SEED_PREDICTIONS["failed"],
        SEED_PREDICTIONS["pending"],
    }
    assert "input" not in body["items"][0]
    assert (await api.get("/predictions", params={"statuses": "weird"}))[0] == 422
    _, everything = await api.get("/predictions")
    assert len(everything["items"]) == len(SEED_PREDICTIONS)


async def test_cancel_lifecycle(api: Api) -> None:
    status, body = await api.call("POST", f"/predictions/{STARTED}/cancel")
    assert status == 200 and body["status"] == "started"
    assert (await api.get(f"/predictions/{STARTED}"))[1]["status"] == "started"
    status, again = await api.call("POST", f"/predictions/{STARTED}/cancel")
    assert status == 200 and again["status"] == "started"
    await asyncio.sleep(0.25)
    assert (await api.get(f"/predictions/{STARTED}"))[1]["status"] == "cancelled"
    status, body = await api.call("POST", f"/predictions/{STARTED}/cancel")
    assert (status, body) == (409, {"detail": "Prediction has already terminated"})
    assert (await api.call("POST", "/predictions/nope/cancel"))[0] == 404


async def test_repeat_cancel_keeps_the_first_deadline() -> None:
    async with (
        Emulator(cancel_delay=0.3, already_terminated_status=400) as emu,
        aiohttp.ClientSession(headers=auth(emu)) as session,
    ):
        api = Api(emu, session)
        await api.call("POST", f"/predictions/{STARTED}/cancel")
        await asyncio.sleep(0.2)
        await api.call("POST", f"/predictions/{STARTED}/cancel")
        await asyncio.sleep(0.15)  # 0.35 s after the first ask, 0.15 after the second
        assert emu.get_prediction(STARTED)["status"] == "cancelled"
        status, _ = await api.call("POST", f"/predictions/{STARTED}/cancel")
        assert status == 400


async def test_cancel_can_lose_to_completion() -> None:
    # A cancel takes effect cancel_delay after it is accepted; a prediction
    # that finishes within that delay wins. This emulator's cancel_delay is
    # long enough that the POST lands in time even on a busy machine.
    async with (
        Emulator(cancel_delay=30.0) as slow_cancels,
        aiohttp.ClientSession(headers=auth(slow_cancels)) as session,
    ):
        slow_api = Api(slow_cancels, session)
        seeded = slow_cancels.add_prediction(
            "alice/text-echo",
            status="started",
            finish_after=1.0,
            final_status="succeeded",
            output="done",
        )
        path = f"/predictions/{seeded['id']}"
        # Accepted, not done yet: 202, as the service's recordings answer.
        assert (await slow_api.call("POST", path + "/cancel"))[0] == 202
        for _ in range(500):  # bounded poll for the server-side state
            _, body = await slow_api.get(path)
            if body["status"] != "started":
                break
            await asyncio.sleep(0.02)
        assert body["status"] == "succeeded" and body["output"] == "done"


async def test_others_predictions_are_invisible(api: Api, emu: Emulator) -> None:
    theirs = emu.add_prediction("bob/bob-llm", owner="bob", status="started")
    assert (await api.get(f"/predictions/{theirs['id']}"))[0] == 404
    assert (await api.call("POST", f"/predictions/{theirs['id']}/cancel"))[0] == 404


# -- fault injection -----------------------------------------------------------


async def test_inject_status_then_recover(api: Api, emu: Emulator) -> None:
    reset = str(int(time.time()) + 1)
    fault = emu.inject(429, headers={"x-ratelimit-reset": reset}, times=2)
    async with api.session.get(emu.base_url + "/user") as resp:
        assert resp.status == 429 and resp.headers["x-ratelimit-reset"] == reset
        assert (await resp.json())["detail"]
    assert (await api.get("/user"))[0] == 429
    assert (await api.get("/user"))[0] == 200
    assert fault.hits == 2 and fault.remaining == 0
    assert [r.fault for r in emu.requests[-3:]] == ["status", "status", None]
    assert emu.requests[-1].path == "/user"


async def test_an_injected_429_says_when_to_come_back() -> None:
    # The official client reads x-ratelimit-reset on every 429 (a KeyError
    # without it): an injected 429 sends it unless the test chose a header.
    async with Emulator() as emu, aiohttp.ClientSession(headers=auth(emu)) as s:
        emu.inject(429)
        emu.inject(429, headers={"Retry-After": "7"})
        before = time.time()
        async with s.get(emu.base_url + "/user") as resp:
            assert resp.status == 429
            reset = float(resp.headers["x-ratelimit-reset"])
            body = await resp.json()
        assert before < reset <= time.time() + 1.01  # 3 decimals, rounded
        assert set(body) == {"error", "detail"} and body["error"]
        async with s.get(emu.base_url + "/user") as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "7"
            assert "x-ratelimit-reset" not in resp.headers


async def test_inject_html_empty_and_filters(api: Api, emu: Emulator) -> None:
    emu.inject(502, body=b"<html>Bad gateway</html>", content_type="text/html")
    emu.inject(503, body=b"")
    emu.inject(500, method="POST", path="/predictions/*", times=None)
    async with api.session.get(emu.base_url + "/hardware") as resp:
        assert resp.status == 502 and resp.content_type == "text/html"
        assert await resp.text() == "<html>Bad gateway</html>"
    async with api.session.get(emu.base_url + "/hardware") as resp:
        assert resp.status == 503 and await resp.read() == b""
    assert (await api.get("/hardware"))[0] == 200
    for _ in range(2):
        cancel = await api.call("POST", f"/predictions/{STARTED}/cancel")
        assert cancel[0] == 500
    emu.clear_faults()
    assert (await api.call("POST", f"/predictions/{STARTED}/cancel"))[0] == 200


async def test_inject_disconnect_and_delay(api: Api, emu: Emulator) -> None:
    # aiohttp's client retries an idempotent request once when the connection
    # drops, so a GET needs two disconnects to surface; a POST needs one.
    emu.inject_disconnect(path="/user", times=2)
    emu.inject_disconnect(method="POST")
    emu.inject_delay(0.15, path="/hardware")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.get("/user")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.call("POST", f"/predictions/{STARTED}/cancel")
    assert (await api.get("/user"))[0] == 200
    started = time.monotonic()
    assert (await api.get("/hardware"))[0] == 200
    assert time.monotonic() - started >= 0.14
    assert [r.fault for r in emu.requests] == [
        "disconnect",
        "disconnect",
        "disconnect",
        None,
        "delay",
    ]
    # The disconnected cancel never reached the handler.
    assert emu.get_prediction(STARTED)["status"] == "started"


async def test_requests_are_recorded(api: Api, emu: Emulator) -> None:
    await api.call(
        "PATCH",
        "/models/alice/text-echo",
        json_body={"description": "d"},
        params={"x": "1"},
    )
    recorded = emu.requests[-1]
    assert (recorded.method, recorded.path) == ("PATCH", "/models/alice/text-echo")
    assert recorded.json == {"description": "d"} and recorded.query["x"] == "1"
    assert recorded.headers["authorization"] == f"Bearer {emu.access_token}"
    assert json.loads(recorded.body) == recorded.json


# -- styles --------------------------------------------------------------------


async def test_old_style_shapes(api: Api) -> None:
    _, user = await api.get("/user")
    assert {"id", "username", "name"} <= user.keys() and "account_id" not in user
    _, model = await api.get("/models/alice/text-echo")
    assert model["hardware"] == {"identifier": "cpu", "name": "CPU"}
    assert "configuration" not in model["latest_version"]
    _, hardware = await api.get("/hardware")
    assert {"ram_per_gpu_gb", "ram_gb"} <= hardware["items"][0].keys()
    assert "next_url" in hardware
    _, prediction = await api.get(f"/predictions/{SEED_PREDICTIONS['succeeded']}")
    assert "metrics" not in prediction and prediction["created_at"].endswith("Z")
    # In the old style "name" is the display name, and PATCH /user can set it.
    status, me = await api.call("PATCH", "/user", json_body={"name": "Al", "bio": None})
    assert status == 200 and (me["name"], me["bio"]) == ("Al", None)
    assert me["location"] == "Oxford"


async def test_new_style_shapes() -> None:
    async with (
        Emulator(style="new") as emu,
        aiohttp.ClientSession(headers=auth(emu)) as session,
    ):
        api = Api(emu, session)
        _, user = await api.get("/user")
        assert user["account_id"] and user["name"] == "alice"
        assert user["display_name"] == "Alice Liddell" and "username" not in user
        _, model = await api.get("/models/alice/text-echo")
        assert "hardware" not in model and "cover_image_url" in model
        assert model["owner"]["name"] == "alice"
        version = model["latest_version"]
        assert version["configuration"] == {
            "hardware_identifier": "cpu",
            "variable_names": [],
        }
        assert isinstance(version["size"], int)
        assert all(isinstance(v, bool) for v in version["compatibilities"].values())
        _, hardware = await api.get("/hardware")
        assert {"vram_gb", "ram_gib", "description"} <= hardware["items"][0].keys()
        assert "next_url" not in hardware
        _, prediction = await api.get(f"/predictions/{SEED_PREDICTIONS['succeeded']}")
        assert prediction["stream"] is False
        assert prediction["metrics"] == {"predict_time": 1.25}
        status, me = await api.call(
            "PATCH", "/user", json_body={"display_name": "A", "urls": None}
        )
        assert status == 200 and me["display_name"] == "A" and me["urls"] is None
        # "name" is the username here (the official client's UpdateUserParams
        # says "the new name of the user"): it renames, the token follows.
        assert (await api.call("PATCH", "/user", json_body={"name": "Not A Slug"}))[
            0
        ] == 422
        assert (await api.call("PATCH", "/user", json_body={"name": None}))[0] == 422
        assert (await api.call("PATCH", "/user", json_body={"name": "bob"}))[0] == 409
        status, me = await api.call("PATCH", "/user", json_body={"name": "x"})
        assert status == 200 and me["name"] == "x" and emu.username == "x"
        assert (await api.get("/user"))[1]["name"] == "x"
        assert (await api.get("/models/x/text-echo"))[0] == 200


# -- seeding and lifecycle -----------------------------------------------------


def test_seed_is_deterministic_and_optional() -> None:
    first, second = Emulator(), Emulator()
    assert first.get_model("alice", "image-gen") == second.get_model(
        "alice", "image-gen"
    )
    assert first.get_prediction(STARTED) == second.get_prediction(STARTED)
    empty = Emulator(seed=False, username="zed")
    with pytest.raises(KeyError):
        empty.get_model("alice", "text-echo")
    model = empty.add_model("zed", "m", versions=1, categories=["misc"])
    assert model["latest_version"]["number"] == 1
    assert model["categories"] == [{"name": "Misc", "slug": "misc"}]


async def test_close_leaves_no_tasks_and_frees_the_port() -> None:
    emu = Emulator()
    await emu.start()
    port = int(emu.base_url.split(":")[2].split("/")[0])
    async with aiohttp.ClientSession(headers=auth(emu)) as session:
        assert (await Api(emu, session).get("/user"))[0] == 200
    await emu.close()
    await emu.close()  # idempotent
    assert asyncio.all_tasks() == {asyncio.current_task()}
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_threaded_runner_from_sync_code() -> None:
    with Emulator(seed=False).run_in_thread() as emu:
        emu.add_model("alice", "m1", predictions_count=3)
        request = urllib.request.Request(
            emu.base_url + "/models/alice", headers=auth(emu)
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            body = json.load(resp)
        assert [m["name"] for m in body["items"]] == ["m1"]
        base_url = emu.base_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base_url + "/user", timeout=1)


async def test_plugin_fixture_in_async_test(wriftai_emulator: Emulator) -> None:
    async with aiohttp.ClientSession(headers=auth(wriftai_emulator)) as session:
        status, body = await Api(wriftai_emulator, session).get("/user")
    assert status == 200 and body["name"] == "alice"  # the default dialect


def test_plugin_enabled_with_marker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["wriftai_async.testing.pytest_plugin"]\n'
    )
    test_file = tmp_path / "test_uses_plugin.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import json, urllib.request
            import pytest

            @pytest.fixture
            def wriftai_emulator_options():
                return {"cancel_delay": 0.01, "style": "old"}

            @pytest.mark.wriftai_emulator(style="new", username="bob")
            def test_it(wriftai_emulator):
                req = urllib.request.Request(
                    wriftai_emulator.base_url + "/user",
                    headers={"Authorization": "Bearer test-token"},
                )
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert json.load(resp)["name"] == "bob"
                assert wriftai_emulator.style == "new"  # the marker wins
            """
        )
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "--strict-markers",
            "-W",
            "error",
            str(test_file),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
