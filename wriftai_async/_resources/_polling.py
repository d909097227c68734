"""One scheduler that polls many predictions until each has ended."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from .._bulk import BulkResult, ProgressCallback, bounded_map
from .._errors import WaitTimeoutError
from .._objects import PredictionDetails

__all__ = ["poll_until_terminal"]


async def poll_until_terminal(
    get: Callable[[str], Awaitable[PredictionDetails]],
    ids: Sequence[str],
    timeout: float | None,
    poll_interval: float,
    concurrency: int,
    on_progress: ProgressCallback | None,
) -> AsyncIterator[BulkResult[PredictionDetails]]:
    """Poll ``ids`` in rounds until each is terminal; yield each as it ends.

    One round per ``poll_interval`` polls every id still running,
    ``concurrency`` at a time; an id whose poll fails ends with that error,
    and ids still running at ``timeout`` end with a ``WaitTimeoutError``.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    total, done = len(ids), 0
    last: dict[str, PredictionDetails] = {}
    while ids:
        round_started = loop.time()
        still_running = []
        async for result in bounded_map(ids, get, concurrency):
            if result.ok and not result.unwrap().is_terminal:
                last[result.key] = result.unwrap()
                still_running.append(result.key)
                continue
            last.pop(result.key, None)
            done += 1
            if on_progress is not None:
                on_progress(done, total)
            yield result
        ids = still_running
        if not ids:
            return
        now = loop.time()
        if deadline is not None and now + poll_interval > deadline:
            if now < deadline:
                await asyncio.sleep(deadline - now)
                continue  # one last round at the deadline
            for key in ids:
                done += 1
                if on_progress is not None:
                    on_progress(done, total)
                error = WaitTimeoutError(
                    f"prediction {key} did not finish within {timeout}s",
                    prediction=last.get(key),
                )
                yield BulkResult(key, None, error)
            return
        await asyncio.sleep(max(0.0, poll_interval - (now - round_started)))
