"""Closing a server never leaks a connection it was just accepting.

asyncio accepts a connection in one loop iteration and builds its transport
in the next; a server closed in between refused the transport and left the
accepted socket open (CPython 3.10 to 3.13 alike). The socket was found at a
later garbage collection, failing whichever test ran then with "unclosed
transport" (on 3.12, in ``tests/test_files.py`` set-up, after an upload whose
cancelled part had opened a connection as the emulator shut down). Here a raw
connection is opened just before the close, at each loop iteration around
it, for the emulator and the tests' own raw servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from wriftai_async.testing import Emulator

from .fault_proxy import FaultProxy
from .hostile import HostileServer, status_only

# Loop iterations between the connection and the close: the race is at two
# (the accept, then the transport); the others cover a loop that needs more.
SWEEP = range(6)


@contextlib.asynccontextmanager
async def _emulator() -> AsyncIterator[int]:
    async with Emulator(seed=False) as emu:
        yield int(emu.base_url.rsplit(":", 1)[1].split("/", 1)[0])


@contextlib.asynccontextmanager
async def _hostile() -> AsyncIterator[int]:
    async with HostileServer(status_only(204)) as server:
        yield server.port


@contextlib.asynccontextmanager
async def _fault_proxy() -> AsyncIterator[int]:
    async with FaultProxy("http://127.0.0.1:9") as proxy:
        yield int(proxy.url.rsplit(":", 1)[1])


SERVERS: dict[str, Callable[[], AbstractAsyncContextManager[int]]] = {
    "emulator": _emulator,
    "hostile": _hostile,
    "fault-proxy": _fault_proxy,
}


@pytest.mark.parametrize("kind", SERVERS)
async def test_a_connection_accepted_as_the_server_closes_is_closed(kind: str) -> None:
    for iterations in SWEEP:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always", ResourceWarning)
            async with SERVERS[kind]() as port:
                # Connected (the kernel completes it) and gone at once: the
                # server is left to accept it, whenever its loop gets there.
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                for _ in range(iterations):
                    await asyncio.sleep(0)
            gc.collect()  # a leaked socket warns when it is collected
        leaked: list[Any] = [
            str(w.message) for w in seen if issubclass(w.category, ResourceWarning)
        ]
        assert leaked == [], f"closed {iterations} iterations after connecting"
