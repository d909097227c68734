"""The emulator against a client nobody here wrote: the official ``wriftai``.

``wriftai`` 0.34.0 (PyPI, httpx-based) is the service's own Python client,
the best public evidence of what the service speaks. Every operation it has
is driven here, through its sync and its async methods, against
``Emulator()`` in its default dialect (only timing knobs are set, to keep the
suite fast). Each answer is checked, and so is each refusal the service must
give: 404 for what does not exist, 409 for cancelling a finished prediction,
401 for a bad token.

The official client accepts any JSON (TypedDicts, no validation), so shapes
and statuses are checked here against the service's own recordings (the
sdist's integration tests, replayed in ``test_recorded_emulator.py``): user
items carry the official ``User`` keys, creates answer 200, deletes 204 with
no body, a cancel 202, and errors ``{"error": "..."}``.

One operation cannot pass as the official client is written: it parses every
answer as JSON, a bodiless 204 included, so each ``delete`` raises
``json.JSONDecodeError`` after the deletion took effect, as it would against
the service. Those calls are checked for exactly that.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import wriftai
from wriftai.common_types import BaseUser, User
from wriftai.predictions import CreateWaitOptions, WaitOptions

from wriftai_async import webhooks
from wriftai_async.testing import SEED_PREDICTIONS, Emulator

MODES = ["sync", "async"]
COMPATIBILITY_KEYS = {
    "openai_chat_completions",
    "openai_embeddings",
    "openai_images_generations",
    "openai_responses",
    "anthropic_messages",
}
SCHEMAS = {
    "prediction": {
        "input": {"type": "object", "properties": {"prompt": {"type": "string"}}},
        "output": {"type": "object"},
    }
}
DIGEST = "sha256:" + "ab" * 32
FAST_WAIT = WaitOptions(poll_interval=0.02)
FAST_CREATE_WAIT = CreateWaitOptions(poll_interval=0.02)
# The official TypedDicts: a user in a listing, and a model's owner.
USER_KEYS = User.__required_keys__ | User.__optional_keys__
BASE_USER_KEYS = BaseUser.__required_keys__ | BaseUser.__optional_keys__


class Official:
    """One official client, called through its sync or its async methods."""

    def __init__(
        self,
        client: wriftai.Client,
        mode: str,
        emu: Emulator,
        answers: list[httpx.Response] | None = None,
    ) -> None:
        self.client = client
        self.mode = mode
        self.emu = emu
        #: Every response the official client received, oldest first.
        self.answers = answers if answers is not None else []

    def last(self, method: str) -> httpx.Response:
        """The last response to a ``method`` request."""
        return next(r for r in reversed(self.answers) if r.request.method == method)

    async def deleted(self, resource: str, op: str, *args: Any) -> None:
        """A delete: answered 204 with no body, which the official client
        cannot parse (it calls ``response.json()`` on every answer)."""
        with pytest.raises(json.JSONDecodeError):
            await self(resource, op, *args)
        answer = self.last("DELETE")
        assert (answer.status_code, answer.content) == (204, b"")

    async def __call__(self, resource: str, op: str, *args: Any, **kw: Any) -> Any:
        target = getattr(self.client, resource)
        if self.mode == "sync":
            return getattr(target, op)(*args, **kw)
        result = getattr(target, "async_" + op)(*args, **kw)
        return await result if inspect.isawaitable(result) else result

    async def events(self, resource: str, op: str, *args: Any, **kw: Any) -> list[Any]:
        """Every event of a streaming call, as a list."""
        result = await self(resource, op, *args, **kw)
        if self.mode == "sync":
            return list(result)
        return [event async for event in result]

    async def status_of_failure(
        self, resource: str, op: str, *args: Any, **kw: Any
    ) -> int:
        with pytest.raises(httpx.HTTPStatusError) as info:
            await self(resource, op, *args, **kw)
        # The error shape of the service's recordings: {"error": "..."}.
        body = info.value.response.json()
        assert isinstance(body, dict) and isinstance(body["error"], str), body
        assert body["error"]
        return info.value.response.status_code


def official_client(
    emu: Emulator,
    token: str | None = None,
    answers: list[httpx.Response] | None = None,
) -> tuple[wriftai.Client, httpx.Client, httpx.AsyncClient]:
    answers = answers if answers is not None else []

    def keep(response: httpx.Response) -> None:
        answers.append(response)

    async def keep_async(response: httpx.Response) -> None:
        answers.append(response)

    http = httpx.Client(timeout=30.0, event_hooks={"response": [keep]})
    ahttp = httpx.AsyncClient(timeout=30.0, event_hooks={"response": [keep_async]})
    client = wriftai.Client(
        access_token=token or emu.access_token,
        api_base_url=emu.base_url,
        http_client=http,
        async_http_client=ahttp,
        max_retries=0,
    )
    return client, http, ahttp


@pytest.fixture(params=MODES)
async def official(request: pytest.FixtureRequest) -> AsyncIterator[Official]:
    # Only timing knobs: the dialect is the default one.
    with Emulator(cancel_delay=0.05, prediction_duration=0.3).run_in_thread() as emu:
        answers: list[httpx.Response] = []
        client, http, ahttp = official_client(emu, answers=answers)
        try:
            yield Official(client, request.param, emu, answers)
        finally:
            http.close()
            await ahttp.aclose()


async def walk(official: Official, resource: str, op: str, *args: Any, **opts: Any):
    """Every item of a listing, following ``next_cursor``; also the pages."""
    pages = []
    options: dict[str, Any] = dict(opts)
    while True:
        page = await official(resource, op, *args, options)
        pages.append(page)
        if page.next_cursor is None:
            break
        options = {**opts, "cursor": page.next_cursor}
    return [item for page in pages for item in page.items], pages


# -- models --------------------------------------------------------------------


async def test_model_listings_cursors_sorts_and_filters(official: Official) -> None:
    models, pages = await walk(official, "models", "list", page_size=2)
    assert [m["name"] for m in models] == [
        "text-echo",
        "fresh-model",
        "image-gen",
        "bob-llm",
    ]
    assert len(pages) == 2
    assert pages[0].previous_cursor is None and pages[1].previous_cursor is not None
    assert set(models[0]["owner"]) == {"account_id", "name", "avatar_url"}
    assert models[0]["owner"]["name"] == "alice"
    assert set(models[0]["owner"]) == BASE_USER_KEYS
    assert models[0]["categories"] == [
        {"name": "Text generation", "slug": "text-generation"}
    ]
    assert "cover_image_url" in models[0]

    by_count = await official(
        "models",
        "list",
        {"sort_by": "predictions_count", "sort_direction": "desc"},
        owner="alice",
    )
    assert [m["name"] for m in by_count.items] == ["text-echo", "image-gen"]
    images = await official("models", "list", {"category_slugs": ["image-generation"]})
    assert [m["name"] for m in images.items] == ["image-gen"]

    found = await official("models", "search", "echo", {"page_size": 5})
    assert [m["name"] for m in found.items] == ["text-echo"]
    mine, _ = await walk(official, "authenticated_user", "models", page_size=3)
    assert "secret-model" in {m["name"] for m in mine}
    assert await official.status_of_failure("models", "list", owner="nobody") == 404


async def test_model_get_create_update_delete(official: Official) -> None:
    model = await official("models", "get", "alice/text-echo")
    latest = model["latest_version"]
    assert latest["number"] == 2
    assert set(latest["compatibilities"]) == COMPATIBILITY_KEYS
    assert "input" in latest["schemas"]["prediction"]
    assert model["overview"].startswith("# Text echo")
    assert model["license_url"] == "https://www.apache.org/licenses/LICENSE-2.0"

    # The official CreateModelParams has no hardware_identifier.
    created = await official(
        "models",
        "create",
        {
            "name": "contract",
            "visibility": "restricted",
            "description": "made by the official client",
            "category_slugs": ["audio"],
        },
    )
    assert official.last("POST").status_code == 200  # as recorded, not 201
    assert created["name"] == "contract"
    assert created["visibility"] == "restricted"
    assert created["owner"]["name"] == "alice"
    assert created["latest_version"] is None
    assert [c["slug"] for c in created["categories"]] == ["audio"]

    updated = await official(
        "models",
        "update",
        "alice/contract",
        {"name": "contract-2", "description": None, "overview": "More"},
    )
    assert (updated["name"], updated["description"]) == ("contract-2", None)
    assert updated["overview"] == "More"

    await official.deleted("models", "delete", "alice/contract-2")
    assert await official.status_of_failure("models", "get", "alice/contract-2") == 404
    assert await official.status_of_failure("models", "get", "alice/nope") == 404
    assert await official.status_of_failure("models", "delete", "alice/nope") == 404


# -- versions and configuration ------------------------------------------------


async def test_versions_and_configuration(official: Official) -> None:
    versions, _ = await walk(official, "model_versions", "list", "alice/text-echo")
    assert [v["number"] for v in versions] == [2, 1]
    first = await official("model_versions", "get", "alice/text-echo:1")
    assert first["release_notes"] == "First release"
    assert set(first["compatibilities"]) == COMPATIBILITY_KEYS

    created = await official(
        "model_versions",
        "create",
        "alice/text-echo",
        {
            "release_notes": "Third",
            "schemas": SCHEMAS,
            "container_image_digest": DIGEST,
            "compatibilities": {"openai_chat_completions": True},
            "configuration": {
                "hardware_identifier": "gpu-t4",
                "variable_names": ["hf-token"],
            },
        },
    )
    assert created["number"] == 3
    assert official.last("POST").status_code == 200
    assert created["configuration"] == {
        "hardware_identifier": "gpu-t4",
        "variable_names": ["hf-token"],
    }
    assert created["compatibilities"] == {
        key: key == "openai_chat_completions" for key in COMPATIBILITY_KEYS
    }
    # Without a configuration, a version inherits the previous one's.
    inherited = await official(
        "model_versions",
        "create",
        "alice/text-echo",
        {"release_notes": "", "schemas": SCHEMAS, "container_image_digest": DIGEST},
    )
    assert inherited["number"] == 4
    assert inherited["configuration"] == created["configuration"]

    config = await official("model_versions", "get_configuration", "alice/text-echo:3")
    assert config == created["configuration"]
    changed = await official(
        "model_versions",
        "update_configuration",
        "alice/text-echo:3",
        {"hardware_identifier": "cpu", "variable_names": []},
    )
    assert changed == {"hardware_identifier": "cpu", "variable_names": []}

    await official.deleted("model_versions", "delete", "alice/text-echo:4")
    gone = await official.status_of_failure(
        "model_versions", "get", "alice/text-echo:4"
    )
    assert gone == 404
    assert (
        await official.status_of_failure(
            "model_versions", "get_configuration", "alice/text-echo:99"
        )
        == 404
    )


# -- users ---------------------------------------------------------------------


async def test_users_and_the_authenticated_user(official: Official) -> None:
    me = await official("authenticated_user", "get")
    assert (me["name"], me["account_id"]) == ("alice", me["account_id"])
    assert {"display_name", "bio", "urls", "created_at"} <= set(me)
    me = await official(
        "authenticated_user",
        "update",
        {"display_name": "Alice A.", "bio": "Tests", "urls": ["https://a.example"]},
    )
    assert (me["display_name"], me["bio"]) == ("Alice A.", "Tests")
    assert me["urls"] == ["https://a.example"]

    bob = await official("users", "get", "bob")
    assert (bob["name"], bob["display_name"]) == ("bob", "Bob")
    ascending, _ = await walk(
        official, "users", "list", sort_by="created_at", sort_direction="asc"
    )
    descending, _ = await walk(
        official,
        "users",
        "list",
        sort_by="created_at",
        sort_direction="desc",
        page_size=2,
    )
    names = [u["name"] for u in ascending]
    assert names[:3] == ["alice", "bob", "carol"]
    # Listed users are the official User (without urls: UserWithDetails).
    assert all(set(u) == USER_KEYS for u in ascending + descending)
    assert [u["name"] for u in descending] == names[::-1]
    found = await official("users", "search", "bo")
    assert [u["name"] for u in found.items] == ["bob"]
    assert set(found.items[0]) == USER_KEYS
    assert found.items[0]["display_name"] == "Bob"
    assert await official.status_of_failure("users", "get", "nobody") == 404

    # In this dialect "name" is the username: the account is renamed.
    renamed = await official("authenticated_user", "update", {"name": "alice-2"})
    assert renamed["name"] == "alice-2"
    assert (await official("authenticated_user", "get"))["name"] == "alice-2"
    model = await official("models", "get", "alice-2/text-echo")
    assert model["owner"]["name"] == "alice-2"
    taken = await official.status_of_failure(
        "authenticated_user", "update", {"name": "bob"}
    )
    assert taken == 409


# -- hardware and categories ---------------------------------------------------


async def test_hardware_and_categories(official: Official) -> None:
    hardware, _ = await walk(official, "hardware", "list", page_size=2)
    assert [h["identifier"] for h in hardware] == ["cpu", "gpu-t4", "gpu-a100"]
    for item in hardware:
        assert {"name", "gpus", "cpus", "vram_gb", "ram_gib", "description"} <= set(
            item
        )
    categories = await official("model_categories", "list", None)
    assert [c["slug"] for c in categories.items][:2] == [
        "text-generation",
        "image-generation",
    ]
    assert all(isinstance(c["description"], str) for c in categories.items)
    one = await official("model_categories", "list", {"page_size": 1})
    assert len(one.items) == 1 and one.next_cursor is not None


# -- predictions ---------------------------------------------------------------


async def test_prediction_create_get_wait_list(official: Official) -> None:
    created = await official(
        "predictions",
        "create",
        model="alice/text-echo",
        input={"prompt": "hello there"},
    )
    assert created["status"] in ("starting", "started")
    assert official.last("POST").status_code == 202  # accepted, running
    assert official.emu.requests[-1].json["stream"] is False
    assert created["stream"] is False
    assert created["model"] == {
        "owner": "alice",
        "name": "text-echo",
        "version_number": 2,
    }
    got = await official("predictions", "get", created["id"])
    assert got["id"] == created["id"]
    done = await official("predictions", "wait", created["id"], options=FAST_WAIT)
    assert (done["status"], done["output"]) == ("succeeded", {"prompt": "hello there"})

    waited = await official(
        "predictions",
        "create",
        wait=True,
        wait_options=FAST_CREATE_WAIT,
        model="alice/text-echo:1",
        input={"prompt": "wait"},
        validate_input=True,
        webhook={"url": "https://hooks.example/w", "secret": "s3cret"},
    )
    assert waited["status"] == "succeeded"
    assert waited["model"]["version_number"] == 1
    # Answered by the hold (Prefer: wait), not by polling: 200, done.
    [held] = [
        r
        for r in official.emu.requests
        if r.json and r.json.get("input") == {"prompt": "wait"}
    ]
    assert held.headers["Prefer"] == "wait"
    assert held.json["webhook"] == {
        "url": "https://hooks.example/w",
        "secret": "s3cret",
    }
    assert official.last("POST").status_code == 200
    assert official.answers[-1].request.method == "POST"  # no poll after it

    invalid = await official.status_of_failure(
        "predictions",
        "create",
        model="alice/text-echo",
        input={"unknown": 1},
        validate_input=True,
    )
    assert invalid == 422

    succeeded, _ = await walk(
        official, "predictions", "list", statuses=["succeeded"], page_size=1
    )
    ids = {p["id"] for p in succeeded}
    assert {created["id"], waited["id"], SEED_PREDICTIONS["succeeded"]} <= ids
    assert {p["status"] for p in succeeded} == {"succeeded"}
    missing = await official.status_of_failure("predictions", "get", str(uuid.uuid4()))
    assert missing == 404


async def test_prediction_cancel_and_its_refusal(official: Official) -> None:
    running = SEED_PREDICTIONS["started"]
    assert await official("predictions", "cancel", running) is None
    assert official.last("POST").status_code == 202  # as recorded
    final = await official("predictions", "wait", running, options=FAST_WAIT)
    assert final["status"] == "cancelled"
    refused = SEED_PREDICTIONS["succeeded"]
    assert await official.status_of_failure("predictions", "cancel", refused) == 409
    assert (
        await official.status_of_failure("predictions", "cancel", str(uuid.uuid4()))
        == 404
    )


def check_events(events: list[dict[str, Any]], text: str) -> None:
    """One stream's events: ids 1..n, init first, done last, output = text."""
    assert [e["id"] for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert events[0]["event"] == "init"
    assert events[-1]["event"] == "done"
    assert events[-1]["data"]["status"] == "succeeded"
    outputs = [e["data"] for e in events if e["event"] == "output"]
    assert "".join(outputs) == text


async def test_prediction_stream_and_resume(official: Official) -> None:
    created = await official(
        "predictions",
        "create",
        stream=True,
        model="alice/text-echo",
        input={"prompt": "one two three"},
    )
    # stream=True without wait: the prediction as JSON, marked streaming.
    assert created["stream"] is True
    events = await official.events("predictions", "stream", created["id"])
    check_events(events, "one two three")
    later = await official.events(
        "predictions", "stream", created["id"], after_id=events[1]["id"]
    )
    assert later == events[2:]

    failed = await official.events("predictions", "stream", SEED_PREDICTIONS["failed"])
    # The official client stops at "error" (a terminal event for it).
    assert [e["event"] for e in failed] == ["init", "error"]
    assert failed[-1]["data"]["message"] == "Input rejected"


async def test_prediction_create_with_stream_and_wait(official: Official) -> None:
    events = await official.events(
        "predictions",
        "create",
        wait=True,
        stream=True,
        model="alice/text-echo",
        input={"prompt": "streamed from the post"},
    )
    check_events(events, "streamed from the post")
    assert official.emu.requests[-1].method == "POST"
    assert official.emu.requests[-1].json["stream"] is True

    # An idle time shorter than the gaps between events: the server closes
    # the POST's stream early and the official client resumes it with GET
    # .../stream?after_id=..., which must neither lose nor repeat an event.
    before = len(official.emu.requests)
    events = await official.events(
        "predictions",
        "create",
        wait=True,
        stream=True,
        wait_options=CreateWaitOptions(duration=0.01),
        model="alice/text-echo",
        input={"prompt": "a b c d e"},
    )
    check_events(events, "a b c d e")
    resumed = [r for r in official.emu.requests[before:] if r.method == "GET"]
    assert resumed and all(r.query.get("after_id") for r in resumed)
    assert resumed[0].headers["Prefer"] == "wait=0.01"


# -- uploads and files ---------------------------------------------------------


async def test_upload_of_six_mib_and_a_file_input(official: Official) -> None:
    data = bytes(range(256)) * (6 * 1024 * 4)  # 6 MiB: two parts of 5 MiB max
    result = await official(
        "files", "upload", wriftai.File(data, mime_type="application/octet-stream")
    )
    async with httpx.AsyncClient() as http:
        downloaded = await http.get(result["download_url"])
    assert downloaded.content == data

    prediction = await official(
        "predictions",
        "create",
        model="alice/text-echo",
        input={"prompt": "see file", "file": wriftai.File(b"tiny", "text/plain")},
    )
    assert prediction["input"]["file"].startswith(official.emu.base_url[:-3])
    upload = await official("uploads", "create", {"size": 3, "mime_type": "text/plain"})
    assert len(upload["urls"]) == 1 and upload["part_size"] == 3


# -- variables -----------------------------------------------------------------


async def test_variables(official: Official) -> None:
    seeded = await official("variables", "list")
    assert [(v["name"], v["value"], v["secret"]) for v in seeded.items] == [
        ("hf-token", "", True)
    ]
    made = await official(
        "variables",
        "create",
        {"name": "region", "key": "REGION", "value": "eu", "secret": False},
    )
    assert (made["key"], made["value"]) == ("REGION", "eu")
    assert official.last("POST").status_code == 200
    changed = await official("variables", "update", "region", {"value": "us"})
    assert changed["value"] == "us" and changed["updated_at"] is not None
    dup = await official.status_of_failure(
        "variables",
        "create",
        {"name": "region", "key": "R", "value": "x", "secret": True},
    )
    assert dup == 409
    await official.deleted("variables", "delete", "region")
    names = [v["name"] for v in (await official("variables", "list", None)).items]
    assert names == ["hf-token"]
    assert await official.status_of_failure("variables", "delete", "region") == 404


# -- refusals and defaults -----------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_bad_token_is_refused_with_401(mode: str) -> None:
    with Emulator().run_in_thread() as emu:
        client, http, ahttp = official_client(emu, token="wrong-token")
        try:
            official = Official(client, mode, emu)
            assert await official.status_of_failure("users", "get", "bob") == 401
            assert await official.status_of_failure("models", "list") == 401
        finally:
            http.close()
            await ahttp.aclose()


async def test_emulator_with_no_options_speaks_the_official_dialect() -> None:
    with Emulator().run_in_thread() as emu:
        client, http, ahttp = official_client(emu)
        try:
            page = client.models.list()
            assert page.items and page.next_cursor is None
            page = await client.users.async_list()
            assert {"account_id", "name"} <= set(page.items[0])
        finally:
            http.close()
            await ahttp.aclose()


# -- webhooks ------------------------------------------------------------------


def test_webhook_signatures_verify_both_ways() -> None:
    payload, secret = b'{"id": "p1", "status": "succeeded"}', "whsec_test"
    # Ours signs, the official client verifies.
    wriftai.verify_webhook(payload, webhooks.sign(payload, secret), secret)
    with pytest.raises(wriftai.WebhookSignatureMismatchError):
        wriftai.verify_webhook(payload + b" ", webhooks.sign(payload, secret), secret)
    # Signed as the official client checks (its _webhook.verify), ours verifies.
    now = int(time.time())
    digest = hmac.new(
        secret.encode(), b"%d." % now + payload, hashlib.sha256
    ).hexdigest()
    webhooks.verify(payload, f"t={now},v1={digest}", secret)
    tampered = digest[:-1] + ("1" if digest[-1] == "0" else "0")
    with pytest.raises(webhooks.WebhookSignatureMismatchError):
        webhooks.verify(payload, f"t={now},v1={tampered}", secret)
