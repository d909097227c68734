"""Streaming a prediction: the SSE parser, the client over real sockets, and
the emulator's ``GET /predictions/{id}/stream``."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wriftai_async import (
    APIConnectionError,
    AsyncClient,
    Client,
    EventStream,
    NotFoundError,
    ResponseDecodeError,
    StreamEvent,
    StreamInterruptedError,
    ValidationError,
)
from wriftai_async._resources._streaming import _Seen
from wriftai_async._sse import SSEDecoder
from wriftai_async.testing import Emulator

from .conftest import FAST_RETRY

# -- the parser ----------------------------------------------------------------

TRICKY = (
    "\ufeff: a comment, after a byte order mark\r\n"
    "event: init\r\n"
    "id: 1\r\n"
    'data: {"a": 1}\r\n'
    "\r\n"
    "data:no space\r"  # lone CR line ends
    "data:  two spaces\r"
    "\r"
    "id\n"  # a field without a colon: the id becomes ""
    "data\n"  # ... and data gets an empty line
    "\n"
    "id: ignored\0id\n"  # an id with NUL is ignored
    "retry: 1500\n"
    "retry: soon\n"  # not digits: ignored
    "unknown: field\n"
    ":heartbeat\n"
    "event: lonely\n"
    "\n"  # no data: nothing is dispatched, the event type is reset
    "data: line1\n"
    "data: line2\n"
    "data: ünïcødé ✓\n"
    "\n"
    "event: trailing\n"
    "data: an unfinished event is dropped at the end\n"
).encode()

EXPECTED = [
    ("init", '{"a": 1}', "1", None),
    ("message", "no space\n two spaces", "1", None),
    ("message", "", "", None),
    ("message", "line1\nline2\nünïcødé ✓", "", 1500),
]


def parse(chunks: list[bytes], **kwargs: Any) -> list[tuple[Any, ...]]:
    decoder = SSEDecoder(**kwargs)
    return [(m.event, m.data, m.id, m.retry) for c in chunks for m in decoder.feed(c)]


def test_parser_tricky_input_in_any_chunking() -> None:
    assert parse([TRICKY]) == EXPECTED
    # Byte by byte: CRLFs, the BOM and multi-byte characters all get split.
    assert parse([TRICKY[i : i + 1] for i in range(len(TRICKY))]) == EXPECTED
    for cut in range(len(TRICKY)):
        assert parse([TRICKY[:cut], b"", TRICKY[cut:]]) == EXPECTED, cut
    rng = random.Random(7)
    for _ in range(50):
        chunks, rest = [], TRICKY
        while rest:
            n = rng.randint(1, 9)
            chunks.append(rest[:n])
            rest = rest[n:]
        assert parse(chunks) == EXPECTED


def test_parser_crlf_split_between_chunks_is_one_line_end() -> None:
    assert parse([b"data: a\r", b"\n", b"\r", b"\ndata: b\r\n\r\n"]) == [
        ("message", "a", None, None),
        ("message", "b", None, None),
    ]


def test_parser_memory_is_bounded() -> None:
    decoder = SSEDecoder(max_event_size=64)
    # Any number of small events is fine...
    for i in range(2000):
        assert len(decoder.feed(f"id: {i}\ndata: {i}\n\n".encode())) == 1
    # ...but a line that never ends, or an event that never ends, is not.
    with pytest.raises(ResponseDecodeError):
        for _ in range(100):
            decoder.feed(b"data: xxxxxxxxxx")
    with pytest.raises(ResponseDecodeError):
        SSEDecoder(max_event_size=64).feed(b"data: xxxxxxxxxxxxxxxx\n" * 10)


# -- against the emulator ------------------------------------------------------


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(prediction_duration=0.3, cancel_delay=0.02) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(emu.access_token, emu.base_url, retry=FAST_RETRY) as c:
        yield c


async def created(client: AsyncClient, text: str) -> str:
    """A prediction that can be streamed (``"stream": true``), not streamed."""
    prediction = await client.predictions.create(
        "alice/text-echo", {"text": text}, stream=True, wait=False
    )
    assert prediction.stream is True
    return prediction.id


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in events]


async def eventually(check: Callable[[], bool], seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_full_stream_in_order(emu: Emulator, client: AsyncClient) -> None:
    prediction_id = await created(client, "hello world")
    # create(stream=True, wait=False) sends what the official client's does:
    # "stream": true and no Prefer, answered with the prediction's JSON.
    [post] = [r for r in emu.requests if r.method == "POST"]
    assert post.json["stream"] is True and "Prefer" not in post.headers
    started = time.monotonic()
    arrived: list[float] = []
    events = []
    async for event in client.predictions.stream(prediction_id):
        arrived.append(time.monotonic() - started)
        events.append(event)
    names = [e.event for e in events]
    assert names[0] == "init" and names[-1] == "done"
    assert set(names[1:-1]) == {"output"} and len(names) >= 4
    ids = [int(e.id) for e in events if e.id is not None]
    assert len(ids) == len(events) and ids == sorted(set(ids))
    assert events[0].data["id"] == prediction_id
    assert events[0].data["status"] in ("starting", "started")
    assert "".join(e.data for e in events[1:-1]) == "hello world"
    assert events[-1].data["status"] == "succeeded"
    assert events[-1].data["output"] == {"text": "hello world"}
    # Outputs come while it runs, not all at the end.
    assert arrived[1] < arrived[-1] - 0.05
    assert emu.open_streams == 0


async def test_resume_with_after_id(client: AsyncClient) -> None:
    prediction_id = await created(client, "one two three four")
    first: list[StreamEvent] = []
    async with client.predictions.stream(prediction_id) as stream:
        async for event in stream:
            first.append(event)
            if len(first) == 2:
                break
        assert stream.last_event_id == first[-1].id
    assert stream.closed
    assert [e.event for e in first] == ["init", "output"]
    rest = await collect(
        client.predictions.stream(prediction_id, after_id=first[-1].id)
    )
    assert rest[0].event == "output" and rest[-1].event == "done"
    assert int(rest[0].id or 0) == int(first[-1].id or 0) + 1
    whole = await collect(client.predictions.stream(prediction_id))
    # The same events with the same ids, ``init`` included: one id always
    # carries the same data.
    assert whole == first + rest
    assert "".join(e.data for e in whole if e.event == "output") == (
        "one two three four"
    )
    # After the terminal event there is nothing left: the connections bring
    # nothing, and the stream says so rather than just ending.
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(client.predictions.stream(prediction_id, after_id=whole[-1].id))
    assert caught.value.last_event_id == whole[-1].id
    assert caught.value.prediction_id == prediction_id


async def test_a_failed_prediction_ends_at_error_a_cancelled_one_at_done(
    emu: Emulator, client: AsyncClient
) -> None:
    error = {"source": "external", "message": "out of memory", "detail": None}
    failing = emu.add_prediction(
        "alice/text-echo",
        status="started",
        finish_after=0.05,
        final_status="failed",
        error=error,
    )["id"]
    events = await collect(client.predictions.stream(failing))
    assert [e.event for e in events] == ["init", "error"]
    assert events[1].data == error

    running = emu.add_prediction("alice/text-echo", status="started")["id"]
    async with client.predictions.stream(running) as stream:
        async for event in stream:
            if event.event == "init":
                await client.predictions.cancel(running)
        assert event.event == "done" and event.data["status"] == "cancelled"


async def test_only_a_streaming_prediction_streams(
    emu: Emulator, client: AsyncClient
) -> None:
    plain = await client.predictions.create("alice/text-echo", {"text": "x"})
    assert plain.stream is False
    with pytest.raises(NotFoundError, match="not created with streaming"):
        await collect(client.predictions.stream(plain.id))
    added = emu.add_prediction("alice/text-echo", stream=False)["id"]
    with pytest.raises(NotFoundError):
        await collect(client.predictions.stream(added))


async def test_the_post_streams_only_to_who_accepts_it() -> None:
    async with (
        Emulator(prediction_duration=0.02) as emu,
        aiohttp.ClientSession() as http,
    ):
        body = {"model": "alice/text-echo", "input": {"text": "a b"}, "stream": True}
        headers = {
            "Authorization": f"Bearer {emu.access_token}",
            "Prefer": "wait",
            "Accept": "application/json",
        }
        url = emu.base_url + "/predictions"
        async with http.post(url, json=body, headers=headers) as response:
            assert response.content_type == "application/json"
            held = await response.json()
        assert held["stream"] is True and held["status"] == "succeeded"
        for accept in ("text/event-stream", "*/*", "application/json, text/*"):
            headers["Accept"] = accept
            async with http.post(url, json=body, headers=headers) as response:
                assert response.content_type == "text/event-stream", accept
                text = await response.text()
            assert text.startswith("id: 1\nevent: init\n")


async def test_early_break_closes_the_connection(emu: Emulator) -> None:
    running = emu.add_prediction("alice/text-echo", status="started")["id"]
    # One connection only: a stream that kept it would block the next call.
    async with AsyncClient(
        emu.access_token, emu.base_url, connection_limit=1
    ) as client:
        async with client.predictions.stream(running) as stream:
            async for event in stream:
                assert event.event == "init"
                assert emu.open_streams == 1
                break
        await eventually(lambda: emu.open_streams == 0)
        got = await asyncio.wait_for(client.predictions.get(running), 2)
        assert got.status == "started"
        # A plain ``break`` (no ``async with``): the stream is closed when it
        # is collected, which also hangs up.
        async for _ in client.predictions.stream(running):
            break
        await eventually(lambda: emu.open_streams == 0)
        task = asyncio.create_task(collect(client.predictions.stream(running)))
        await eventually(lambda: emu.open_streams == 1)
        task.cancel()  # cancellation mid-read releases the connection too
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: emu.open_streams == 0)
        await asyncio.wait_for(client.predictions.get(running), 2)


async def test_emulator_faults_cut_at_any_byte_refuse_and_replay(
    emu: Emulator, client: AsyncClient
) -> None:
    done = emu.add_prediction("alice/text-echo", output={"text": "a b c"})["id"]
    clean = await collect(client.predictions.stream(done))
    assert [e.event for e in clean] == ["init", "output", "done"]
    size = sum(len(f"id: {e.id}\nevent: {e.event}\ndata: ") for e in clean)
    for offset in (0, 1, 4, 9, 17, 40, size // 2, size):
        before = len(emu.requests)
        emu.inject_stream_cut(after_bytes=offset, path="/predictions/*/stream")
        emu.inject(503, path="/predictions/*/stream")
        emu.inject(429, path="/predictions/*/stream", headers={"Retry-After": "0"})
        emu.inject_stream_replay()  # this resume starts over from id 1
        assert await collect(client.predictions.stream(done)) == clean, offset
        faults = [r.fault for r in emu.requests[before:]]
        assert faults == ["cut", "status", "status", "replay"], offset
    with pytest.raises(ValueError):
        emu.inject_stream_cut(3, after_bytes=3)
    with pytest.raises(ValueError):
        emu.inject_stream_cut()
    emu.clear_faults()


def test_seen_event_ids_take_bounded_memory() -> None:
    seen = _Seen("5")
    ids = ["3", "5", "6", "006", "0007", "10", "9", "a", "a", "b", "11"]
    assert [seen.add(i) for i in ids] == [
        *(False, False, True, False, True, True, False),
        *(True, False, True, True),
    ]
    # Integers of any length, compared without int(): 5,000 digits is fine.
    assert seen.add("1" + "0" * 5000) and not seen.add("9" * 4999)
    # Other ids: the latest 1,024 are remembered, older ones forgotten.
    seen = _Seen(None)
    assert all(seen.add(f"e{i}") for i in range(5000))
    assert not seen.add("e4999") and not seen.add(f"e{5000 - 1024}")
    assert seen.add(f"e{5000 - 1025}")


async def test_unknown_prediction_is_404(client: AsyncClient) -> None:
    stream = client.predictions.stream("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        await collect(stream)


async def test_arguments_are_checked_at_call_time(client: AsyncClient) -> None:
    with pytest.raises(ValueError):
        client.predictions.stream("../user")
    with pytest.raises(ValueError):
        client.predictions.stream("abc", after_id="")
    with pytest.raises(TypeError):
        client.predictions.stream("abc", after_id=3)  # type: ignore[arg-type]


async def test_emulator_rejects_a_bad_after_id(client: AsyncClient) -> None:
    prediction_id = await created(client, "hi")
    with pytest.raises(ValidationError):
        await collect(client.predictions.stream(prediction_id, after_id="nope"))


async def test_retried_before_the_response_starts(
    emu: Emulator, client: AsyncClient
) -> None:
    done = emu.add_prediction("alice/text-echo", output={"text": "x"})["id"]
    emu.inject(503, path="/predictions/*/stream")
    events = await collect(client.predictions.stream(done))
    assert [e.event for e in events] == ["init", "output", "done"]
    streams = [r for r in emu.requests if r.path.endswith("/stream")]
    assert [r.fault for r in streams] == ["status", None]
    assert streams[-1].headers["Accept"] == "text/event-stream"
    assert streams[-1].headers["Authorization"] == f"Bearer {emu.access_token}"


async def test_an_answer_that_is_not_an_event_stream(
    emu: Emulator, client: AsyncClient
) -> None:
    emu.inject(200, body={"id": "x"}, path="/predictions/*/stream")
    with pytest.raises(ResponseDecodeError):
        await collect(client.predictions.stream("abc"))


async def test_emulator_closing_ends_open_streams() -> None:
    seen: list[str] = []

    async def follow(client: AsyncClient, prediction_id: str) -> None:
        async for event in client.predictions.stream(prediction_id):
            seen.append(event.event)

    async with Emulator() as emu:
        running = emu.add_prediction("alice/text-echo", status="started")["id"]
        async with AsyncClient(
            emu.access_token, emu.base_url, retry=FAST_RETRY
        ) as client:
            task = asyncio.create_task(follow(client, running))
            await eventually(lambda: emu.open_streams == 1)
            await emu.close()
            assert emu.open_streams == 0
            # The stream ended cleanly before "done", so the client tried to
            # resume it; with the server gone, it gives up and says where.
            with pytest.raises(StreamInterruptedError) as caught:
                await asyncio.wait_for(task, 5)
    assert seen == ["init"]
    assert caught.value.last_event_id == "1"
    assert isinstance(caught.value.__cause__, APIConnectionError)


def test_threaded_emulator_streams_to_a_sync_caller() -> None:
    async def follow(base_url: str, token: str) -> list[str]:
        async with AsyncClient(token, base_url) as c:
            p = await c.predictions.create(
                "alice/text-echo", {"text": "a b"}, stream=True, wait=False
            )
            return [e.event async for e in c.predictions.stream(p.id)]

    with Emulator(prediction_duration=0.1).run_in_thread() as emu:
        names = asyncio.run(follow(emu.base_url, emu.access_token))
        assert names == ["init", "output", "output", "done"]
        # The emulator's thread counts the stream closed only after its last
        # write, which may be after the client has read the final event.
        deadline = time.monotonic() + 10
        while emu.open_streams and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.open_streams == 0


def test_the_sync_stream_closes_with_with() -> None:
    with (
        Emulator(prediction_duration=0.05).run_in_thread() as emu,
        Client(emu.access_token, emu.base_url, retry=FAST_RETRY) as client,
    ):
        running = emu.add_prediction("alice/text-echo", status="started")["id"]
        with client.predictions.stream(running) as events:
            assert isinstance(events, EventStream)
            first = next(events)
            assert first.event == "init" and events.last_event_id == "1"
            assert emu.open_streams == 1
        assert events.closed
        deadline = time.monotonic() + 5
        while emu.open_streams and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emu.open_streams == 0
        # Closing one never started sends nothing and is final.
        unused = client.predictions.stream(running)
        unused.close()
        assert unused.closed and list(unused) == []
        posted = len(emu.requests)
        events = client.predictions.create(
            "alice/text-echo", {"text": "a"}, stream=True
        )
        assert isinstance(events, EventStream)
        with events:
            assert [e.event for e in events][-1] == "done"
        assert len(emu.requests) == posted + 1


# -- a scripted server, for what the emulator does not do on demand -------------

Script = list[bytes | None]  # None: abort the connection there


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[list[Script], list[dict[str, str]], str]]:
    """A server answering each request with the next script, and its queries."""
    scripts: list[Script] = []
    queries: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        queries.append(dict(request.query))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for part in scripts.pop(0):
            if part is None:
                await asyncio.sleep(0.02)  # let the written part leave first
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(part)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/predictions/{id}/stream", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield scripts, queries, str(server.make_url("/v1"))


async def test_a_dropped_connection_is_resumed_once(scripted: Any) -> None:
    scripts, queries, url = scripted
    scripts += [
        [b'id: 1\nevent: init\ndata: {}\n\nid: 2\nevent: output\ndata: "a"\n\n', None],
        [b'id: 3\nevent: output\ndata: "b"\n\n', None],  # progress, then again
        [b'id: 4\nevent: done\ndata: {"status": "succeeded"}\n\n'],
    ]
    async with AsyncClient("t", url, retry=FAST_RETRY) as client:
        events = await collect(client.predictions.stream("p1"))
    assert [(e.id, e.event, e.data) for e in events] == [
        ("1", "init", {}),
        ("2", "output", "a"),
        ("3", "output", "b"),
        ("4", "done", {"status": "succeeded"}),
    ]
    assert queries == [{}, {"after_id": "2"}, {"after_id": "3"}]


async def test_drops_in_a_row_are_bounded_by_max_retries(scripted: Any) -> None:
    scripts, queries, url = scripted
    scripts += [[b"id: 7\nevent: init\ndata: {}\n\n", None], [None], [None], [None]]
    events: list[StreamEvent] = []
    async with AsyncClient("t", url, retry=FAST_RETRY, max_retries=2) as client:
        stream = client.predictions.stream("p1", after_id="6")
        with pytest.raises(StreamInterruptedError) as caught:
            async for event in stream:
                events.append(event)
    assert [e.id for e in events] == ["7"]
    # One connection with a new event, then max_retries + 1 without.
    assert queries == [{"after_id": "6"}] + [{"after_id": "7"}] * 3
    assert caught.value.last_event_id == "7" == stream.last_event_id
    assert isinstance(caught.value.__cause__, APIConnectionError)
    assert "p1" in str(caught.value) and "'7'" in str(caught.value)


async def test_odd_data_and_clean_closes_before_done(scripted: Any) -> None:
    scripts, queries, url = scripted
    scripts.append(
        [
            b": keep-alive\n\n",
            b"id: 1\nevent: output\ndata: not json\n\n",
            b'id: 2\nevent: output\ndata: {"half":\n\n',
            b"id: 3\ndata: 1\ndata: 2\n\n",
            b'id: 4\nevent: init\ndata: [1, {"x": null}]\n\n',
        ]
    )
    scripts += [[], []]  # resumed connections that close at once, empty
    async with AsyncClient("t", url, retry=FAST_RETRY, max_retries=1) as client:
        events: list[StreamEvent] = []
        with pytest.raises(StreamInterruptedError) as caught:
            async for event in client.predictions.stream("p1"):
                events.append(event)
    assert [(e.event, e.data) for e in events] == [
        ("output", "not json"),
        ("output", '{"half":'),
        ("message", "1\n2"),
        ("init", [1, {"x": None}]),
    ]
    assert queries == [{}, {"after_id": "4"}, {"after_id": "4"}]
    assert caught.value.last_event_id == "4" and caught.value.__cause__ is None


async def test_clean_closes_before_done_are_resumed(scripted: Any) -> None:
    # The official client's recorded case idle_close_resumes_from_last_event:
    # events then a close, a connection that closes with nothing, then done.
    scripts, queries, url = scripted
    scripts += [
        [b"id: 1\nevent: init\ndata: {}\n\nid: 2\nevent: output\ndata: 1\n\n"],
        [],
        [b'id: 3\nevent: done\ndata: {"status": "succeeded"}\n\n'],
    ]
    async with AsyncClient("t", url, retry=FAST_RETRY) as client:
        events = await collect(client.predictions.stream("p1"))
    assert [e.event for e in events] == ["init", "output", "done"]
    assert queries == [{}, {"after_id": "2"}, {"after_id": "2"}]


async def test_error_is_the_end_whatever_follows(scripted: Any) -> None:
    scripts, queries, url = scripted
    scripts.append(
        [
            b"id: 1\nevent: init\ndata: {}\n\n",
            b'id: 2\nevent: error\ndata: {"message": "boom"}\n\n',
            b'id: 3\nevent: done\ndata: {"status": "failed"}\n\n',
            b'id: 4\nevent: output\ndata: "late"\n\n',
        ]
    )
    async with AsyncClient("t", url, retry=FAST_RETRY) as client:
        events = await collect(client.predictions.stream("p1"))
    assert [(e.id, e.event) for e in events] == [("1", "init"), ("2", "error")]
    assert queries == [{}]
