"""A forward HTTP proxy on 127.0.0.1 that records what it saw: the proxy tests'.

It speaks what a corporate proxy speaks: an absolute-form request (``GET
http://host:port/path HTTP/1.1``) is forwarded to ``upstream`` (the
emulator, whatever host it names), the answer streamed back; a ``CONNECT
host:port`` is answered ``200`` and then piped to ``upstream`` byte for byte
(or answered ``connect_status`` instead): with an ``https://`` target and
the emulator serving TLS, the client's TLS runs end to end through it, as
through a corporate proxy, and :attr:`Seen.tunneled` keeps what the client
sent inside (a test checks it is TLS, never plaintext). With ``credentials``, a request
without the matching ``Proxy-Authorization`` gets a 407. ``host_header``
replaces the ``Host`` it forwards (the emulator names its upload URLs after
it, so a test can put the storage host elsewhere than the API's). With
``ssl_context`` (a server's, such as tests/tls_certs.py's
``PKI.server_context()``) it is an ``https://`` proxy: the client speaks TLS
to the proxy itself, and inside it the ``CONNECT`` or the request, as above
(a client that does not trust it sends none: :attr:`ForwardProxy.seen` stays
empty).

Every request is recorded in :attr:`ForwardProxy.seen` before it is
answered, so a test reads it once its call returned. The proxy runs on its
own thread and loop: the sync ``Client`` blocks the test's thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

# What a tunnel keeps of the client's bytes: the tests' calls send far less.
# A TLS handshake record (content type 22, version 3.x): the first bytes a
# client sends through a tunnel it then speaks TLS in.
TLS_HANDSHAKE = b"\x16\x03"
_MAX_TUNNELED = 1 << 20


@dataclass
class Seen:
    """One request the proxy received: its first line, headers and raw head.

    For a ``CONNECT``, ``tunneled`` is what the client then sent through the
    tunnel (its first MiB).
    """

    method: str
    target: str
    headers: dict[str, str]  # names lowercased
    head: bytes
    tunneled: bytearray = field(default_factory=bytearray)


@dataclass
class ForwardProxy:
    upstream_port: int
    credentials: tuple[str, str] | None = None
    connect_status: int = 200
    host_header: str | None = None
    ssl_context: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, user_info: str = "") -> str:
        scheme = "http" if self.ssl_context is None else "https"
        at = "@" if user_info else ""
        return f"{scheme}://{user_info}{at}127.0.0.1:{self.port}"

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.credentials is None:
            return True
        expected = base64.b64encode(":".join(self.credentials).encode()).decode()
        return headers.get("proxy-authorization") == f"Basic {expected}"

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one(reader, writer):
                pass
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is stopping: asyncio would log a cancelled handler
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; ``True`` if the connection may carry another."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        self.seen.append(Seen(method, target, headers, head))
        if not self._authorized(headers):
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\n'
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return False
        if method == "CONNECT":
            if self.connect_status != 200:
                writer.write(b"HTTP/1.1 %d Refused\r\n\r\n" % self.connect_status)
                await writer.drain()
                return False
            await self._tunnel(reader, writer, self.seen[-1].tunneled)
            return False
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _read_chunked(reader)  # forwarded as it came
        await self._forward(method, target, headers, body, writer)
        return False  # each answer is sent with Connection: close

    async def _tunnel(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        tunneled: bytearray,
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(
            src: asyncio.StreamReader,
            dst: asyncio.StreamWriter,
            kept: bytearray | None = None,
        ) -> None:
            try:
                while chunk := await src.read(65536):
                    if kept is not None and len(kept) < _MAX_TUNNELED:
                        kept += chunk[: _MAX_TUNNELED - len(kept)]
                    dst.write(chunk)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, tunneled), pipe(up_reader, writer))

    async def _forward(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        # http://host:port/path?query -> /path?query, sent to the upstream.
        path = "/" + target.split("://", 1)[1].partition("/")[2]
        kept = {
            k: v
            for k, v in headers.items()
            if k not in ("proxy-authorization", "proxy-connection", "connection")
        }
        if self.host_header is not None:
            kept["host"] = self.host_header
        kept["connection"] = "close"
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", self.upstream_port
        )
        try:
            request = f"{method} {path} HTTP/1.1\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in kept.items()
            )
            up_writer.write(request.encode("latin-1") + b"\r\n" + body)
            await up_writer.drain()
            answer = await up_reader.readuntil(b"\r\n\r\n")
            status, *rest = answer.decode("latin-1").split("\r\n")
            rest = [
                line
                for line in rest
                if line and not line.lower().startswith("connection:")
            ]
            rest.append("Connection: close")
            writer.write(("\r\n".join([status, *rest]) + "\r\n\r\n").encode("latin-1"))
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            up_writer.close()

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, raw, up to and including its last (empty) chunk."""
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";")[0], 16)
        parts.append(await reader.readexactly(size + 2))  # the data and CRLF
        if size == 0:
            return b"".join(parts)


def emulator_port(emulator: Any) -> int:
    """The port an emulator serves on: where the proxy forwards to."""
    port = URL(emulator.base_url).port
    assert port is not None
    return port


@contextlib.contextmanager
def running_proxy(upstream_port: int, **options: object) -> Iterator[ForwardProxy]:
    """A :class:`ForwardProxy` serving on its own thread until the block ends."""
    proxy = ForwardProxy(upstream_port, **options)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    thread = threading.Thread(
        target=lambda: (
            loop.run_until_complete(proxy._start()),
            ready.set(),
            loop.run_forever(),
        ),
        daemon=True,
    )
    thread.start()
    assert ready.wait(10), "the proxy did not start"
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy._stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
