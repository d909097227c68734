"""One scheduler that polls many predictions until each has ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from .._bulk import BoundedCalls, BulkResult, ProgressCallback
from .._errors import WaitTimeoutError
from .._objects import PredictionDetails
from .._repr import one_line
from .._timeouts import deadline

__all__ = ["poll_until_terminal"]


async def poll_until_terminal(
    get: Callable[[str], Awaitable[PredictionDetails]],
    ids: Sequence[str],
    timeout: float | None,
    poll_interval: float,
    concurrency: int,
    on_progress: ProgressCallback | None,
) -> AsyncGenerator[BulkResult[PredictionDetails], None]:
    """Poll ``ids`` in rounds until each is terminal; yield each as it ends.

    One round per ``poll_interval`` polls every id still running,
    ``concurrency`` at a time; an id whose poll fails ends with that error.
    ``timeout`` is one deadline for the whole call, checked while a round
    waits (a slow or silent answer, a round of 10,000 ids), not only between
    rounds: at the deadline the polls in flight are cancelled and every id
    still running ends with a ``WaitTimeoutError`` (its last state seen).

    No deadline is held across a ``yield``: the consumer's own code between
    two results runs in the same task and must never be cancelled by it.
    """
    loop = asyncio.get_running_loop()
    ends_at = None if timeout is None else loop.time() + timeout
    total, done = len(ids), 0
    last: dict[str, PredictionDetails] = {}

    def left() -> float | None:
        return None if ends_at is None else ends_at - loop.time()

    def timed_out(key: str) -> BulkResult[PredictionDetails]:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total)
        error = WaitTimeoutError(
            f"prediction {one_line(key, 80)} did not finish within {timeout}s",
            prediction=last.get(key),
        )
        return BulkResult(key, None, error)

    while ids:
        round_started = loop.time()
        still_running: list[str] = []
        unanswered = dict.fromkeys(ids)
        # Not bounded_map's async generator: one nested in this one would be
        # closed twice at once by the loop's shutdown_asyncgens().
        results = BoundedCalls(ids, get, concurrency)
        expired = False
        try:
            while True:
                try:
                    async with deadline(left()):
                        result = await results.next()
                except asyncio.TimeoutError:  # TimeoutError from 3.11 on
                    expired = True
                    break
                if result is None:
                    break
                unanswered.pop(result.key, None)
                if result.ok and not result.unwrap().is_terminal:
                    last[result.key] = result.unwrap()
                    still_running.append(result.key)
                    continue
                last.pop(result.key, None)
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
                yield result
        finally:
            await results.aclose()  # cancels and awaits the polls in flight
        if expired:
            for key in [*still_running, *unanswered]:
                yield timed_out(key)
            return
        ids = still_running
        if not ids:
            return
        pause = max(0.0, poll_interval - (loop.time() - round_started))
        remaining = left()
        if remaining is not None and remaining <= pause:
            # The next round would start at or after the deadline.
            await asyncio.sleep(max(0.0, remaining))
            for key in ids:
                yield timed_out(key)
            return
        await asyncio.sleep(pause)
