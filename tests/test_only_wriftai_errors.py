"""Only ``WriftAIError`` escapes from anything the server sends (property test).

Hypothesis writes a *script* of server answers: statuses (1xx to 5xx, odd
ones included), headers (``Retry-After`` and ``x-ratelimit-reset`` as
numbers, dates no calendar holds and garbage; ``Location`` relative, on the
API's origin, on another, with an invalid host name or none at all;
``Content-Type``; a ``Content-Encoding`` the body does not have), bodies
(JSON shaped like the API's objects, pages, upload plans and predictions,
with big integers, lone surrogates and wrong types; raw bytes; event
streams) and answers cut short or reset. A real raw-socket server on
127.0.0.1 (its own thread) plays the script, answer after answer, to one
public call of ``AsyncClient`` or of the sync ``Client``, driven to its end
(listings drained, bulk results unwrapped, streams read).

What must hold for every script: the call returns or raises a
``WriftAIError`` (nothing else: no ``KeyError``, ``TypeError``,
``UnicodeError``, ``OverflowError``...), ends in bounded time, and keeps
memory bounded (tracemalloc peak).

In the suite it runs a few dozen examples (the conftest's ``fast`` profile,
capped here to keep it to a few seconds). For a deeper search::

    HYPOTHESIS_PROFILE=thorough pytest tests/test_only_wriftai_errors.py

(1,000 examples, a few minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import inspect
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wriftai_async import AsyncClient, BulkResult, Client, File, WriftAIError

from . import hostile
from .conftest import FAST_RETRY
from .hostile_calls import CALLS

UUID = "11111111-2222-4333-8444-555555555555"
MODEL = "alice/text-echo"
VERSION = "alice/text-echo:1"
WAIT = {"timeout": 0.3, "poll_interval": 0.01}
LIMIT = 256 * 1024  # max_response_size of the clients under test
MEMORY_BOUND = 24 * 1024 * 1024  # tracemalloc peak per example
# A call that needs longer than this has hung (every call's own bound is far
# shorter: timeout=2 s per request, waits of 0.3 s).
HANG = 30.0

# -- the calls ---------------------------------------------------------------------

# Each makes one public call on either client; ``finish`` drives its result to
# the end. The same names as tests/hostile_calls.py (checked below).
Call = Callable[[Any], Any]
PUBLIC_CALLS: dict[str, Call] = {
    "request": lambda c: c.request("GET", "/hardware"),
    "models.get": lambda c: c.models.get(MODEL),
    "models.create": lambda c: c.models.create("m", hardware_identifier="cpu"),
    "models.update": lambda c: c.models.update(MODEL, description="d"),
    "models.delete": lambda c: c.models.delete(MODEL),
    "models.list_page": lambda c: c.models.list_page("alice"),
    "models.list_for_user": lambda c: c.models.list_for_user("alice"),
    "models.list_for_users": lambda c: c.models.list_for_users(["alice", "bob"]),
    "models.list_all_page": lambda c: c.models.list_all_page(),
    "models.list_all": lambda c: c.models.list_all(),
    "models.search_page": lambda c: c.models.search_page("echo"),
    "models.search": lambda c: c.models.search("echo"),
    "versions.list_page": lambda c: c.versions.list_page(MODEL),
    "versions.list": lambda c: c.versions.list(MODEL),
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
    "predictions.create(stream)": lambda c: c.predictions.create(
        MODEL, {"text": "hi", "file": File(b"abc", "text/plain")}, stream=True
    ),
    "predictions.get": lambda c: c.predictions.get(UUID),
    "predictions.list_page": lambda c: c.predictions.list_page(),
    "predictions.list": lambda c: c.predictions.list(),
    "predictions.stream": lambda c: c.predictions.stream(UUID),
    "predictions.cancel": lambda c: c.predictions.cancel(UUID),
    "predictions.wait": lambda c: c.predictions.wait(UUID, **WAIT),
    "predictions.cancel_and_wait": lambda c: c.predictions.cancel_and_wait(
        UUID, **WAIT
    ),
    "predictions.cancel_many": lambda c: c.predictions.cancel_many([UUID, UUID[::-1]]),
    "predictions.wait_many": lambda c: c.predictions.wait_many([UUID], **WAIT),
    "users.get": lambda c: c.users.get("alice"),
    "users.list_page": lambda c: c.users.list_page(),
    "users.list": lambda c: c.users.list(),
    "users.search_page": lambda c: c.users.search_page("al"),
    "users.search": lambda c: c.users.search("al"),
    "user.get": lambda c: c.user.get(),
    "user.update": lambda c: c.user.update(bio="b"),
    "user.models_page": lambda c: c.user.models_page(),
    "user.models": lambda c: c.user.models(),
    "hardware.list_page": lambda c: c.hardware.list_page(),
    "hardware.list": lambda c: c.hardware.list(),
    "categories.list_page": lambda c: c.categories.list_page(),
    "categories.list": lambda c: c.categories.list(),
    "files.upload": lambda c: c.files.upload(
        b"0123456789" * 30, mime_type="text/plain"
    ),
    "uploads.create": lambda c: c.uploads.create(size=300, mime_type="text/plain"),
    "uploads.complete": lambda c: c.uploads.complete("u-1", ["e1"]),
    "variables.create": lambda c: c.variables.create("v", "K", "1", secret=True),
    "variables.update": lambda c: c.variables.update("v", value="2"),
    "variables.delete": lambda c: c.variables.delete("v"),
    "variables.list_page": lambda c: c.variables.list_page(),
    "variables.list": lambda c: c.variables.list(),
}


def _touch(value: Any) -> None:
    """Read every field of what a call returned (fields are built on read)."""
    repr(value)
    with contextlib.suppress(TypeError):
        hash(value)
    if isinstance(value, BulkResult):
        value.unwrap()


async def finish_async(result: Any) -> None:
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "__aiter__"):
        async for item in result:
            _touch(item)
    else:
        _touch(result)


def finish_sync(result: Any) -> None:
    if isinstance(result, Iterator):
        for item in result:
            _touch(item)
    else:
        _touch(result)


def test_the_table_covers_every_public_call():
    assert set(PUBLIC_CALLS) == set(CALLS)


# -- the server ----------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One answer of the script; ``end`` says how the body ends."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    end: str = "whole"  # "whole", "cut" (FIN mid-body) or "reset" (RST)


@dataclass
class Script:
    answers: list[Answer] = field(default_factory=list)
    served: int = 0


class ThreadedServer:
    """tests.hostile.HostileServer on its own thread, playing ``script``."""

    def __init__(self) -> None:
        self.script = Script()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = hostile.HostileServer(self._behaviour)
        self.origin = ""

    async def _behaviour(
        self, request: hostile.Request, writer: asyncio.StreamWriter
    ) -> None:
        script = self.script
        answer = script.answers[script.served % len(script.answers)]
        script.served += 1
        body = answer.body.replace(b"{origin}", self.origin.encode())
        headers = {k: v.replace("{origin}", self.origin) for k, v in answer.headers}
        if answer.end == "whole":
            await hostile.respond(writer, answer.status, body, headers)
            return
        headers["Content-Length"] = str(len(body) + 100)  # promised, never sent
        await hostile.send_head(writer, answer.status, headers)
        writer.write(body)
        await writer.drain()
        if answer.end == "reset":
            hostile.abort(writer)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.__aenter__(), self.loop).result(10)
        self.origin = self.server.url

    def stop(self) -> None:
        stop = self.server.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(stop, self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    threaded = ThreadedServer()
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()


# -- what the server may say ---------------------------------------------------------

ABSURD_DATES = [
    "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
    "Mon, 01 Jan 2024 00:00:00 +99999999999999999999",
    "Fri, 31 Dec 9999 23:59:59 -9999",
    "Sat, 01 Jan 0000 00:00:00 GMT",
    "Wed, 21 Oct 2015 07:28:00 GMT",
]
# Header values: printable latin-1 without CR/LF (the framing stays intact).
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=40,
)
seconds_text = st.one_of(
    st.integers(-10, 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "0.01", "1_0", " 1 "]),
    st.sampled_from(ABSURD_DATES),
    header_text,
)
locations = st.one_of(
    st.sampled_from(
        [
            "/v1/again",
            "/elsewhere",
            "{origin}/v1/other",
            "{origin}/v1/models/alice/important?x=1",
            "http://127.0.0.1:9/x",
            "https://127.0.0.1/x",
            "http://xn--a/x",
            "http://" + "a" * 64 + ".example/x",
            "http://a..b/x",
            "http://user:pass@127.0.0.1:9/x",
            "ftp://127.0.0.1/x",
            "javascript:alert(1)",
            "//127.0.0.1:9/x",
            "http://[::1",
            "",
        ]
    ),
    header_text,
    st.just("http:// " + "x" * 8000),
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "text/event-stream",
        "text/html",
        "application/octet-stream",
        "",
        "x/y; ;;=",
    ]
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "2024-01-02T03:04:05Z",
            "2024-13-45T99:99:99",
            "succeeded",
            "started",
            "cancelled",
            UUID,
            "",
            "..",
            "a/b?c#d",
            "\ud800",
            "{origin}/part?X-Amz-Signature=s3cr3t",
            "http://xn--a/part",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=12,
)
API_KEYS = [
    "id",
    "name",
    "username",
    "status",
    "number",
    "identifier",
    "slug",
    "owner",
    "hardware",
    "categories",
    "created_at",
    "urls",
    "part_size",
    "download_url",
    "output",
    "error",
    "logs",
    "items",
    "next_cursor",
    "detail",
    "key",
    "value",
    "secret",
    "predictions_count",
    "latest_version",
    "schemas",
    "model",
    "gpus",
]
objects = st.dictionaries(st.sampled_from(API_KEYS), json_values, max_size=8)
# What most calls read: one object, or a page of them.
api_shaped = st.one_of(
    objects,
    st.builds(
        lambda items, cursor: {"items": items, "next_cursor": cursor},
        st.lists(objects, max_size=4),
        st.one_of(st.none(), st.text(max_size=6), st.integers()),
    ),
    st.builds(
        lambda urls, size, uid: {"id": uid, "urls": urls, "part_size": size},
        st.lists(
            st.sampled_from(["{origin}/p?X-Amz-Signature=s3cr3t", "http://xn--a/p"]),
            max_size=3,
        ),
        st.one_of(st.integers(-1, 400), scalars),
        st.one_of(st.just("u1"), scalars),
    ),
    st.fixed_dictionaries(
        {"id": st.just(UUID), "status": st.sampled_from(["succeeded", "started", "x"])},
        optional={"output": json_values, "error": json_values},
    ),
)


def _encode(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # a big integer or a lone surrogate: the standard library
        import json

        return json.dumps(value).encode("utf-8", "surrogatepass")


event_fields = st.one_of(
    st.builds(
        lambda v: f"event: {v}",
        st.sampled_from(["init", "output", "done", "error", "x"]),
    ),
    st.builds(
        lambda v: f"data: {v.decode('utf-8', 'replace')}", api_shaped.map(_encode)
    ),
    st.builds(lambda v: f"data: {v}", header_text),
    st.builds(lambda v: f"id: {v}", st.text(max_size=6)),
    st.builds(lambda v: f"retry: {v}", st.integers(-5, 30)),
    st.just(""),
    st.just(":comment"),
)
sse_bodies = st.lists(event_fields, max_size=12).map(
    lambda lines: ("\n".join(lines) + "\n\n").encode("utf-8", "replace")
)
bodies = st.one_of(
    api_shaped.map(_encode),
    json_values.map(_encode),
    sse_bodies,
    st.binary(max_size=64),
    st.just(b""),
    st.just(b"[" * 2000 + b"]" * 2000),
    st.just(b'{"id": 1' + b"0" * 400 + b"}"),
)
statuses = st.one_of(
    st.sampled_from([200, 200, 200, 201, 202, 204, 301, 302, 303, 307, 308, 304]),
    st.sampled_from([400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 504, 399]),
    st.integers(100, 599),
)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    headers: dict[str, str] = {}
    if draw(st.booleans()):
        headers["Content-Type"] = draw(content_types)
    if draw(st.integers(0, 3)) == 0:
        headers["Retry-After"] = draw(seconds_text)
    if draw(st.integers(0, 5)) == 0:
        headers["x-ratelimit-reset"] = draw(seconds_text)
    if draw(st.integers(0, 2)) == 0:
        headers["Location"] = draw(locations)
    if draw(st.integers(0, 6)) == 0:
        headers["ETag"] = draw(header_text)
    body = draw(bodies)
    if draw(st.integers(0, 8)) == 0:
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br"]))
        if draw(st.booleans()):
            body = gzip.compress(body)
    end = draw(st.sampled_from(["whole"] * 8 + ["cut", "reset"]))
    return Answer(draw(statuses), tuple(headers.items()), body, end)


# -- the property --------------------------------------------------------------------


def _examples() -> int:
    # The suite's "fast" profile runs 40 examples per property (Hypothesis'
    # default, 100); this one makes network calls, so it takes 25 there. A
    # deeper profile ("thorough": 1,000) runs as many as it says.
    configured = settings().max_examples
    return min(configured, 25) if configured <= 100 else configured


def _client(kind: str, url: str) -> Any:
    cls = AsyncClient if kind == "async" else Client
    return cls(
        "tok-fuzz-secret",
        url + "/v1",
        max_retries=1,
        retry=FAST_RETRY,
        timeout=2.0,
        connect_timeout=1.0,
        max_response_size=LIMIT,
        max_listing_items=200,
    )


async def run_call(kind: str, name: str, url: str) -> BaseException | None:
    """The call's outcome: ``None`` or what it raised."""
    call = PUBLIC_CALLS[name]
    if kind == "async":
        async with _client("async", url) as client:
            try:
                with anyio.fail_after(HANG):
                    await finish_async(call(client))
            except BaseException as exc:  # judged by the caller
                return exc
        return None

    def in_thread() -> BaseException | None:
        with _client("sync", url) as client:
            try:
                finish_sync(call(client))
            except BaseException as exc:  # judged by the caller
                return exc
        return None

    with anyio.fail_after(HANG):
        return await asyncio.to_thread(in_thread)


@settings(
    max_examples=_examples(),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    script=st.lists(answers(), min_size=1, max_size=4),
    name=st.sampled_from(sorted(PUBLIC_CALLS)),
    kind=st.sampled_from(["async", "sync"]),
)
def test_only_wriftai_errors_escape(server, script, name, kind):
    server.script = Script(list(script))
    tracemalloc.start()
    try:
        outcome = asyncio.run(run_call(kind, name, server.origin))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if outcome is not None and not isinstance(outcome, WriftAIError):
        raise AssertionError(f"{kind} {name}: {type(outcome).__name__}") from outcome
    assert peak < MEMORY_BOUND, f"{kind} {name}: peak {peak} bytes"
    if outcome is not None:
        assert len(str(outcome)) < 4000
        assert "tok-fuzz-secret" not in str(outcome)
