"""Predictions over real sockets: cancel, wait, and cancel_and_wait."""

from __future__ import annotations

import pytest

from wriftai_async import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PredictionDetails,
    PredictionStatus,
    WaitTimeoutError,
)
from wriftai_async.testing import Emulator

from .conftest import CLIENT_KINDS, make_client, new_prediction, resolve


async def test_cancel_is_asynchronous_and_cancel_and_wait_sees_it_through(
    client, emulator
):
    pid = new_prediction(emulator, status="started")
    assert await resolve(client.predictions.cancel(pid)) is None
    right_after = await resolve(client.predictions.get(pid))
    assert right_after.status == PredictionStatus.STARTED
    final = await resolve(client.predictions.cancel_and_wait(pid, poll_interval=0.01))
    assert isinstance(final, PredictionDetails)
    assert final.status is PredictionStatus.CANCELLED
    polls = [r for r in emulator.requests if r.method == "GET" and r.path.endswith(pid)]
    assert len(polls) >= 2


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_repeat_cancel_is_fine(kind):
    # A second cancel while the first takes effect. Once the prediction is
    # cancelled, a cancel is refused (409, as for any finished one): half a
    # second to take effect leaves the second call time on a loaded machine
    # (the shared emulator's 0.05 s did not, once).
    with Emulator(cancel_delay=0.5).run_in_thread() as emu:
        pid = new_prediction(emu, status="started")
        client = make_client(kind, emu)
        try:
            await resolve(client.predictions.cancel(pid))
            await resolve(client.predictions.cancel(pid))
            final = await resolve(
                client.predictions.wait(pid, poll_interval=0.01, timeout=10)
            )
        finally:
            await resolve(client.aclose() if kind == "async" else client.close())
    assert final.status == "cancelled"


@pytest.mark.parametrize("kind", CLIENT_KINDS)
@pytest.mark.parametrize("status", [400, 409])
async def test_cancel_of_a_finished_prediction(status, kind):
    expected = BadRequestError if status == 400 else ConflictError
    with Emulator(already_terminated_status=status).run_in_thread() as emu:
        pid = new_prediction(emu, status="succeeded")
        client = make_client(kind, emu)
        try:
            with pytest.raises(expected) as caught:
                await resolve(client.predictions.cancel(pid))
            assert caught.value.status == status
            final = await resolve(client.predictions.cancel_and_wait(pid))
            assert final.status is PredictionStatus.SUCCEEDED
        finally:
            await resolve(client.aclose() if kind == "async" else client.close())


async def test_cancel_unknown_prediction_is_not_found(client, emulator):
    with pytest.raises(NotFoundError):
        await resolve(client.predictions.cancel("00000000-0000-4000-8000-000000000000"))
    with pytest.raises(NotFoundError):
        await resolve(
            client.predictions.cancel_and_wait("00000000-0000-4000-8000-000000000000")
        )


async def test_wait_times_out_with_the_last_state(client, emulator):
    pid = new_prediction(emulator, status="started")
    with pytest.raises(WaitTimeoutError) as caught:
        await resolve(client.predictions.wait(pid, timeout=1.0, poll_interval=0.02))
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.prediction is not None
    assert caught.value.prediction.status == "started"


async def test_wait_returns_when_the_prediction_finishes(client, emulator):
    pid = new_prediction(
        emulator, status="started", finish_after=0.1, final_status="failed"
    )
    final = await resolve(client.predictions.wait(pid, poll_interval=0.02, timeout=5))
    assert final.status is PredictionStatus.FAILED


async def test_wait_arguments_are_checked(client, emulator):
    with pytest.raises(ValueError):
        await resolve(client.predictions.wait("abc", poll_interval=0))
    with pytest.raises(ValueError):
        await resolve(client.predictions.get("a/b"))
    assert emulator.requests == []
