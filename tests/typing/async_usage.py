"""The public API of ``AsyncClient`` as a user's type checker sees it.

Checked, never run, by ``tests/test_public_types.py`` (``mypy --strict
--warn-unused-ignores``). Each call is written as README.md shows it;
``assert_type`` pins the types the documentation promises, and each
``# type: ignore[code]`` marks a use that must be refused: with
``--warn-unused-ignores``, an ignore that no longer ignores an error fails.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from typing_extensions import assert_type

from wriftai_async import (
    APIStatusError,
    AsyncClient,
    AsyncEventStream,
    BulkResult,
    Category,
    File,
    Hardware,
    Model,
    ModelDetails,
    ModelVersion,
    ModelVersionDetails,
    Page,
    Prediction,
    PredictionDetails,
    PredictionStatus,
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
    WebhookVerificationError,
    structure,
    unstructure,
)
from wriftai_async.webhooks import sign, verify


def show(prediction: PredictionDetails) -> None:
    print(prediction.status, len(prediction.logs or []))


async def show_later(prediction: PredictionDetails) -> None:
    await asyncio.sleep(0)
    print(prediction.status)


async def models(client: AsyncClient) -> None:
    details = await client.models.get("alice/text-echo")
    assert_type(details, ModelDetails)
    assert_type(details.predictions_count, int | None)
    assert_type(
        await client.models.create("upscaler", visibility="private"), ModelDetails
    )
    model = await client.models.update(
        "alice/text-echo", description="Echoes its input", paper_url=None
    )
    assert_type(model, ModelDetails)
    assert_type(await client.models.delete("alice/upscaler"), None)

    async for listed in client.models.list_for_user("alice"):
        assert_type(listed, Model)
    page = await client.models.list_page(
        "alice", sort_by=SortBy.PREDICTIONS_COUNT, sort_direction="desc"
    )
    assert_type(page, Page[Model])
    assert_type(page.items, list[Model])
    assert_type(page.next_cursor, str | None)
    assert_type(client.models.list_all(), AsyncIterator[Model])
    assert_type(await client.models.list_all_page(cursor="c"), Page[Model])
    assert_type(client.models.search("echo"), AsyncIterator[Model])
    assert_type(await client.models.search_page("echo"), Page[Model])

    # Bulk: one BulkResult per owner; unwrap() is the value or raises.
    results = client.models.list_for_users(["alice", "bob"], concurrency=2)
    async with aclosing(results):
        async for result in results:
            assert_type(result, BulkResult[list[Model]])
            assert_type(result.key, str)
            assert_type(result.ok, bool)
            assert_type(result.error, Exception | None)
            assert_type(result.value, list[Model] | None)
            assert_type(result.unwrap(), list[Model])
            if result.ok:
                print([m.name for m in result.unwrap()])

    # Refused: ``value`` is ``T | None`` even after ``ok`` (unwrap() is ``T``).
    async for result in client.models.list_for_users(["alice"]):
        if result.ok:
            len(result.value)  # type: ignore[arg-type]


async def versions_and_variables(client: AsyncClient) -> None:
    async for version in client.versions.list("alice/text-echo"):
        assert_type(version, ModelVersion)
    assert_type(await client.versions.list_page("alice/text-echo"), Page[ModelVersion])
    assert_type(await client.versions.get("alice/text-echo:1"), ModelVersionDetails)
    created = await client.versions.create(
        "alice/text-echo",
        release_notes="faster",
        container_image_digest="sha256:" + "0" * 64,
        schemas={"prediction": {}},
    )
    assert_type(created, ModelVersionDetails)
    assert_type(await client.versions.delete("alice/text-echo:2"), None)
    config = await client.versions.update_configuration(
        "alice/text-echo:2", variable_names=["openai"]
    )
    assert_type(config, VersionConfiguration)
    assert_type(config.variable_names, list[str] | None)
    assert_type(
        await client.versions.get_configuration("alice/text-echo:2"),
        VersionConfiguration,
    )

    var = await client.variables.create(
        "openai", "OPENAI_API_KEY", "sk-...", secret=True
    )
    assert_type(var, Variable)
    assert_type(await client.variables.update("openai", value="sk-2"), Variable)
    assert_type(await client.variables.delete("openai"), None)
    assert_type(await client.variables.list_page(), Page[Variable])
    async for variable in client.variables.list():
        assert_type(variable, Variable)


async def users_and_catalog(client: AsyncClient) -> None:
    assert_type(await client.users.get("alice"), User)
    assert_type(await client.users.list_page(page_size=10), Page[User])
    async for user in client.users.list(sort_by="created_at"):
        assert_type(user, User)
    assert_type(await client.users.search_page("ali"), Page[User])
    assert_type(client.users.search("ali"), AsyncIterator[User])
    me = await client.user.get()
    assert_type(me, User)
    assert_type(await client.user.update(bio="hi"), User)
    assert_type(await client.user.models_page(), Page[Model])
    async for own in client.user.models():
        assert_type(own, Model)

    async for hardware in client.hardware.list():
        assert_type(hardware, Hardware)
    assert_type(await client.hardware.list_page(), Page[Hardware])
    async for category in client.categories.list():
        assert_type(category, Category)
    assert_type(await client.categories.list_page(), Page[Category])

    assert_type(await client.request("GET", "/user"), Any)


async def files(client: AsyncClient) -> None:
    url = await client.files.upload(
        b"hello, world",
        mime_type="text/plain",
        on_progress=lambda done, total: print(f"sent {done}/{total} bytes"),
    )
    assert_type(url, str)
    assert_type(await client.files.upload(File(Path("cat.png"))), str)
    assert_type(await client.files.upload(Path("cat.png")), str)
    handle = io.BytesIO(b"notes")  # any binary file object
    assert_type(await client.files.upload(File(handle, "text/plain")), str)
    attachment = File(b"%PDF-1.4 ...", mime_type="application/pdf")
    prediction = await client.predictions.create(
        "alice/text-echo", {"prompt": attachment}, validate_input=True
    )
    assert_type(prediction, PredictionDetails)

    upload = await client.uploads.create(size=12, mime_type="text/plain")
    assert_type(upload, Upload)
    assert_type(upload.urls, list[str])
    done = await client.uploads.complete(upload.id, ["etag-1"])
    assert_type(done, UploadCompletion)
    assert_type(done.download_url, str | None)

    await client.files.upload("cat.png")  # type: ignore[arg-type]


async def predictions(client: AsyncClient) -> None:
    created = await client.predictions.create("alice/text-echo", {"prompt": "hi"})
    assert_type(created, PredictionDetails)
    assert_type(created.status, PredictionStatus | str)
    assert_type(created.is_terminal, bool)
    held = await client.predictions.create(
        "alice/text-echo", {"prompt": "hi"}, wait=2.5, poll=False
    )
    assert_type(held, PredictionDetails)
    waited = await client.predictions.create(
        "alice/text-echo",
        {"prompt": "hi"},
        wait=True,
        timeout=30,
        poll_interval=0.2,
        on_poll=show,
    )
    assert_type(waited, PredictionDetails)

    events = await client.predictions.create(
        "alice/text-echo", {"prompt": "one word at a time"}, stream=True
    )
    assert_type(events, AsyncEventStream)
    async with events:
        async for event in events:
            assert_type(event, StreamEvent)
            assert_type(event.event, str)
            assert_type(event.id, str | None)
    assert_type(events.last_event_id, str | None)
    idle = await client.predictions.create(
        "alice/text-echo", {"prompt": "hi"}, stream=True, wait=30
    )
    assert_type(idle, AsyncEventStream)
    assert_type(
        await client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}, stream=True, wait=True
        ),
        AsyncEventStream,
    )

    later = await client.predictions.create(
        "alice/text-echo", {"prompt": "later"}, stream=True, wait=False
    )
    assert_type(later, PredictionDetails)
    try:
        async with client.predictions.stream(later.id) as followed:
            assert_type(followed, AsyncEventStream)
            print([event.event async for event in followed])
    except StreamInterruptedError as exc:
        assert_type(exc.last_event_id, str | None)
        assert_type(exc.prediction_id, str | None)

    # A runtime bool: either, and the checker says so.
    streaming = len(created.id) > 3
    either = await client.predictions.create(
        "alice/text-echo", {"prompt": "hi"}, stream=streaming
    )
    assert_type(either, PredictionDetails | AsyncEventStream)

    assert_type(await client.predictions.get(created.id), PredictionDetails)
    assert_type(await client.predictions.cancel(created.id), None)
    final = await client.predictions.cancel_and_wait(
        created.id, timeout=30, poll_interval=0.2
    )
    assert_type(final, PredictionDetails)
    assert_type(
        await client.predictions.cancel_and_wait(created.id, on_poll=show_later),
        PredictionDetails,
    )
    assert_type(
        await client.predictions.wait(
            created.id,
            poll_interval=0.2,
            on_poll=lambda p: print(p.status, len(p.logs or [])),
        ),
        PredictionDetails,
    )
    assert_type(
        await client.predictions.wait(created.id, on_poll=show_later),
        PredictionDetails,
    )
    assert_type(
        await client.predictions.wait(created.id, on_poll=show), PredictionDetails
    )

    ids = [p.id async for p in client.predictions.list(statuses=["started"])]
    async for listed in client.predictions.list():
        assert_type(listed, Prediction)
    assert_type(
        await client.predictions.list_page(statuses=[PredictionStatus.STARTED]),
        Page[Prediction],
    )
    async for cancelled in client.predictions.cancel_many(ids):
        assert_type(cancelled, BulkResult[None])
        assert_type(cancelled.unwrap(), None)
    async for result in client.predictions.wait_many(
        ids, timeout=30, poll_interval=0.2
    ):
        assert_type(result, BulkResult[PredictionDetails])
        assert_type(result.unwrap(), PredictionDetails)
        print(result.key, result.unwrap().status if result.ok else result.error)
        print(result.value.status if result.ok else None)  # type: ignore[union-attr]

    # Refused: a stream is not a prediction, a prediction is not a stream.
    streamed = await client.predictions.create("m/n", {}, stream=True)
    print(streamed.status)  # type: ignore[attr-defined]
    unstreamed: AsyncEventStream = await client.predictions.create(  # type: ignore[assignment]
        "m/n", {}, stream=True, wait=False
    )
    print(unstreamed)
    plain: AsyncEventStream = await client.predictions.create("m/n", {})  # type: ignore[assignment]
    print(plain)
    # Refused: the callback takes a prediction, not a str.
    await client.predictions.wait(created.id, on_poll=lambda p: p.upper())  # type: ignore[attr-defined]


async def errors(client: AsyncClient) -> None:
    try:
        await client.predictions.wait("p-1", timeout=1)
    except WaitTimeoutError as exc:
        assert_type(exc.prediction, PredictionDetails | None)
        if exc.prediction is not None:
            print(exc.prediction.status)
    except RateLimitError as exc:
        assert_type(exc.reset_at, float | None)
        assert_type(exc.status, int)
    except APIStatusError as exc:
        assert_type(exc.status, int)
        assert_type(exc.request_id, str | None)
        assert_type(exc.method, str)
        assert_type(exc.url, str)


def webhooks() -> None:
    secret = "my-webhook-secret"
    body = b'{"id": "p-1", "status": "succeeded"}'
    signature = sign(body, secret)
    assert_type(signature, str)
    assert_type(verify(body, signature, secret), None)
    assert_type(verify(body, None, secret, tolerance=60), None)
    try:
        verify(body + b" ", signature, secret)
    except WebhookVerificationError as exc:
        print("rejected:", type(exc).__name__, exc)
    verify("text", signature, secret)  # type: ignore[arg-type]


def converter(data: dict[str, Any]) -> None:
    model = structure(data, Model)
    assert_type(model, Model)
    assert_type(structure(data, PredictionDetails), PredictionDetails)
    assert_type(structure(data, Page[Model]), Page[Model])
    assert_type(structure([data], list[User]), list[User])
    assert_type(unstructure(model), Any)


async def main() -> None:
    async with AsyncClient() as client:
        assert_type(client, AsyncClient)
        await models(client)
        await versions_and_variables(client)
        await users_and_catalog(client)
        await files(client)
        await predictions(client)
        await errors(client)
    webhooks()
    converter({})
