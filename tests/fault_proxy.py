"""A proxy on 127.0.0.1 that injects faults between a client and a server.

Each request is, by a seeded draw: answered 503 (empty body, as a load
balancer would) or 429 by the proxy itself, dropped (the connection closed
before anything was forwarded), forwarded with its answer cut off halfway or
reset halfway (so the server *did* act on it), or forwarded whole. The proxy
logs every forwarded request with its upstream answer, so a test can tell
what the server really did, whatever the client saw.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wriftai_async.testing._server import stop_accepting

from .hostile import Request, _read_request, abort, respond, send_head

# Faults and their probabilities, as in issue 9; the rest is forwarded whole.
DEFAULT_RATES: Mapping[str, float] = {
    "503": 0.05,
    "429": 0.03,
    "drop": 0.03,
    "cut": 0.02,
    "reset": 0.02,
}
_KEPT_HEADERS = ("content-type", "location", "retry-after", "x-ratelimit-reset")


@dataclass
class Forwarded:
    """A request the upstream server answered, and how."""

    request: Request
    status: int
    body: bytes
    fault: str


@dataclass
class FaultProxy:
    upstream: str
    seed: int = 0
    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    forwarded: list[Forwarded] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    _rng: random.Random = field(init=False)
    _server: asyncio.Server | None = None
    _session: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def _draw(self) -> str:
        roll = self._rng.random()
        for fault, rate in self.rates.items():
            if roll < rate:
                return fault
            roll -= rate
        return "none"

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await _read_request(reader)
            if request is not None:
                await self._answer(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, request: Request, writer: asyncio.StreamWriter) -> None:
        fault = self._draw()
        self.faults[fault] = self.faults.get(fault, 0) + 1
        if fault == "503":
            await respond(writer, 503, b"")
            return
        if fault == "429":
            await respond(writer, 429, b'{"detail": "slow down"}', {"Retry-After": "0"})
            return
        if fault == "drop":
            return  # closed without an answer; nothing was forwarded
        assert self._session is not None
        headers = {
            k: v
            for k, v in request.headers.items()
            if k not in ("host", "connection", "content-length", "accept-encoding")
        }
        async with self._session.request(
            request.method,
            self.upstream + request.target,
            headers=headers,
            data=request.body or None,
            allow_redirects=False,
        ) as answer:
            body = await answer.read()
            kept = {
                k: v for k, v in answer.headers.items() if k.lower() in _KEPT_HEADERS
            }
            status = answer.status
        self.forwarded.append(Forwarded(request, status, body, fault))
        if fault in ("cut", "reset"):
            await send_head(writer, status, {**kept, "Content-Length": str(len(body))})
            writer.write(body[: len(body) // 2])
            await writer.drain()
            if fault == "reset":
                abort(writer)
            return
        await respond(writer, status, body, kept)

    async def __aenter__(self) -> FaultProxy:
        self._session = aiohttp.ClientSession()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._session is not None
        # A connection accepted as the server closes would leak otherwise.
        await stop_accepting(self._server.sockets[0])
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._server.wait_closed()
        await self._session.close()
