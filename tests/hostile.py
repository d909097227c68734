"""Misbehaving HTTP servers on 127.0.0.1, for the hostile-server tests.

:class:`HostileServer` is a raw asyncio TCP server (not aiohttp.web), so a
behaviour can do what no well-behaved framework would: cut a body short,
reset the connection mid-body, trickle bytes, send a gzip bomb, answer 101.
A *behaviour* is an async function ``(request, writer) -> None`` that writes
the whole answer; the server closes the connection after it. The factories
below build the common ones; other test modules add their own (a cursor
cycle, a bad event stream) with :func:`respond` and :func:`send_head`.

Example::

    async with HostileServer(gzip_bomb()) as server:
        client = AsyncClient("token", server.url)
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from wriftai_async.testing._server import stop_accepting

__all__ = [
    "Behaviour",
    "HostileServer",
    "Request",
    "abort",
    "respond",
    "send_head",
]

MiB = 1024 * 1024


@dataclass
class Request:
    """One request as the server read it (header names lower-cased)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


Behaviour = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            body += chunk[:-2]
            if size == 0:
                break
    return Request(method, target, headers, body)


@dataclass
class HostileServer:
    """Serves ``behaviour`` to every request; records what it received."""

    behaviour: Behaviour
    requests: list[Request] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await _read_request(reader)
            if request is not None:
                self.requests.append(request)
                await self.behaviour(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: that is the point of many behaviours
        except asyncio.CancelledError:
            pass  # the server is shutting down; asyncio would log a cancelled one
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        # A connection accepted as the server closes would leak otherwise.
        await stop_accepting(self._server.sockets[0])
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        await self._server.wait_closed()


# -- writing answers -----------------------------------------------------------

_REASONS = {101: "Switching Protocols", 200: "OK", 399: "Odd"}


async def send_head(
    writer: asyncio.StreamWriter,
    status: int,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Write the status line and headers (``Connection: close`` added)."""
    reason = _REASONS.get(status, "Whatever")
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [
        f"{k}: {v}" for k, v in {"Connection": "close", **(headers or {})}.items()
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()


async def respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> None:
    """A complete answer with a Content-Length."""
    all_headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }
    await send_head(writer, status, all_headers)
    writer.write(body)
    await writer.drain()


def abort(writer: asyncio.StreamWriter) -> None:
    """Reset the connection (RST, not FIN): SO_LINGER 0, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _endless(writer: asyncio.StreamWriter, chunk: bytes, pause: float) -> None:
    """Chunked transfer coding that never ends (until the client leaves)."""
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    while True:
        writer.write(frame)
        await writer.drain()
        await asyncio.sleep(pause)


# -- behaviours ----------------------------------------------------------------


def compressed_bomb(
    encoding: str, size: int = 256 * MiB, status: int = 200
) -> Behaviour:
    """``size`` bytes of spaces compressed to a few hundred KiB."""
    raw = b" " * size
    if encoding == "gzip":
        body = gzip.compress(raw, compresslevel=9)
    elif encoding == "deflate":
        body = zlib.compress(raw, 9)
    else:
        import brotli  # type: ignore[import-not-found]  # only when installed

        body = brotli.compress(raw)

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, body, {"Content-Encoding": encoding})

    return behaviour


def endless_body(
    status: int = 200, pause: float = 0.0, chunk: int = 65536
) -> Behaviour:
    """A chunked body of spaces that never ends; ``pause`` between chunks."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_head(
            writer,
            status,
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        await _endless(writer, b" " * chunk, pause)

    return behaviour


def huge_body(status: int = 200, size: int = 128 * MiB) -> Behaviour:
    """A declared and sent body of ``size`` bytes."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_head(
            writer,
            status,
            {"Content-Type": "application/json", "Content-Length": str(size)},
        )
        chunk = b" " * 65536
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()

    return behaviour


def trickle(status: int = 200, pause: float = 0.05) -> Behaviour:
    """A 1 MB body sent one byte at a time: it never finishes in time."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_head(
            writer,
            status,
            {"Content-Type": "application/json", "Content-Length": str(MiB)},
        )
        for _ in range(MiB):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(pause)

    return behaviour


def json_body(value: bytes, status: int = 200) -> Behaviour:
    """A complete answer with this body (any bytes, despite the name)."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, value)

    return behaviour


def cut_body(status: int = 200, *, reset: bool = False) -> Behaviour:
    """Promise 1000 bytes, send 100, then close (or reset) the connection."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await send_head(
            writer,
            status,
            {"Content-Type": "application/json", "Content-Length": "1000"},
        )
        writer.write(b'{"id": "' + b"x" * 92)
        await writer.drain()
        await asyncio.sleep(0.01)
        if reset:
            abort(writer)

    return behaviour


def status_only(status: int, headers: Mapping[str, str] | None = None) -> Behaviour:
    """An answer with this status and an empty JSON object."""

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, b"{}", headers)

    return behaviour


def redirect(status: int, location: str) -> Behaviour:
    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, status, b"", {"Location": location})

    return behaviour


def deep_nesting(depth: int = 100_000) -> Behaviour:
    return json_body(b"[" * depth + b"]" * depth)


def many_values(size: int) -> Behaviour:
    """``[[],[],...]`` of about ``size`` bytes: small body, huge decoded."""
    return json_body(b"[" + b",".join([b"[]"] * (size // 3)) + b"]")


def huge_numbers() -> Behaviour:
    value = {"id": 1, "items": [], "next_cursor": None}
    body = orjson.dumps(value).replace(b"1", b"1" + b"9" * 5000 + b"e99999", 1)
    return json_body(body)


def call_count_then(first: Behaviour, then: Behaviour, times: int = 1) -> Behaviour:
    """``first`` for the first ``times`` requests, then ``then``."""
    seen = 0

    async def behaviour(request: Request, writer: asyncio.StreamWriter) -> None:
        nonlocal seen
        seen += 1
        await (first if seen <= times else then)(request, writer)

    return behaviour
