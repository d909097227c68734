"""A stream's bounds: memory flat in the number of events, each event under
the client's ``max_response_size`` and value bound, and ids from the server
kept to one URL path segment (issue 21, findings 5 and 7)."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wriftai_async import AsyncClient, ResponseDecodeError, StreamInterruptedError
from wriftai_async._resources import _streaming

from .conftest import FAST_RETRY

MiB = 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler, Handler | None], Awaitable[str]]]:
    """Start a server whose GET stream (and POST /predictions) use handlers."""
    servers: list[TestServer] = []

    async def start(stream: Handler, create: Handler | None = None) -> str:
        app = web.Application()
        app.router.add_get("/v1/predictions/{id}/stream", stream)
        if create is not None:
            app.router.add_post("/v1/predictions", create)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/v1"))

    yield start
    for server in servers:
        await server.close()


async def event_stream(request: web.Request, *parts: bytes) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for part in parts:
        await response.write(part)
    await response.write_eof()
    return response


# -- memory: flat in the number of events --------------------------------------


def body_of(n: int, ids: Callable[[int], str]) -> bytes:
    events = [f'id: {ids(i)}\nevent: output\ndata: "t{i % 7}"\n\n' for i in range(1, n)]
    events.append(f'id: {ids(n)}\nevent: done\ndata: {{"status": "succeeded"}}\n\n')
    return "".join(events).encode()


@pytest.mark.parametrize(
    "ids",
    [pytest.param(str, id="integer ids"), pytest.param("e-{:08d}".format, id="other")],
)
async def test_memory_does_not_grow_with_the_number_of_events(
    serve: Any, ids: Callable[[int], str]
) -> None:
    # The old client kept ~100 bytes per event id for the stream's life (190
    # MB for 2,000,000 events); benchmarks/stream_events.py runs 1,000,000.
    n = 15_000
    body = body_of(n, ids)  # built before tracing: the server's, not ours

    async def stream(request: web.Request) -> web.StreamResponse:
        view = memoryview(body)
        chunks = [view[i : i + 65536] for i in range(0, len(view), 65536)]
        return await event_stream(request, *chunks)

    url = await serve(stream)
    async with AsyncClient("t", url, retry=FAST_RETRY) as client:
        count = early = late = 0
        tracemalloc.start()
        try:
            async for event in client.predictions.stream("p1"):
                last = event
                count += 1
                if count == n // 10:
                    early = held_by_the_client()
                elif count == n - n // 10:
                    late = held_by_the_client()
        finally:
            tracemalloc.stop()
    assert count == n and last.event == "done"
    # 12,000 events between the two readings: 100 bytes each would be 1.1 MB.
    # What differs is the events parsed ahead of the consumer, those of one
    # 16 KiB piece of the body at most.
    assert late - early < 160 * 1024, (early, late)


def held_by_the_client() -> int:
    """Bytes allocated by wriftai_async's own code and still held.

    aiohttp's read buffer is left out: how much of the body it holds unread
    depends on how far ahead the server is, not on the client.
    """
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, "*/wriftai_async/*")]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


# -- one event: under max_response_size and the value bound ----------------------


async def test_an_event_larger_than_max_response_size_is_refused(serve: Any) -> None:
    # 15 MiB of one event, [{},{},...]: with max_response_size=1 MiB it is
    # refused once past 1 MiB, never held whole nor decoded (the old client
    # read up to a fixed 16 MiB and decoded it to 5.2 M objects).
    piece = b"{}," * 21_845  # 64 KiB
    sent = 0

    async def stream(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"id: 1\nevent: output\ndata: [")
        try:
            for _ in range(240):  # 15 MiB
                await response.write(piece)
                sent += len(piece)
            await response.write(b"{}]\n\n")
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    url = await serve(stream)
    async with AsyncClient("t", url, retry=FAST_RETRY, max_response_size=MiB) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseDecodeError, match="exceeded 1048576 bytes"):
                async for _ in client.predictions.stream("p1"):
                    pass
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 6 * MiB, peak
    assert sent < 15 * MiB


async def test_an_event_with_too_many_values_is_refused(serve: Any) -> None:
    # 900 KiB, under max_response_size, but 300,000 values: more than the
    # max_response_size // 64 (16,384) an answer may decode to.
    values = [300_000]

    async def stream(request: web.Request) -> web.StreamResponse:
        data = b"[" + b"{}," * values[0] + b"{}]"
        event = b"id: 1\nevent: done\ndata: " + data + b"\n\n"
        return await event_stream(request, event)

    url = await serve(stream)
    async with AsyncClient("t", url, retry=FAST_RETRY, max_response_size=MiB) as client:
        with pytest.raises(ResponseDecodeError, match="too large to decode"):
            async for _ in client.predictions.stream("p1"):
                pass
        values[0] = 10_000  # within the bound: decoded
        [event] = [e async for e in client.predictions.stream("p1")]
    assert len(event.data) == 10_001


# -- ids from the server: one path segment, never a log line ---------------------

HOSTILE_IDS = [
    "../../../admin/delete?confirm=yes#",
    "p%0AWRIFTAI fake log line",
    "p\n[2026-12-03 wriftai_async INFO] forged",
    "p\x1b[31mred",
    "a/b",
    "%2e%2e",
]


@pytest.mark.parametrize("hostile", HOSTILE_IDS)
async def test_a_created_prediction_id_stays_one_path_segment(
    serve: Any, hostile: str, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []
    init_event = f"id: 1\nevent: init\ndata: {json.dumps({'id': hostile})}\n\n"

    async def create(request: web.Request) -> web.StreamResponse:
        # The init event, then a clean close: the client resumes with GET.
        return await event_stream(request, init_event.encode())

    async def stream(request: web.Request) -> web.StreamResponse:
        seen.append((request.raw_path, request.match_info["id"], dict(request.query)))
        return await event_stream(request, b"id: 2\nevent: done\ndata: {}\n\n")

    url = await serve(stream, create)
    caplog.set_level(logging.DEBUG, logger="wriftai_async")
    async with AsyncClient("t", url, retry=FAST_RETRY) as client:
        events = await client.predictions.create("o/m", {}, stream=True)
        got = [e async for e in events]
    assert [e.event for e in got] == ["init", "done"]
    assert events.prediction_id == hostile
    [(raw_path, matched, query)] = seen
    path = raw_path.split("?", 1)[0]
    assert path.startswith("/v1/predictions/") and path.endswith("/stream")
    assert path.count("/") == 4  # '', v1, predictions, <one segment>, stream
    assert matched == hostile and query == {"after_id": "1"}
    for record in caplog.records:
        message = record.getMessage()
        assert "\n" not in message and "\x1b" not in message, message


@pytest.mark.parametrize("bad", ["", ".", "..", 123, None, ["x"]])
async def test_a_created_prediction_id_that_is_no_segment_is_refused(
    serve: Any, bad: object
) -> None:
    requests = 0

    async def create(request: web.Request) -> web.StreamResponse:
        data = json.dumps({"id": bad})
        return await event_stream(
            request, f"id: 1\nevent: init\ndata: {data}\n\n".encode()
        )

    async def stream(request: web.Request) -> web.StreamResponse:
        nonlocal requests
        requests += 1
        return await event_stream(request, b"id: 2\nevent: done\ndata: {}\n\n")

    url = await serve(stream, create)
    async with AsyncClient("t", url, retry=FAST_RETRY) as client:
        events = await client.predictions.create("o/m", {}, stream=True)
        with pytest.raises(ResponseDecodeError) as caught:
            _ = [e async for e in events]
    # An id that cannot be one segment: never a request built from it.
    assert isinstance(caught.value, ResponseDecodeError)
    assert "cannot be used in a URL" in str(caught.value)
    assert requests == 0


def test_the_interruption_error_pickles() -> None:
    error = StreamInterruptedError("gone", prediction_id="p", last_event_id="7")
    again = pickle.loads(pickle.dumps(error))
    assert isinstance(again, StreamInterruptedError)
    assert (str(again), again.prediction_id, again.last_event_id) == ("gone", "p", "7")


# -- a connection that goes silent ----------------------------------------------


async def _silent_after(request: web.Request, *parts: bytes) -> web.StreamResponse:
    # Sends ``parts``, then nothing, and keeps the connection open: a
    # connection a NAT dropped without a FIN, or a server that holds it.
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for part in parts:
        await response.write(part)
    await asyncio.sleep(30)  # cancelled when the client goes or the test ends
    return response


async def test_a_silent_connection_is_resumed_where_it_went_quiet(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_streaming, "STALL_MARGIN", 0.2)
    seen: list[str | None] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        seen.append(request.query.get("after_id"))
        if len(seen) == 1:
            return await _silent_after(request, b'id: 1\nevent: output\ndata: "a"\n\n')
        return await event_stream(
            request,
            b'id: 2\nevent: output\ndata: "b"\n\n',
            b'id: 3\nevent: done\ndata: {"status": "succeeded"}\n\n',
        )

    url = await serve(stream)
    client = AsyncClient("t0k", url, retry=FAST_RETRY, max_retries=1)
    async with client, client.predictions.stream("p-1") as events:
        got = [(e.id, e.event, e.data) async for e in events]
    assert got == [
        ("1", "output", "a"),
        ("2", "output", "b"),
        ("3", "done", {"status": "succeeded"}),
    ]
    assert seen == [None, "1"]  # resumed after the last event it had


async def test_a_server_that_stays_silent_ends_the_stream_with_an_error(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, the stream waited on it forever: no timeout covers a success's
    # body. Each silent connection is a failed attempt: max_retries + 1 of
    # them in a row, and the stream says it was interrupted.
    monkeypatch.setattr(_streaming, "STALL_MARGIN", 0.2)
    connections = 0

    async def stream(request: web.Request) -> web.StreamResponse:
        nonlocal connections
        connections += 1
        return await _silent_after(request, b": keep-alive? no, just a comment\n\n")

    url = await serve(stream)
    async with AsyncClient("t0k", url, retry=FAST_RETRY, max_retries=2) as client:
        with pytest.raises(StreamInterruptedError, match="no byte of the event stream"):
            async with client.predictions.stream("p-1") as events:
                async for _ in events:
                    pass
    assert connections == 3
