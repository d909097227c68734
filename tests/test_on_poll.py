"""``on_poll``: each polled prediction handed to the caller, as the official
client's ``WaitOptions.on_poll``, for ``wait``, ``cancel_and_wait`` and
``create(wait=...)``, on both clients, against the emulator."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wriftai_async import AsyncClient, PredictionDetails
from wriftai_async.testing import Emulator

from .conftest import new_prediction, resolve


def _polls(emulator: Emulator, pid: str) -> int:
    return sum(
        1
        for r in emulator.requests
        if r.method == "GET" and r.path == f"/predictions/{pid}"
    )


def _check_seen(seen: list[PredictionDetails], final: PredictionDetails) -> None:
    # Every poll, in order, the terminal one last (it is handed over too).
    assert seen, "on_poll was never called"
    assert all(p.id == final.id for p in seen)
    assert seen[-1].is_terminal and seen[-1].status == final.status
    assert not any(p.is_terminal for p in seen[:-1])


async def test_cancel_and_wait_hands_over_every_poll(
    client: Any, emulator: Emulator
) -> None:
    pid = new_prediction(emulator)  # runs until cancelled
    seen: list[PredictionDetails] = []
    final = await resolve(
        client.predictions.cancel_and_wait(
            pid, poll_interval=0.01, timeout=30, on_poll=seen.append
        )
    )
    _check_seen(seen, final)
    assert len(seen) == _polls(emulator, pid)  # one call per GET, no more


async def test_wait_awaits_a_coroutine_callback(emulator: Emulator) -> None:
    pid = new_prediction(emulator)
    seen: list[str] = []

    async def on_poll(prediction: PredictionDetails) -> None:
        await asyncio.sleep(0)  # a coroutine that was not awaited records nothing
        seen.append(prediction.status)
        if len(seen) == 2:
            await client.predictions.cancel(pid)

    async with AsyncClient(emulator.access_token, emulator.base_url) as client:
        final = await client.predictions.wait(
            pid, poll_interval=0.01, timeout=30, on_poll=on_poll
        )
    assert len(seen) >= 3 and seen[-1] == final.status == "cancelled"


async def test_create_with_wait_polls_after_the_held_answer(
    client: Any, emulator: Emulator
) -> None:
    seen: list[PredictionDetails] = []
    # The emulator's predictions run 0.3 s: a hold of 0.01 s comes back
    # pending, and the polls that follow are handed over.
    final = await resolve(
        client.predictions.create(
            "alice/text-echo",
            {"text": "hi"},
            wait=0.01,
            poll_interval=0.01,
            timeout=30,
            on_poll=seen.append,
        )
    )
    _check_seen(seen, final)
    assert final.status == "succeeded"


async def test_an_exception_in_the_callback_ends_the_wait(
    client: Any, emulator: Emulator
) -> None:
    pid = new_prediction(emulator)

    def on_poll(prediction: PredictionDetails) -> None:
        raise LookupError(f"stop at {prediction.status}")

    with pytest.raises(LookupError, match="stop at started"):
        await resolve(client.predictions.wait(pid, poll_interval=0.01, on_poll=on_poll))
    assert _polls(emulator, pid) == 1


@pytest.mark.parametrize("bad", ["print", 5])
async def test_a_callback_that_is_not_callable_is_refused_before_any_request(
    client: Any, emulator: Emulator, bad: Any
) -> None:
    calls = [
        lambda: client.predictions.wait("p-1", on_poll=bad),
        lambda: client.predictions.cancel_and_wait("p-1", on_poll=bad),
        lambda: client.predictions.create(
            "alice/text-echo", {}, wait=True, on_poll=bad
        ),
    ]
    for call in calls:
        with pytest.raises(TypeError, match="on_poll must be a callable"):
            await resolve(call())
    assert emulator.requests == []
