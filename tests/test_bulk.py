"""Bulk helpers and the shared rate limit, against the emulator."""

from __future__ import annotations

import asyncio
import time

import pytest

from wriftai_async import (
    BulkResult,
    ConflictError,
    NotFoundError,
    PredictionStatus,
    WaitTimeoutError,
)
from wriftai_async._bulk import bounded_map
from wriftai_async._timeouts import deadline

from .conftest import collect, make_client, new_prediction


async def test_bounded_map_respects_the_limit_and_yields_as_completed():
    in_flight = peak = 0

    async def call(key: str) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001 * (10 - int(key)))
        in_flight -= 1
        return key * 2

    progress = []
    results = [
        r
        async for r in bounded_map(
            [str(i) for i in range(10)], call, 3, lambda d, t: progress.append((d, t))
        )
    ]
    assert peak == 3
    assert sorted(r.value for r in results) == sorted(str(i) * 2 for i in range(10))
    assert progress == [(i, 10) for i in range(1, 11)]


async def test_bounded_map_reports_failures_and_goes_on():
    async def call(key: str) -> str:
        if key == "bad":
            raise ValueError("nope")
        return key

    results = {r.key: r async for r in bounded_map(iter(["a", "bad", "c"]), call, 2)}
    assert results["a"].ok and results["c"].unwrap() == "c"
    assert not results["bad"].ok and isinstance(results["bad"].error, ValueError)
    with pytest.raises(ValueError):
        results["bad"].unwrap()


async def test_bounded_map_early_exit_cancels_what_is_running():
    started = cancelled = 0

    async def call(key: str) -> str:
        nonlocal started, cancelled
        started += 1
        try:
            await asyncio.sleep(0 if key == "0" else 10)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return key

    iterator = bounded_map([str(i) for i in range(100)], call, 8)
    async for _ in iterator:
        break
    await iterator.aclose()
    assert started >= 8 and cancelled == started - 1  # all but the first
    assert asyncio.all_tasks() == {asyncio.current_task()}


def test_concurrency_must_be_positive():
    with pytest.raises(ValueError):
        asyncio.run(anext(bounded_map(["a"], asyncio.sleep, 0)))


async def test_list_for_users_with_partial_failures(client, emulator):
    owners = emulator.add_many_users(12, models_per_user=7)
    progress = []
    results = await collect(
        client.models.list_for_users(
            [*owners, "ghost-user", "not a name"],
            concurrency=4,
            page_size=3,
            on_progress=lambda done, total: progress.append((done, total)),
        )
    )
    by_owner = {r.key: r for r in results}
    assert len(results) == 14 and set(by_owner) == {*owners, "ghost-user", "not a name"}
    for owner in owners:
        assert by_owner[owner].ok and len(by_owner[owner].value) == 7
        assert {m.owner.username for m in by_owner[owner].value} == {owner}
    assert isinstance(by_owner["ghost-user"].error, NotFoundError)
    assert isinstance(by_owner["not a name"].error, ValueError)
    assert progress[-1] == (14, 14)
    assert all(isinstance(r, BulkResult) for r in results)


async def test_early_exit_from_a_bulk_iterator_leaves_nothing_behind(emulator):
    owners = emulator.add_many_users(20, models_per_user=1)
    # Every owner but the first answers slowly.
    # (The emulator cancels a handler whose client hung up: nothing waits
    # for these at the end.)
    emulator.inject_delay(60.0, times=None, path="/models/user-000[1-9]")
    emulator.inject_delay(60.0, times=None, path="/models/user-001?")
    async with make_client("async", emulator) as client:
        iterator = client.models.list_for_users(owners, concurrency=5)
        # Closing cancels the four slow requests: waiting for their answers
        # would take a minute, and this guard tells the two apart.
        async with deadline(20):
            first = await anext(iterator)
            await iterator.aclose()
        assert first.ok
        assert asyncio.all_tasks() == {asyncio.current_task()}
        connector = client.session._session.connector
        # The four cancelled requests gave their connections back (closed,
        # not returned to the pool half-read): none is still in use.
        assert not connector._acquired
        # And the client still works for what comes next.
        [again] = await collect(client.models.list_for_users(owners[:1]))
        assert again.ok
    assert connector.closed
    emulator.clear_faults()


async def test_cancel_many_then_wait_many(client, emulator):
    running = [new_prediction(emulator, status="started") for _ in range(10)]
    finished = new_prediction(emulator, status="succeeded")
    unknown = "00000000-0000-4000-8000-00000000abcd"
    ids = [*running, finished, unknown]
    cancels = {
        r.key: r
        for r in await collect(client.predictions.cancel_many(ids, concurrency=4))
    }
    assert all(cancels[i].ok and cancels[i].value is None for i in running)
    assert isinstance(cancels[finished].error, ConflictError)
    assert isinstance(cancels[unknown].error, NotFoundError)

    progress = []
    waited = await collect(
        client.predictions.wait_many(
            ids,
            poll_interval=0.02,
            timeout=10,
            on_progress=lambda d, t: progress.append((d, t)),
        )
    )
    by_id = {r.key: r for r in waited}
    assert len(waited) == 12
    assert all(by_id[i].value.status is PredictionStatus.CANCELLED for i in running)
    assert by_id[finished].value.status is PredictionStatus.SUCCEEDED
    assert isinstance(by_id[unknown].error, NotFoundError)
    assert progress[-1] == (12, 12)
    # The finished and unknown ids were polled once: no loop per id kept them.
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert sum(r.path.endswith(finished) for r in gets) == 1
    assert sum(r.path.endswith(unknown) for r in gets) == 1


async def test_wait_many_times_out_per_item(client, emulator):
    stuck = new_prediction(emulator, status="started")
    quick = new_prediction(emulator, status="started", finish_after=0.05)
    results = {
        r.key: r
        for r in await collect(
            client.predictions.wait_many(
                [stuck, quick, stuck], timeout=0.3, poll_interval=0.05
            )
        )
    }
    assert results[quick].value.status is PredictionStatus.SUCCEEDED
    error = results[stuck].error
    assert isinstance(error, WaitTimeoutError)
    assert error.prediction is not None and error.prediction.status == "started"
    polls = [r for r in emulator.requests if r.path.endswith(stuck)]
    assert 3 <= len(polls) <= 9  # one poll per round, not a busy loop


async def test_a_429_holds_every_request_of_the_client_until_the_reset(emulator):
    """A 429 seen by one listing holds the client's later requests: no new herd."""
    owners = emulator.add_many_users(64, models_per_user=4)
    first_batch, second_batch = owners[:32], owners[32:]
    reset_in = 0.5
    reset_monotonic = time.monotonic() + reset_in
    reset = time.time() + reset_in
    # The first 32 requests (the first batch's first pages) are rate limited.
    emulator.inject(
        status=429,
        headers={"x-ratelimit-reset": f"{reset:.3f}"},
        times=32,
        path="/models/*",
    )
    async with make_client("async", emulator, max_retries=5) as client:

        async def batch(names):
            return await collect(
                client.models.list_for_users(names, concurrency=32, page_size=2)
            )

        async def after_the_first_429(names):
            # Start once the server has answered the first batch with 429s
            # (and the answers had time to arrive), while the window is open.
            for _ in range(1000):
                if sum(r.fault == "status" for r in emulator.requests) == 32:
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            return await batch(names)

        first, second = await asyncio.gather(
            batch(first_batch), after_the_first_429(second_batch)
        )
    assert all(r.ok and len(r.value) == 4 for r in first + second)
    limited = [r for r in emulator.requests if r.fault == "status"]
    assert len(limited) == 32
    assert {r.path.rsplit("/", 1)[-1] for r in limited} == set(first_batch)
    # Nothing of the second batch was sent before the reset: it waited at the
    # client's gate instead of discovering the limit for itself.
    second_sent = [
        r.received_at
        for r in emulator.requests
        if r.path.rsplit("/", 1)[-1] in set(second_batch)
    ]
    assert len(second_sent) == 32 * 2
    assert min(second_sent) >= reset_monotonic - 0.05
