"""The public API of the sync ``Client`` as a user's type checker sees it.

Checked, never run, as ``async_usage.py`` is: by ``tests/test_public_types.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from typing_extensions import assert_type

from wriftai_async import (
    APIStatusError,
    BulkResult,
    Category,
    Client,
    ConflictError,
    EventStream,
    File,
    Hardware,
    Model,
    ModelDetails,
    ModelVersion,
    ModelVersionDetails,
    Page,
    Prediction,
    PredictionDetails,
    RateLimitError,
    SortBy,
    StreamEvent,
    StreamInterruptedError,
    Upload,
    UploadCompletion,
    User,
    Variable,
    VersionConfiguration,
    WaitTimeoutError,
)


def show(prediction: PredictionDetails) -> None:
    print(prediction.status, len(prediction.logs or []))


async def show_later(prediction: PredictionDetails) -> None:
    print(prediction.status)


def models(client: Client) -> None:
    assert_type(client.models.get("alice/text-echo"), ModelDetails)
    assert_type(client.models.create("upscaler"), ModelDetails)
    model = client.models.update(
        "alice/text-echo", description="Echoes its input", paper_url=None
    )
    assert_type(model, ModelDetails)
    assert_type(client.models.delete("alice/upscaler"), None)
    for listed in client.models.list_for_user("alice"):
        assert_type(listed, Model)
    page = client.models.list_page("alice", sort_by=SortBy.PREDICTIONS_COUNT)
    assert_type(page, Page[Model])
    assert_type(client.models.list_all(), Iterator[Model])
    assert_type(client.models.list_all_page(), Page[Model])
    assert_type(client.models.search("echo"), Iterator[Model])
    assert_type(client.models.search_page("echo"), Page[Model])

    results = client.models.list_for_users(["alice", "bob"], concurrency=2)
    with closing(results):
        for result in results:
            assert_type(result, BulkResult[list[Model]])
            assert_type(result.unwrap(), list[Model])
            if not result.ok:
                break


def the_rest(client: Client) -> None:
    for version in client.versions.list("alice/text-echo"):
        assert_type(version, ModelVersion)
    assert_type(client.versions.list_page("alice/text-echo"), Page[ModelVersion])
    assert_type(client.versions.get("alice/text-echo:1"), ModelVersionDetails)
    assert_type(
        client.versions.create(
            "alice/text-echo",
            release_notes="faster",
            container_image_digest="sha256:" + "0" * 64,
            schemas={},
        ),
        ModelVersionDetails,
    )
    assert_type(
        client.versions.update_configuration(
            "alice/text-echo:2", variable_names=["openai"]
        ),
        VersionConfiguration,
    )
    try:
        var = client.variables.create("openai", "OPENAI_API_KEY", "sk-...", secret=True)
    except ConflictError:
        var = client.variables.update("openai", value="sk-...")
    assert_type(var, Variable)
    assert_type([v.name for v in client.variables.list()], list[str])

    assert_type(client.users.get("alice"), User)
    for user in client.users.list():
        assert_type(user, User)
    assert_type(client.user.get(), User)
    assert_type(client.user.models(), Iterator[Model])
    for hardware in client.hardware.list():
        assert_type(hardware, Hardware)
    for category in client.categories.list():
        assert_type(category, Category)
    assert_type(client.request("GET", "/user"), Any)

    url = client.files.upload(
        File(Path("cat.png")), on_progress=lambda done, total: print(done, total)
    )
    assert_type(url, str)
    upload = client.uploads.create(size=12, mime_type="text/plain")
    assert_type(upload, Upload)
    assert_type(client.uploads.complete(upload.id, ["e"]), UploadCompletion)


def predictions(client: Client) -> None:
    prediction = client.predictions.create("alice/text-echo", {"prompt": "hi"})
    assert_type(prediction, PredictionDetails)
    assert_type(
        client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}, wait=True, on_poll=show
        ),
        PredictionDetails,
    )
    assert_type(
        client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}, wait=5, poll=False
        ),
        PredictionDetails,
    )
    events = client.predictions.create("alice/text-echo", {"prompt": "hi"}, stream=True)
    assert_type(events, EventStream)
    with events:
        for event in events:
            assert_type(event, StreamEvent)
    later = client.predictions.create(
        "alice/text-echo", {"prompt": "hi"}, stream=True, wait=False
    )
    assert_type(later, PredictionDetails)
    try:
        with client.predictions.stream(later.id) as followed:
            assert_type(followed, EventStream)
            assert_type([e.event for e in followed], list[str])
    except StreamInterruptedError as exc:
        assert_type(exc.last_event_id, str | None)

    final = client.predictions.cancel_and_wait(
        prediction.id, timeout=30, poll_interval=0.2, on_poll=show_later
    )
    assert_type(final, PredictionDetails)
    assert_type(
        client.predictions.wait(
            prediction.id,
            poll_interval=0.2,
            on_poll=lambda p: print(p.status, len(p.logs or [])),
        ),
        PredictionDetails,
    )
    for listed in client.predictions.list(statuses=["started"]):
        assert_type(listed, Prediction)
    for cancelled in client.predictions.cancel_many([prediction.id]):
        assert_type(cancelled, BulkResult[None])
    with closing(client.predictions.wait_many([prediction.id])) as waits:
        for result in waits:
            assert_type(result.unwrap(), PredictionDetails)

    try:
        client.predictions.wait(prediction.id, timeout=1)
    except WaitTimeoutError as exc:
        assert_type(exc.prediction, PredictionDetails | None)
    except RateLimitError as exc:
        assert_type(exc.reset_at, float | None)
    except APIStatusError as exc:
        assert_type(exc.status, int)

    # Refused.
    streamed = client.predictions.create("m/n", {}, stream=True)
    print(streamed.id)  # type: ignore[attr-defined]
    unstreamed: EventStream = client.predictions.create(  # type: ignore[assignment]
        "m/n", {}, stream=True, wait=False
    )
    print(unstreamed)
    client.predictions.get(42)  # type: ignore[arg-type]


def main() -> None:
    with Client() as client:
        assert_type(client, Client)
        models(client)
        the_rest(client)
        predictions(client)
