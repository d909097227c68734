"""Our clients speak what the official ``wriftai`` 0.34 client speaks.

Both clients against the emulator's default dialect: a model created without
hardware, users sorted, ``Prefer: wait`` from ``wait=`` itself, and
``predictions.create(..., stream=True)`` reading the POST's own event stream
and resuming it, without losing or repeating an event, after an idle close
or a broken connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import collect, resolve
from wriftai_async import StreamEvent

TEXT = "one two three four five six"


def posts(emulator: Any, path: str = "/predictions") -> list[Any]:
    return [r for r in emulator.requests if r.method == "POST" and r.path == path]


def check_events(events: list[StreamEvent], text: str = TEXT) -> None:
    """One whole stream: ids 1..n once each, init first, done last."""
    assert all(isinstance(e, StreamEvent) for e in events)
    assert [e.id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    assert events[0].event == "init" and events[-1].event == "done"
    assert events[-1].data["status"] == "succeeded"
    assert "".join(e.data for e in events if e.event == "output") == text


async def test_model_created_without_hardware(client, emulator):
    created = await resolve(client.models.create("no-hw", description="x"))
    assert created.full_name == f"{emulator.username}/no-hw"
    assert posts(emulator, "/models")[-1].json == {"name": "no-hw", "description": "x"}
    await resolve(client.models.create("with-hw", hardware_identifier="gpu-t4"))
    assert posts(emulator, "/models")[-1].json == {
        "name": "with-hw",
        "hardware_identifier": "gpu-t4",
    }
    with pytest.raises(TypeError):
        # hardware_identifier is keyword-only now.
        await resolve(client.models.create("x", "cpu"))  # type: ignore[misc]


async def test_users_sorted(client, emulator):
    ascending = [
        u.username
        async for u in _aiter(client.users.list(sort_by="created_at", page_size=2))
    ]
    descending = await resolve(
        client.users.list_page(sort_by="created_at", sort_direction="desc")
    )
    assert [u.username for u in descending.items] == ascending[::-1]
    last = [r for r in emulator.requests if r.path == "/users"][-1]
    assert last.query["sort_direction"] == "desc"


async def _aiter(iterator: Any):
    for item in await collect(iterator):
        yield item


@pytest.mark.parametrize(
    ("wait", "header"),
    [(True, "wait"), (2.5, "wait=2.5"), (3, "wait=3"), (0.25, "wait=0.25")],
)
async def test_prefer_wait_comes_from_wait(client, emulator, wait, header):
    done = await resolve(
        client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}, wait=wait, poll_interval=0.01
        )
    )
    assert done.status == "succeeded"
    assert posts(emulator)[-1].headers["Prefer"] == header


async def test_prefer_wait_fits_in_the_timeout(client, emulator):
    # The hold asked of the server ends before the call's deadline (1 s
    # before, at most a fifth of it), so the pending prediction comes back
    # in time; a wait shorter than that is sent as asked.
    await resolve(
        client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}, wait=True, timeout=30
        )
    )
    held = posts(emulator)[-1].headers["Prefer"]
    # 29 s less what the call spent before sending (its first connection:
    # over 0.1 s once on a loaded machine); a fifth (24 s) would be below.
    assert held.startswith("wait=2") and 28 <= float(held[5:]) <= 29
    await resolve(
        client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}, wait=2.5, timeout=30
        )
    )
    assert posts(emulator)[-1].headers["Prefer"] == "wait=2.5"
    await resolve(client.predictions.create("alice/text-echo", {"prompt": "hi"}))
    assert "Prefer" not in posts(emulator)[-1].headers


@pytest.mark.parametrize("wait", [-1, float("nan"), float("inf"), "5"])
async def test_bad_wait_is_refused_before_sending(client, emulator, wait):
    expected = TypeError if isinstance(wait, str) else ValueError
    with pytest.raises(expected, match="wait"):
        await resolve(
            client.predictions.create("alice/text-echo", {"prompt": "x"}, wait=wait)
        )
    assert posts(emulator) == []


async def test_create_with_stream_reads_the_posts_event_stream(client, emulator):
    events = await collect(
        await resolve(
            client.predictions.create("alice/text-echo", {"prompt": TEXT}, stream=True)
        )
    )
    check_events(events)
    [post] = posts(emulator)
    assert post.json["stream"] is True and post.headers["Prefer"] == "wait"
    # Everything came from the POST: no resumption was needed.
    assert not [r for r in emulator.requests if r.path.endswith("/stream")]
    assert emulator.get_prediction(events[0].data["id"])["stream"] is True


async def test_create_stream_cut_halfway_resumes_without_loss_or_repeat(
    client, emulator
):
    emulator.inject_stream_cut(3, method="POST", path="/predictions")
    events = await collect(
        await resolve(
            client.predictions.create("alice/text-echo", {"prompt": TEXT}, stream=True)
        )
    )
    check_events(events)
    [post] = posts(emulator)
    assert post.fault == "cut"
    resumed = [r for r in emulator.requests if r.path.endswith("/stream")]
    assert resumed[0].query["after_id"] == "3"
    assert resumed[0].path == f"/predictions/{events[0].data['id']}/stream"


async def test_create_stream_idle_close_resumes_with_the_same_wait(client, emulator):
    # An idle time shorter than the gaps between the events: the server
    # closes quietly before "done", and the stream is followed with GET.
    events = await collect(
        await resolve(
            client.predictions.create(
                "alice/text-echo", {"prompt": TEXT}, stream=True, wait=0.01
            )
        )
    )
    check_events(events)
    assert posts(emulator)[-1].headers["Prefer"] == "wait=0.01"
    resumed = [r for r in emulator.requests if r.path.endswith("/stream")]
    assert resumed and resumed[0].headers["Prefer"] == "wait=0.01"


async def test_stream_cut_on_get_resumes_too(client, emulator):
    created = await resolve(
        client.predictions.create(
            "alice/text-echo", {"prompt": TEXT}, stream=True, wait=False
        )
    )
    assert created.stream is True
    emulator.inject_stream_cut(2, method="GET", path="/predictions/*/stream")
    events = await collect(client.predictions.stream(created.id, wait=5))
    check_events(events)
    gets = [r for r in emulator.requests if r.path.endswith("/stream")]
    assert [r.query.get("after_id") for r in gets[:2]] == [None, "2"]
    assert gets[0].headers["Prefer"] == "wait=5"


async def test_stream_wait_must_be_seconds(client):
    with pytest.raises(ValueError, match="wait"):
        await collect(
            client.predictions.stream("3fa85f64-0000-4000-8000-000000000000", wait=-1)
        )


async def test_create_stream_errors_are_typed(client, emulator):
    from wriftai_async import NotFoundError

    events = await resolve(
        client.predictions.create("alice/nope", {"prompt": "x"}, stream=True)
    )
    with pytest.raises(NotFoundError):
        await collect(events)
