"""What a call's deadline costs, per call, with each primitive on offer.

    python benchmarks/deadline_cost.py [--calls 20000] [--rounds 7]

Every request enters one deadline (``_timeouts.deadline``, around the whole
call, retries included). This times entering and leaving a 60 s deadline
around one ``await asyncio.sleep(0)`` (one trip through the event loop, as
any real request makes) for each primitive this Python has, in interleaved
rounds (a noisy neighbour slows all alike), and prints the median µs per
call beside the same loop with no deadline:

- ``asyncio.timeout``: the standard library's (3.11+);
- ``async_timeout``: its backport, which aiohttp installs on 3.10;
- ``anyio.fail_after``: anyio's cancel scope with a deadline;
- ``deadline``: what the library uses on this Python.

Figures, not assertions. Run it on 3.10 too (``.ci/run``'s second
environment has everything).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from wriftai_async._timeouts import deadline

SECONDS = 60.0


def _contenders() -> dict[str, Callable[[], Any] | None]:
    found: dict[str, Callable[[], Any] | None] = {"no deadline": None}
    if sys.version_info >= (3, 11):
        found["asyncio.timeout"] = lambda: asyncio.timeout(SECONDS)
    with contextlib.suppress(ImportError):
        import async_timeout

        found["async_timeout"] = lambda: async_timeout.timeout(SECONDS)
    with contextlib.suppress(ImportError):
        import anyio

        found["anyio.fail_after"] = lambda: anyio.fail_after(SECONDS)
    found["deadline (the library's)"] = lambda: deadline(SECONDS)
    return found


async def _time(make: Callable[[], Any] | None, calls: int) -> float:
    """µs per call: ``calls`` times one loop trip inside the deadline."""
    sleep = asyncio.sleep
    started = time.perf_counter()
    if make is None:
        for _ in range(calls):
            await sleep(0)
    elif hasattr(make(), "__aenter__"):
        for _ in range(calls):
            async with make():
                await sleep(0)
    else:  # anyio's scopes are plain context managers
        for _ in range(calls):
            with make():
                await sleep(0)
    return (time.perf_counter() - started) / calls * 1e6


async def _main(calls: int, rounds: int) -> None:
    contenders = _contenders()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for make in contenders.values():  # warm-up
        await _time(make, calls // 10)
    for _ in range(rounds):
        for name, make in contenders.items():
            times[name].append(await _time(make, calls))
    base = statistics.median(times["no deadline"])
    print(f"Python {sys.version.split()[0]}, {calls} calls x {rounds} rounds")
    print(f"{'':26} {'µs/call':>8} {'added':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:26} {median:8.2f} {median - base:+8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(_main(args.calls, args.rounds))


if __name__ == "__main__":
    main()
