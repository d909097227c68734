"""Every operation of the API reference, over real sockets, in both clients.

One test (or more) per row of the README's operation table.
"""

from __future__ import annotations

import pytest

from wriftai_async import (
    Category,
    ConflictError,
    Hardware,
    Model,
    ModelDetails,
    ModelVersion,
    ModelVersionDetails,
    NotFoundError,
    PredictionDetails,
    PredictionStatus,
    User,
    ValidationError,
)
from wriftai_async.testing import Emulator

from .conftest import CLIENT_KINDS, collect, make_client, new_prediction, resolve

SCHEMAS = {
    "prediction": {
        "input": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        "output": {"type": "string"},
    }
}
DIGEST = "sha256:" + "ab" * 32


async def test_models_list_all(client, emulator):
    models = await collect(client.models.list_all(page_size=2))
    names = {m.full_name for m in models}
    assert {"alice/text-echo", "bob/bob-llm"} <= names
    assert "alice/secret-model" not in names  # private
    assert all(isinstance(m, Model) for m in models)
    page = await resolve(client.models.list_all_page(page_size=1))
    assert len(page.items) == 1 and page.next_cursor


async def test_every_page_of_a_listing_sends_its_query_and_then_a_cursor(
    client, emulator
):
    emulator.add_user("ivy")
    for i in range(5):
        emulator.add_model("ivy", f"m{i}", categories=["audio"])
    models = await collect(
        client.models.list_for_user(
            "ivy",
            page_size=2,
            sort_by="created_at",
            sort_direction="asc",
            category_slugs=["audio"],
        )
    )
    assert [m.name for m in models] == [f"m{i}" for i in range(5)]
    sent = [r.query for r in emulator.requests if r.path == "/models/ivy"]
    assert len(sent) == 3
    assert "cursor" not in sent[0] and all(q["cursor"] for q in sent[1:])
    for query in sent:
        assert [(k, v) for k, v in query.items() if k != "cursor"] == [
            ("page_size", "2"),
            ("sort_by", "created_at"),
            ("sort_direction", "asc"),
            ("category_slugs", "audio"),
        ]


async def test_models_get(client, emulator):
    model = await resolve(client.models.get("alice/image-gen"))
    assert isinstance(model, ModelDetails)
    assert model.owner.username == "alice" and model.name == "image-gen"
    assert isinstance(model.latest_version, ModelVersionDetails)
    assert model.latest_version.input_schema["required"] == ["prompt"]
    with pytest.raises(NotFoundError):
        await resolve(client.models.get("alice/nope"))


async def test_models_create_and_delete(client, emulator):
    created = await resolve(
        client.models.create(
            "new-one", hardware_identifier="cpu", visibility="public", description=None
        )
    )
    assert (
        isinstance(created, ModelDetails)
        and created.full_name == f"{emulator.username}/new-one"
    )
    [post] = [r for r in emulator.requests if r.method == "POST"]
    assert post.json == {
        "name": "new-one",
        "hardware_identifier": "cpu",
        "visibility": "public",
        "description": None,
    }
    with pytest.raises(ConflictError):
        await resolve(client.models.create("new-one"))
    assert await resolve(client.models.delete(f"{emulator.username}/new-one")) is None
    with pytest.raises(NotFoundError):
        await resolve(client.models.get(f"{emulator.username}/new-one"))


async def test_models_search(client, emulator):
    found = await collect(client.models.search("echo"))
    assert [m.full_name for m in found] == ["alice/text-echo"]
    page = await resolve(client.models.search_page("zzz-nothing"))
    assert page.items == []
    assert emulator.requests[-1].query["q"] == "zzz-nothing"


async def test_versions_list_get_create_delete(client, emulator):
    versions = await collect(client.versions.list("alice/text-echo", page_size=1))
    assert sorted(v.number for v in versions) == [1, 2]
    assert all(isinstance(v, ModelVersion) for v in versions)
    page = await resolve(client.versions.list_page("alice/text-echo"))
    assert len(page.items) == 2

    v2 = await resolve(client.versions.get("alice/text-echo:2"))
    assert isinstance(v2, ModelVersionDetails) and v2.release_notes == "Faster echo"

    created = await resolve(
        client.versions.create(
            "alice/text-echo",
            release_notes="Third",
            container_image_digest=DIGEST,
            schemas=SCHEMAS,
        )
    )
    assert created.number == 3 and created.schemas == SCHEMAS
    assert created.container_image_digest == DIGEST
    await resolve(client.versions.delete("alice/text-echo:3"))
    with pytest.raises(NotFoundError):
        await resolve(client.versions.get("alice/text-echo:3"))
    with pytest.raises(ValueError):
        await resolve(client.versions.get("alice/text-echo"))


async def test_predictions_create_get_and_wait(client, emulator):
    created = await resolve(
        client.predictions.create("alice/text-echo", {"text": "hi"})
    )
    assert isinstance(created, PredictionDetails)
    assert created.status in {"pending", "starting", "started", "succeeded"}
    [post] = [r for r in emulator.requests if r.method == "POST"]
    assert post.path == "/predictions"
    # The official client's body: "stream" always sent, false here.
    assert post.json == {
        "model": "alice/text-echo",
        "input": {"text": "hi"},
        "stream": False,
    }
    assert "Prefer" not in post.headers
    fetched = await resolve(client.predictions.get(created.id))
    assert fetched.id == created.id and fetched.input == {"text": "hi"}


async def test_predictions_create_with_wait_and_version(client, emulator):
    done = await resolve(
        client.predictions.create(
            "alice/text-echo:1",
            {"text": "x"},
            wait=True,
            timeout=10,
            poll_interval=0.02,
            webhook_url="https://hooks.example.com/w",
        )
    )
    assert done.is_terminal and done.status is PredictionStatus.SUCCEEDED
    post = next(r for r in emulator.requests if r.method == "POST")
    assert post.headers["Prefer"].startswith("wait")
    assert post.json["model"] == "alice/text-echo:1"
    # The official client's shape, also without a secret.
    assert post.json["webhook"] == {"url": "https://hooks.example.com/w"}
    assert "webhook_url" not in post.json


async def test_predictions_create_validates_input_when_asked(client, emulator):
    with pytest.raises(ValidationError) as caught:
        await resolve(
            client.predictions.create(
                "alice/image-gen", {"width": 3}, validate_input=True
            )
        )
    assert caught.value.errors
    post = next(r for r in emulator.requests if r.method == "POST")
    assert post.headers["Validate-Input"] == "true"
    with pytest.raises(ValueError):
        await resolve(client.predictions.create("alice", {}))


async def test_predictions_list_with_status_filter(client, emulator):
    everything = await collect(client.predictions.list(page_size=3))
    assert len(everything) >= 7
    started = await collect(client.predictions.list(statuses=["started", "pending"]))
    assert started and {p.status for p in started} <= {"started", "pending"}
    assert emulator.requests[-1].query.getall("statuses") == ["started", "pending"]
    page = await resolve(client.predictions.list_page(page_size=2))
    assert len(page.items) == 2 and page.next_cursor


async def test_authenticated_user(client, emulator):
    me = await resolve(client.user.get())
    assert isinstance(me, User) and me.username == emulator.username
    updated = await resolve(client.user.update(bio="Hello", company=None))
    assert updated.bio == "Hello" and updated.company is None
    patch = next(r for r in emulator.requests if r.method == "PATCH")
    assert patch.json == {"bio": "Hello", "company": None}
    mine = await collect(client.user.models(page_size=2))
    assert "secret-model" in {m.name for m in mine}  # own private models too
    page = await resolve(client.user.models_page(page_size=1))
    assert len(page.items) == 1


async def test_users_get_list_search(client, emulator):
    bob = await resolve(client.users.get("bob"))
    assert bob.username == "bob" and bob.display_name == "Bob"
    users = await collect(client.users.list(page_size=2))
    assert {"alice", "bob", "carol"} <= {u.username for u in users}
    page = await resolve(client.users.list_page(page_size=1))
    assert len(page.items) == 1
    found = await collect(client.users.search("car"))
    assert [u.username for u in found] == ["carol"]
    assert (await resolve(client.users.search_page("car"))).items[0].username == "carol"
    with pytest.raises(NotFoundError):
        await resolve(client.users.get("nobody"))


async def test_hardware_and_categories(client, emulator):
    hardware = await collect(client.hardware.list())
    assert {"cpu", "gpu-t4"} <= {h.identifier for h in hardware}
    assert all(isinstance(h, Hardware) for h in hardware)
    t4 = next(h for h in hardware if h.identifier == "gpu-t4")
    assert t4.gpus == 1 and t4.vram_gb == 16
    assert (await resolve(client.hardware.list_page(page_size=1))).next_cursor
    categories = await collect(client.categories.list())
    assert categories and all(isinstance(c, Category) for c in categories)
    assert (await resolve(client.categories.list_page())).items


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_newer_server_style_reads_the_same(kind):
    """The same calls against an emulator speaking the newer field names."""
    with Emulator(style="new").run_in_thread() as emu:
        client = make_client(kind, emu)
        try:
            bob = await resolve(client.users.get("bob"))
            assert (bob.username, bob.display_name) == ("bob", "Bob") and bob.id
            model = await resolve(client.models.get("alice/text-echo"))
            assert model.owner.username == "alice" and model.hardware is None
            assert model.latest_version.configuration.hardware_identifier
            t4 = next(
                h
                for h in await collect(client.hardware.list())
                if h.identifier == "gpu-t4"
            )
            assert t4.vram_gb == 16
            pid = new_prediction(emu, status="succeeded")
            prediction = await resolve(client.predictions.get(pid))
            assert prediction.stream is not None
        finally:
            await resolve(client.aclose() if kind == "async" else client.close())


async def test_session_request_is_the_escape_hatch(emulator):
    async with make_client("async", emulator) as client:
        data = await client.session.request("GET", "/hardware", params={"page_size": 1})
        assert len(data["items"]) == 1
        emulator.inject(status=503, times=1)
        data = await client.session.request("GET", "/users/bob")
        assert data["name"] == "bob"  # raw JSON, in the default dialect
        with pytest.raises(NotFoundError):
            await client.session.request("GET", "/users/nobody")


async def test_predictions_stream(client, emulator):
    created = await resolve(
        client.predictions.create(
            "alice/text-echo", {"text": "one two three"}, stream=True, wait=False
        )
    )
    events = await collect(client.predictions.stream(created.id))
    names = [e.event for e in events]
    assert names[0] == "init" and names[-1] == "done"
    assert "output" in names
    assert [e.id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    resumed = await collect(
        client.predictions.stream(created.id, after_id=events[-2].id)
    )
    assert [e.event for e in resumed] == ["done"]


async def test_predictions_create_falls_back_to_the_older_endpoint_on_405(
    client, emulator
):
    emulator.inject(status=405, method="POST", path="/predictions", times=1)
    created = await resolve(
        client.predictions.create("alice/text-echo:2", {"text": "old server"})
    )
    assert created.input == {"text": "old server"}
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert [r.path for r in posts] == [
        "/predictions",
        "/models/alice/text-echo/versions/2/predictions",
    ]
    assert posts[1].json == {"input": {"text": "old server"}}
    assert created.model.version_number == 2


async def test_predictions_create_does_not_fall_back_on_other_errors(client, emulator):
    with pytest.raises(NotFoundError):
        await resolve(client.predictions.create("alice/nope", {"text": "x"}))
    assert [r.path for r in emulator.requests if r.method == "POST"] == ["/predictions"]


async def test_request_is_the_escape_hatch_in_both_clients(client, emulator):
    data = await resolve(client.request("GET", "/hardware", params={"page_size": 1}))
    assert len(data["items"]) == 1
    emulator.inject(status=503, times=1)  # same retries as wrapped methods
    assert (await resolve(client.request("GET", "/users/bob")))["name"] == "bob"
    with pytest.raises(NotFoundError):
        await resolve(client.request("GET", "/users/nobody"))
    with pytest.raises(ValueError):
        await resolve(client.request("GET", "users/bob"))


async def test_predictions_create_with_a_webhook_secret(client, emulator):
    created = await resolve(
        client.predictions.create(
            "alice/text-echo",
            {"text": "x"},
            webhook_url="https://hooks.example.com/w",
            webhook_secret="whsec_abc",
        )
    )
    assert created.id
    post = next(r for r in emulator.requests if r.method == "POST")
    assert post.json["webhook"] == {
        "url": "https://hooks.example.com/w",
        "secret": "whsec_abc",
    }
    assert "webhook_url" not in post.json
    with pytest.raises(ValueError, match="webhook_url"):
        await resolve(
            client.predictions.create("alice/text-echo", {}, webhook_secret="s")
        )


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_create_speaks_the_older_shape_to_an_older_server(kind):
    # The current dialect always carries "stream"; an older server refuses
    # the unknown field (422 naming it): the same create is sent again
    # without it, and later creates on that client go without it at once.
    with Emulator(style="old", prediction_duration=0.05).run_in_thread() as emu:
        client = make_client(kind, emu)
        try:
            first = await resolve(
                client.predictions.create("alice/text-echo", {"a": 1})
            )
            second = await resolve(
                client.predictions.create("alice/text-echo", {"a": 2}, wait=True)
            )
        finally:
            await resolve(client.aclose() if kind == "async" else client.close())
        posts = [r for r in emu.requests if r.method == "POST"]
    assert first.input == {"a": 1} and second.status == "succeeded"
    assert [r.json.get("stream") for r in posts] == [False, None, None]
    assert [r.path for r in posts] == ["/predictions"] * 3
    assert "stream" not in posts[1].json and "stream" not in posts[2].json


async def test_create_falls_back_to_webhook_url_when_the_object_is_refused(
    client, emulator
):
    # A server that refuses the webhook object (a 422 naming it) gets the
    # older webhook_url field; a secret cannot be said that way.
    refusal = {"detail": [{"loc": ["body", "webhook"], "msg": "extra", "type": "x"}]}
    emulator.inject(422, body=refusal, method="POST", path="/predictions")
    created = await resolve(
        client.predictions.create(
            "alice/text-echo", {"a": 1}, webhook_url="https://hooks.example/w"
        )
    )
    posts = [r for r in emulator.requests if r.method == "POST"]
    assert posts[0].json["webhook"] == {"url": "https://hooks.example/w"}
    assert posts[1].json["webhook_url"] == "https://hooks.example/w"
    assert "webhook" not in posts[1].json and created.input == {"a": 1}
    emulator.inject(422, body=refusal, method="POST", path="/predictions", times=None)
    with pytest.raises(ValidationError):
        await resolve(
            client.predictions.create(
                "alice/text-echo",
                {"a": 1},
                webhook_url="https://hooks.example/w",
                webhook_secret="s",
            )
        )


async def test_create_wait_without_polling_returns_the_held_answer(client, emulator):
    # The official client's poll=False: the answer of the hold, as it is.
    held = await resolve(
        client.predictions.create("alice/text-echo", {"a": 1}, wait=0.01, poll=False)
    )
    assert held.status in {"starting", "started"}
    assert [r.method for r in emulator.requests] == ["POST"]
    assert emulator.requests[0].headers["Prefer"] == "wait=0.01"
    with pytest.raises(TypeError, match="poll"):
        await resolve(
            client.predictions.create("alice/text-echo", {}, wait=True, poll="no")
        )
