"""Streams through a server that fails the way networks do, many at once.

A small aiohttp.web server on 127.0.0.1 of our own, not the emulator: each
prediction has a fixed script of events (ids 1..n, ``init`` first, ``done``
or ``error`` last), and every connection to it may be cut at any byte
(mid-line, mid-event, between a CR and its LF), answered 503 or 429 (in
bursts longer than the client's own retries), replayed from the start
whatever ``after_id`` says, or closed early, even empty. Some scripts stop
before their terminal event for good.

Streams through both clients (``stream(id)`` and ``create(stream=True)``)
run at once; each must deliver its events exactly once, in order, then its
terminal event, or raise ``StreamInterruptedError`` with the id of the last
event delivered, and nothing else. The randomness is seeded per prediction
and per connection, so a run is the same run every time.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wriftai_async import (
    AsyncClient,
    Client,
    RetryPolicy,
    StreamEvent,
    StreamInterruptedError,
)

SEED = 20261203
# Tiny waits: the schedule of reconnections is what is tested, not its pace.
RETRY = RetryPolicy(backoff_base=0.0005, backoff_max=0.002, max_rate_limit_wait=1.0)
MAX_RETRIES = 6

Event = tuple[str, str, Any]  # id, name, data


@dataclass
class Script:
    """One prediction's events, and how its connections fail."""

    pid: str
    events: list[Event]
    #: The events a client can get: all, or fewer for one that never ends.
    served: int
    connections: int = 0
    bad_streak: int = 0
    after_ids: list[str | None] = field(default_factory=list)

    @property
    def expected(self) -> list[Event]:
        """What a client must yield: up to the first terminal event served."""
        out = []
        for event in self.events[: self.served]:
            out.append(event)
            if event[1] in ("done", "error"):
                break
        return out


def make_script(pid: str, rng: random.Random) -> Script:
    n = rng.randint(3, 30)
    events: list[Event] = [("1", "init", {"id": pid, "status": "starting"})]
    for i in range(2, n):
        text = rng.choice(["word ", "é✓ ", "a\u2028b ", '"quoted" ', "x" * 300])
        events.append((str(i), "output", text))
    if rng.random() < 0.25:
        # A failed prediction: error is the end, whatever follows it.
        events.append((str(n), "error", {"message": "boom", "source": "internal"}))
        events.append((str(n + 1), "done", {"status": "failed"}))
    else:
        events.append((str(n), "done", {"status": "succeeded"}))
    served = len(events)
    if rng.random() < 0.15:
        served = rng.randint(1, n - 1)  # never gets to its terminal event
    return Script(pid, events, served)


def encode(events: list[Event], eol: str) -> bytes:
    return "".join(
        f"id: {i}{eol}event: {name}{eol}data: {json.dumps(data)}{eol}{eol}"
        for i, name, data in events
    ).encode()


class FaultyServer:
    """Serves the scripts, failing as the seeded dice say."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.posts = 0

    def _dice(self, script: Script) -> random.Random:
        script.connections += 1
        return random.Random(f"{SEED}/{script.pid}/{script.connections}")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        script = self.scripts[request.match_info["id"]]
        after = request.query.get("after_id")
        script.after_ids.append(after)
        rng = self._dice(script)
        if script.bad_streak > 0:  # a burst longer than the client's retries
            script.bad_streak -= 1
            return web.json_response({"detail": "unavailable"}, status=503)
        # The first request of stream() is not failed with a status: one that
        # never started raises that status, as any call does (tested apart).
        roll = 1.0 if script.connections == 1 else rng.random()
        if roll < 0.04:
            script.bad_streak = MAX_RETRIES + 1
            return web.json_response({"detail": "unavailable"}, status=503)
        if roll < 0.12:
            return web.json_response({"detail": "unavailable"}, status=503)
        if roll < 0.16:
            return web.Response(
                status=429, headers={"Retry-After": "0"}, text="slow down"
            )
        start = int(after) if after is not None else 0
        if rng.random() < 0.08:
            start = 0  # a replay: after_id ignored
        return await self._send(request, script, start, rng)

    async def create(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        assert body["stream"] is True
        assert request.headers["Accept"] == "text/event-stream"
        assert request.headers["Prefer"] == "wait"
        script = self.scripts[body["input"]["pid"]]
        script.after_ids.append("POST")
        self.posts += 1
        rng = self._dice(script)
        # The POST is cut only after its init event: before it, no client
        # can resume (test_a_post_cut_before_init_cannot_resume).
        return await self._send(request, script, 0, rng, keep=1)

    async def _send(
        self,
        request: web.Request,
        script: Script,
        start: int,
        rng: random.Random,
        keep: int = 0,
    ) -> web.StreamResponse:
        eol = rng.choice(["\n", "\r\n"])
        events = script.events[start : script.served]
        body = encode(events, eol)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        roll = rng.random()
        floor = len(encode(events[:keep], eol))
        if roll < 0.3 and len(body) > floor:
            # A cut at any byte: mid-line, mid-event, between CR and LF.
            cut = rng.randint(floor, len(body) - 1)
            await response.write(body[:cut])
            await asyncio.sleep(0.001)  # let the part leave before the abort
            assert request.transport is not None
            request.transport.abort()
            return response
        if roll < 0.4:
            # A clean close after whole events (maybe none): an early close.
            body = encode(events[: rng.randint(keep, len(events))], eol)
        await response.write(body)
        await response.write_eof()
        return response


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[FaultyServer, str]]:
    rng = random.Random(SEED)
    scripts = {f"pred-{k:03d}": make_script(f"pred-{k:03d}", rng) for k in range(120)}
    server = FaultyServer(scripts)
    app = web.Application()
    app.router.add_get("/v1/predictions/{id}/stream", server.stream)
    app.router.add_post("/v1/predictions", server.create)
    async with TestServer(app, host="127.0.0.1") as test_server:
        yield server, str(test_server.make_url("/v1"))


Outcome = tuple[list[Event], StreamInterruptedError | None]


def as_tuples(events: list[StreamEvent]) -> list[Event]:
    return [(e.id or "", e.event, e.data) for e in events]


async def follow_async(client: AsyncClient, pid: str, create: bool) -> Outcome:
    got: list[StreamEvent] = []
    try:
        if create:
            stream = await client.predictions.create("o/m", {"pid": pid}, stream=True)
        else:
            stream = client.predictions.stream(pid)
        async with stream:
            async for event in stream:
                got.append(event)
    except StreamInterruptedError as exc:
        return as_tuples(got), exc
    return as_tuples(got), None


def follow_sync(client: Client, pid: str, create: bool) -> Outcome:
    got: list[StreamEvent] = []
    try:
        if create:
            stream = client.predictions.create("o/m", {"pid": pid}, stream=True)
        else:
            stream = client.predictions.stream(pid)
        with stream:
            got.extend(stream)
    except StreamInterruptedError as exc:
        return as_tuples(got), exc
    return as_tuples(got), None


def check(script: Script, outcome: Outcome) -> None:
    """Every event the server has, once, in order; then the end or the error."""
    got, error = outcome
    assert got == script.expected, script.pid
    if script.expected[-1][1] in ("done", "error"):
        assert error is None, script.pid
    else:
        # The server never sends the rest: the client gives up, saying where.
        assert error is not None, script.pid
        assert error.last_event_id == got[-1][0], script.pid
        assert error.prediction_id == script.pid


async def test_many_streams_through_faults_each_event_once(
    faulty: tuple[FaultyServer, str],
) -> None:
    server, url = faulty
    pids = sorted(server.scripts)
    async_stream, async_create = pids[:80], pids[80:105]
    sync_stream, sync_create = pids[105:112], pids[112:120]
    async with AsyncClient("t", url, retry=RETRY, max_retries=MAX_RETRIES) as client:
        with Client("t", url, retry=RETRY, max_retries=MAX_RETRIES) as sync_client:
            outcomes = await asyncio.gather(
                *(follow_async(client, pid, False) for pid in async_stream),
                *(follow_async(client, pid, True) for pid in async_create),
                *(
                    asyncio.to_thread(follow_sync, sync_client, pid, False)
                    for pid in sync_stream
                ),
                *(
                    asyncio.to_thread(follow_sync, sync_client, pid, True)
                    for pid in sync_create
                ),
            )
    order = async_stream + async_create + sync_stream + sync_create
    interrupted = 0
    for pid, outcome in zip(order, outcomes, strict=True):
        script = server.scripts[pid]
        check(script, outcome)
        interrupted += outcome[1] is not None
    # One POST per create, never repeated (that would be a second
    # prediction); the faults really happened.
    assert server.posts == len(async_create) + len(sync_create)
    assert 0 < interrupted < len(order) // 3
    connections = sum(s.connections for s in server.scripts.values())
    assert connections > 2 * len(order)


async def test_a_post_cut_before_init_cannot_resume() -> None:
    posts = 0

    async def create(request: web.Request) -> web.StreamResponse:
        nonlocal posts
        posts += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'id: 1\nevent: init\ndata: {"id": "p-1", "sta')
        await asyncio.sleep(0.001)
        assert request.transport is not None
        request.transport.abort()
        return response

    app = web.Application()
    app.router.add_post("/v1/predictions", create)
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AsyncClient("t", str(server.make_url("/v1")), retry=RETRY) as client,
    ):
        stream = await client.predictions.create("o/m", {}, stream=True)
        with pytest.raises(StreamInterruptedError, match="cannot be resumed") as caught:
            async for _ in stream:
                pass
    assert caught.value.prediction_id is None and caught.value.last_event_id is None
    assert posts == 1
