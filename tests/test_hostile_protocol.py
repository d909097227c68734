"""A misbehaving server at the protocol level: listings, streams, bodies.

Each test points a client at a small aiohttp.web server on 127.0.0.1 (on its
own thread, so the blocking sync ``Client`` can use it too) that breaks one
rule of the API: cursors that cycle, endless empty pages, streams that replay
or close after every event, absurd SSE fields, JSON nested a thousand deep,
upload part URLs that are not http(s). The client must end, raise only
``WriftAIError`` subclasses, and keep its reprs and messages bounded and free
of the token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import attrs
import pytest
from aiohttp import web

from wriftai_async import (
    APIStatusError,
    AsyncClient,
    BadRequestError,
    Client,
    ResponseDecodeError,
    RetryPolicy,
    StreamInterruptedError,
    WriftAIError,
)
from wriftai_async._constants import MAX_EMPTY_PAGES
from wriftai_async._objects import Page, PredictionDetails, StreamEvent
from wriftai_async._sse import MAX_RETRY_MS, SSEDecoder

from .conftest import CLIENT_KINDS, FAST_RETRY
from .conftest import close_client as close

TOKEN = "tok-hostile-0123456789"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HostileServer:
    """An aiohttp.web server on its own thread; ``handler`` answers everything."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix("/v1")
        self.requests.append((request.method, path, dict(request.query)))
        assert self.handler is not None
        return await self.handler(request)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._runner is not None:
            cleanup = self._runner.cleanup()
            asyncio.run_coroutine_threadsafe(cleanup, self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> HostileServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def answer(self, body: bytes, status: int = 200, **headers: str) -> None:
        """Answer every request with ``body`` as JSON (and ``headers``)."""

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=body,
                status=status,
                content_type="application/json",
                headers=headers,
            )

        self.handler = handler


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


def json_answer(data: Any) -> web.Response:
    return web.json_response(data)


def raw_json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def collect(iterator: Any, into: list[Any], limit: int = 10_000) -> None:
    """Append every item of an async or sync iterator to ``into``, up to ``limit``."""
    if hasattr(iterator, "__aiter__"):
        async for item in iterator:
            into.append(item)
            if len(into) >= limit:
                return
    else:
        for item in iterator:
            into.append(item)
            if len(into) >= limit:
                return


def make(kind: str, server: HostileServer, **kwargs: Any) -> Any:
    kwargs.setdefault("retry", FAST_RETRY)
    cls = AsyncClient if kind == "async" else Client
    return cls(TOKEN, server.url, **kwargs)


def assert_no_token(exc: BaseException) -> None:
    """Neither the exception nor anything in its cause chain shows the token."""
    seen: BaseException | None = exc
    depth = 0
    while seen is not None and depth < 20:
        assert TOKEN not in str(seen) and TOKEN not in repr(seen)
        for value in getattr(seen, "__dict__", {}).values():
            texts = [value] if isinstance(value, str) else []
            if isinstance(value, Mapping):  # the response headers
                texts += [f"{k}: {v}" for k, v in value.items()]
            assert not any(TOKEN in text for text in texts)
        seen = seen.__cause__ or seen.__context__
        depth += 1


# -- listings that never end ----------------------------------------------------


def item(n: int) -> dict[str, Any]:
    """One item every listing can read (unknown fields land in ``extra``)."""
    return {
        "id": str(n),
        "name": f"n{n}",
        "username": f"u{n}",
        "status": "succeeded",
        "identifier": f"h{n}",
        "number": n,
        "slug": f"s{n}",
    }


LISTINGS: dict[str, Callable[[Any], Any]] = {
    "users.list": lambda c: c.users.list(),
    "users.search": lambda c: c.users.search("a"),
    "user.models": lambda c: c.user.models(),
    "models.list_for_user": lambda c: c.models.list_for_user("alice"),
    "models.list_all": lambda c: c.models.list_all(),
    "models.search": lambda c: c.models.search("a"),
    "versions.list": lambda c: c.versions.list("alice/m"),
    "predictions.list": lambda c: c.predictions.list(),
    "hardware.list": lambda c: c.hardware.list(),
    "categories.list": lambda c: c.categories.list(),
    "variables.list": lambda c: c.variables.list(),
}

# cursor -> (item numbers, next cursor); the first page has cursor None.
CYCLES: dict[str, dict[str | None, tuple[list[int], str | None]]] = {
    "A->A": {None: ([1], "A"), "A": ([2], "A")},
    "A->B->A": {None: ([1], "A"), "A": ([2], "B"), "B": ([3], "A")},
    "A->B->C->B": {None: ([1], "A"), "A": ([2], "B"), "B": ([3], "C"), "C": ([4], "B")},
}


def scripted_pages(
    server: HostileServer,
    pages: dict[str | None, tuple[list[int], str | None]],
    give_up_after: int = 40,
) -> None:
    """Answer listings from ``pages``; after ``give_up_after`` requests, end
    the listing (so a client without the check ends too, with duplicates)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        numbers, next_cursor = pages[request.query.get("cursor")]
        if len(server.requests) >= give_up_after:
            next_cursor = None
        items = [item(n) for n in numbers]
        return json_answer({"items": items, "next_cursor": next_cursor})

    server.handler = handler


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("cycle", list(CYCLES))
@pytest.mark.parametrize("listing", list(LISTINGS))
async def test_a_cursor_cycle_ends_the_listing(
    server: HostileServer, kind: str, cycle: str, listing: str
) -> None:
    pages = CYCLES[cycle]
    scripted_pages(server, pages)
    client = make(kind, server)
    items: list[Any] = []
    try:
        with pytest.raises(ResponseDecodeError, match="never end") as caught:
            await collect(LISTINGS[listing](client), items)
    finally:
        await close(client)
    # Every page was delivered once, the repeated one never requested.
    assert len(items) == len(pages)
    assert len(server.requests) == len(pages)
    assert_no_token(caught.value)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_endless_empty_pages_end_the_listing(
    server: HostileServer, kind: str
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        n = len(server.requests)
        # Fresh cursors, never an item; a client without the bound would
        # follow them until the server gives up at 1,000 pages.
        return json_answer({"items": [], "next_cursor": f"c{n}" if n < 1000 else None})

    server.handler = handler
    client = make(kind, server)
    try:
        with pytest.raises(ResponseDecodeError, match="empty pages"):
            await collect(client.users.list(), [])
    finally:
        await close(client)
    assert len(server.requests) == MAX_EMPTY_PAGES + 1


async def test_a_few_empty_pages_in_a_row_are_fine(server: HostileServer) -> None:
    pages: dict[str | None, tuple[list[int], str | None]] = {None: ([1], "e0")}
    for n in range(10):  # a filtered listing may have empty pages
        pages[f"e{n}"] = ([], f"e{n + 1}")
    pages["e10"] = ([2, 3], None)
    scripted_pages(server, pages)
    async with make("async", server) as client:
        users = [user.username async for user in client.users.list()]
    assert users == ["u1", "u2", "u3"]


async def test_a_cycle_fails_only_its_owner_in_list_for_users(
    server: HostileServer,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.endswith("/bad"):
            # A -> B -> A -> ...
            cursor = "B" if request.query.get("cursor") == "A" else "A"
            return json_answer({"items": [item(1)], "next_cursor": cursor})
        return json_answer({"items": [item(2)], "next_cursor": None})

    server.handler = handler
    async with make("async", server) as client:
        results = {
            r.key: r async for r in client.models.list_for_users(["good", "bad"])
        }
    assert len(results["good"].unwrap()) == 1
    assert isinstance(results["bad"].error, ResponseDecodeError)


# -- streams that replay, close after every event, or send odd fields ------------


def sse(*events: tuple[str, str, str]) -> bytes:
    return b"".join(
        f"id: {i}\nevent: {e}\ndata: {d}\n\n".encode() for i, e, d in events
    )


def stream_answers(server: HostileServer, bodies: Callable[[int], bytes]) -> None:
    """Answer the n-th stream request (from 0) with ``bodies(n)``, then close."""

    async def handler(request: web.Request) -> web.StreamResponse:
        n = len(server.requests) - 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(bodies(n))
        await response.write_eof()
        return response

    server.handler = handler


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_server_that_ignores_after_id_repeats_nothing(
    server: HostileServer, kind: str
) -> None:
    # Closes after one event, always the same: the old client reconnected
    # hundreds of times a second and yielded that event forever.
    stream_answers(server, lambda n: sse(("1", "output", '"a"')))
    client = make(kind, server, max_retries=3)
    events: list[StreamEvent] = []
    try:
        with pytest.raises(StreamInterruptedError) as caught:
            await collect(client.predictions.stream("p1"), events, limit=50)
    finally:
        await close(client)
    assert [(e.id, e.data) for e in events] == [("1", "a")]
    # After the first, max_retries connections in a row brought nothing new:
    # then it gave up, saying where to resume.
    assert len(server.requests) == 1 + 3 + 1
    assert all(r[2] == {"after_id": "1"} for r in server.requests[1:])
    assert caught.value.last_event_id == "1"
    assert caught.value.prediction_id == "p1"


async def test_a_replay_from_the_start_yields_each_event_once(
    server: HostileServer,
) -> None:
    # Every connection starts over and brings one event more.
    script = [("1", "init", "{}"), ("2", "output", '"a"'), ("3", "output", '"b"')]
    script.append(("4", "done", '{"status": "succeeded"}'))
    stream_answers(server, lambda n: sse(*script[: n + 2]))
    async with make("async", server) as client:
        events = [e async for e in client.predictions.stream("p1", after_id="0")]
    assert [e.id for e in events] == ["1", "2", "3", "4"]
    assert len(server.requests) == 3


@attrs.frozen(kw_only=True)
class RecordingPolicy(RetryPolicy):
    """A policy that records each backoff asked for, and never sleeps."""

    asked: list[int] = attrs.field(factory=list, eq=False)

    def backoff(self, attempt: int) -> float:
        self.asked.append(attempt)
        return 0.0


async def test_reconnections_back_off_with_the_retry_policy(
    server: HostileServer,
) -> None:
    # Every third connection brings a new event, the two after it close
    # empty: the backoff grows with the empty ones and starts over after a
    # new event.
    script = [(str(n), "output", str(n)) for n in range(1, 11)]
    script.append(("11", "done", '{"status": "succeeded"}'))
    stream_answers(server, lambda n: sse(script[n // 3]) if n % 3 == 0 else b"")
    policy = RecordingPolicy(backoff_base=0.001, backoff_max=3600.0)
    async with make("async", server, retry=policy) as client:
        events = [e async for e in client.predictions.stream("p1")]
    assert [e.id for e in events] == [str(n) for n in range(1, 12)]
    assert policy.asked == [0, 1, 2] * 10


async def test_the_backoff_attempt_is_capped(server: HostileServer) -> None:
    # 2**1024 would overflow a float; the delay reached backoff_max long
    # before: the attempt number stops growing at 32.
    stream_answers(server, lambda n: sse(("1", "init", "{}")) if n == 0 else b"")
    policy = RecordingPolicy(backoff_base=0.001, backoff_max=3600.0)
    async with make("async", server, retry=policy, max_retries=40) as client:
        with pytest.raises(StreamInterruptedError):
            _ = [e async for e in client.predictions.stream("p1")]
    assert policy.asked == [0, *range(1, 33), *[32] * 8]


BAD_FIELDS = (
    b": a comment\n"
    b"retry: " + b"9" * 5000 + b"\n"  # int() refuses 4,300+ digits
    b"retry: -1\nretry: 1e3\nretry: \xd9\xa3\n"  # not digits: ignored
    b"id: 1\nevent: output\ndata: \xff\xfe not utf-8\n\n"
    b"id: bad\0id\nevent: output\ndata: 2\n\n"  # NUL: the id is ignored
    b"id: " + b"x" * 2000 + b"\nevent: " + b"e" * 2000 + b"\ndata: 3\n\n"
    b"id: 4\nevent: output\ndata: " + nested(5000) + b"\n\n"
    b"id: 5\nevent: output\ndata: " + b"1" * 5000 + b"\n\n"
    b"id: 6\nunknown: field\nevent: done\ndata: {}\n\n"
)


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_bad_sse_fields(server: HostileServer, kind: str) -> None:
    stream_answers(server, lambda n: BAD_FIELDS)
    client = make(kind, server)
    try:
        events: list[StreamEvent] = []
        await collect(client.predictions.stream("p1"), events)
    finally:
        await close(client)
    assert [e.id for e in events] == ["1", "1", "x" * 2000, "4", "5", "6"]
    assert events[0].data == "\ufffd\ufffd not utf-8"
    assert events[-1].event == "done"
    for event in events:
        assert len(repr(event)) < 3000


def test_an_absurd_retry_field_is_bounded() -> None:
    decoder = SSEDecoder()
    for value, expected in [
        (b"9" * 5000, MAX_RETRY_MS),
        (b"0" * 5000 + b"15", 15),
        (b"99999999999", MAX_RETRY_MS),
        (b"1500", 1500),
    ]:
        (message,) = decoder.feed(b"retry: " + value + b"\ndata: x\n\n")
        assert message.retry == expected


# -- deep and huge bodies: bounded messages and reprs ------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize(
    "body",
    [
        b'{"detail": ' + nested(1000) + b"}",
        b'{"detail": ' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b"}",
        b'{"detail": "' + b"x" * 1_000_000 + b'"}',
        b'{"detail": [' + b'"y", ' * 100_000 + b'"z"]}',
        b'{"detail": ' + b"1" * 5000 + b"}",
        b"<html>" + b"h" * 1_000_000 + b"</html>",
    ],
    ids=[
        "nested-lists",
        "nested-objects",
        "long-text",
        "long-list",
        "huge-int",
        "html",
    ],
)
async def test_error_messages_are_bounded(
    server: HostileServer, kind: str, body: bytes
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        answer = raw_json(body, status=400)
        answer.headers["x-request-id"] = "r" * 5000  # shown, but cut
        return answer

    server.handler = handler
    client = make(kind, server)
    try:
        with pytest.raises(BadRequestError) as caught:
            call = client.users.get("alice")
            if asyncio.iscoroutine(call):
                await call
    finally:
        await close(client)
    error = caught.value
    assert isinstance(error, APIStatusError) and error.status == 400
    assert len(str(error)) < 1200
    assert len(repr(error)) < 1300
    assert "[request id rrrr" in str(error)
    assert_no_token(error)


async def test_a_deep_prediction_output_has_a_bounded_repr(
    server: HostileServer,
) -> None:
    output = b'{"a": ' * 990 + b"1" + b"}" * 990

    async def handler(request: web.Request) -> web.StreamResponse:
        return raw_json(
            b'{"id": "p1", "status": "succeeded", "output": ' + output + b"}"
        )

    server.handler = handler
    async with make("async", server) as client:
        try:
            prediction = await client.predictions.get("p1")
        except ResponseDecodeError:
            return  # a JSON depth bound refused it: bounded too
    text = repr(prediction)
    assert text.startswith("PredictionDetails(id='p1', status=")
    assert "{...}" in text and len(text) < 2100


def deep_list(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth):
        current.append([])
        current = current[0]
    return root


def test_object_reprs_are_bounded_in_depth_and_length() -> None:
    deep = deep_list(10_000)
    prediction = PredictionDetails(
        id="p", status="succeeded", output=deep, logs=["line"] * 100_000
    )
    page = Page(items=[prediction] * 1000, next_cursor="c" * 1_000_000)
    for value in (prediction, page, StreamEvent(event="output", data=deep)):
        text = repr(value)
        assert len(text) <= 2003
        assert "[...]" in text or text.endswith("...")
    # Numbers too large for str() are shown by size, not a ValueError.
    assert "bits>" in repr(StreamEvent(event="output", data=10**5000))
    # Small objects look exactly as attrs would show them.
    assert repr(StreamEvent(event="done", data={"a": [1, None]}, id="7")) == (
        "StreamEvent(event='done', data={'a': [1, None]}, id='7')"
    )


# -- upload part URLs --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/part",
        "/v1/uploads/u1/part",
        "http:///no-host",
        "javascript:alert(1)",
        "127.0.0.1:1/part?sig=s3cr3t-signature",
    ],
)
@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_part_url_that_is_not_http_is_refused(
    server: HostileServer, kind: str, url: str
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return json_answer({"id": "u1", "urls": [url], "part_size": 1024})

    server.handler = handler
    client = make(kind, server)
    try:
        with pytest.raises(ResponseDecodeError, match="part URL 1") as caught:
            call = client.files.upload(b"hello")
            if asyncio.iscoroutine(call):
                await call
    finally:
        await close(client)
    assert isinstance(caught.value, WriftAIError)
    assert "s3cr3t-signature" not in str(caught.value)
    assert_no_token(caught.value)
    # Nothing was sent anywhere but the plan request.
    assert [(m, p) for m, p, _ in server.requests] == [("POST", "/uploads")]


async def test_a_plan_of_many_parts_runs_on_concurrency_tasks(
    server: HostileServer,
) -> None:
    # A plan of 1-byte parts: the old upload made a task per part up front
    # (a million-part plan, a million tasks); now ``concurrency`` workers.
    size = 1500
    in_flight = peak = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, peak
        if request.method == "PUT":
            in_flight += 1
            peak = max(peak, in_flight)
            await request.read()
            await asyncio.sleep(0)
            in_flight -= 1
            return web.Response(headers={"ETag": f'"{request.path}"'})
        if request.path.endswith("/complete"):
            return json_answer({"download_url": "https://files.example/x"})
        urls = [f"http://127.0.0.1:{server.port}/part/{i}" for i in range(size)]
        return json_answer({"id": "u1", "urls": urls, "part_size": 1})

    server.handler = handler
    tasks: list[int] = []
    async with make("async", server) as client:
        url = await client.files.upload(
            b"x" * size,
            concurrency=3,
            on_progress=lambda done, total: tasks.append(len(asyncio.all_tasks())),
        )
    assert url == "https://files.example/x"
    assert len(server.requests) == size + 2
    assert peak <= 3
    assert max(tasks) < 20
