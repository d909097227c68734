"""Cancellation is never lost: a caller's cancel that lands at any moment of a
call, including the very iteration in which the response headers arrive,
ends the call with ``CancelledError``.

``asyncio.wait_for`` on Python <= 3.11 drops an outside cancel that lands in
the same loop iteration as the inner call completing (CPython gh-86296); the
library uses timeout contexts instead. The emulator runs on the test's own
loop, so the number of loop iterations a request takes is steady and a sweep
of cancel points covers the moment the headers arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from wriftai_async import AsyncClient
from wriftai_async.testing import Emulator

from .conftest import FAST_RETRY

# Cancel points swept: loop iterations after the call starts. A stream's
# headers arrive within a few dozen iterations of a loopback request.
SWEEP = range(0, 120)
# How long a cancelled call may take to end before its cancel counts as lost:
# generous, since a lost cancel never ends at all (the stream stays open).
GRACE = 5.0


async def _drain(iterator: Any) -> None:
    async for _ in iterator:
        pass


async def _lost_cancels(start: Callable[[], Awaitable[Any]]) -> list[int]:
    """The cancel points (iterations after start) at which a cancel was lost."""
    lost = []
    for iterations in SWEEP:
        task = asyncio.ensure_future(start())
        for _ in range(iterations):
            await asyncio.sleep(0)
        if task.done():  # nothing left to cancel: the sweep went past the call
            task.result()
            continue
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=GRACE)
        if not done:
            lost.append(iterations)
            task.cancel()  # the second cancel lands mid-read and is honoured
            await asyncio.wait({task}, timeout=GRACE)
        assert task.done()
        assert task.cancelled(), f"cancelled at iteration {iterations}: {task!r}"
    return lost


@pytest.fixture
async def emu() -> Any:
    async with Emulator(prediction_duration=0.3, cancel_delay=0.02) as emulator:
        yield emulator


async def test_cancel_as_the_stream_headers_arrive_is_never_lost(emu: Emulator) -> None:
    running = emu.add_prediction("alice/text-echo", status="started")["id"]
    async with AsyncClient(emu.access_token, emu.base_url, retry=FAST_RETRY) as client:
        lost = await _lost_cancels(lambda: _drain(client.predictions.stream(running)))
        assert lost == []
        # The client is still usable, and nothing was left streaming.
        assert (await client.predictions.get(running)).status == "started"
        await _eventually_no_open_streams(emu)


async def test_cancel_of_wait_at_any_point_is_never_lost(emu: Emulator) -> None:
    running = emu.add_prediction("alice/text-echo", status="started")["id"]
    async with AsyncClient(emu.access_token, emu.base_url, retry=FAST_RETRY) as client:

        def start() -> Awaitable[Any]:
            return client.predictions.wait(running, timeout=30, poll_interval=0.01)

        assert await _lost_cancels(start) == []


async def _eventually_no_open_streams(emu: Emulator) -> None:
    for _ in range(500):
        if emu.open_streams == 0:
            return
        await asyncio.sleep(0.01)
    assert emu.open_streams == 0
