"""What the sync facade costs per call, against the thread-based emulator.

    python benchmarks/sync_overhead.py [--calls N] [--rounds R]

Prints medians in µs per call:

- ``client.predictions.get`` through the sync ``Client`` versus the same call
  awaited on an ``AsyncClient`` whose loop is already running (the extra is
  the price of the portal: a thread hop each way);
- the same call made with ``asyncio.run`` per call, the naive way to call
  async code from sync code (a new loop, session and connection every time);
- the portal choice: ``wriftai_async._portal.Portal``, a bare loop thread fed
  with ``asyncio.run_coroutine_threadsafe`` and anyio's
  ``start_blocking_portal()``, for a no-op coroutine and for the call.

The variants run in small interleaved batches, so that a noisy neighbour on
the machine (or a CPU changing speed) slows all of them alike. The server
shares this process (and its GIL), as it does in the test suite. Figures, not
assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from wriftai_async import AsyncClient, Client
from wriftai_async._portal import Portal
from wriftai_async.testing import SEED_PREDICTIONS, Emulator

PID = SEED_PREDICTIONS["succeeded"]
T = TypeVar("T")


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


async def atimed(fn: Callable[[], Awaitable[object]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return samples


async def noop() -> None:
    return None


class WarmLoop:
    """An AsyncClient on a running loop in its own thread, timed from inside."""

    def __init__(self, emu: Emulator) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = AsyncClient(emu.access_token, emu.base_url)

    def measure(self, n: int) -> list[float]:
        # Timing happens inside the loop: no thread hop is counted.
        coro = atimed(lambda: self.client.predictions.get(PID), n)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> T:
        """The bare loop-thread portal: ``run_coroutine_threadsafe``."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.submit(self.client.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def run_per_call(emu: Emulator) -> None:
    async def once() -> None:
        async with AsyncClient(emu.access_token, emu.base_url) as client:
            await client.predictions.get(PID)

    asyncio.run(once())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=5000, help="per variant")
    parser.add_argument("--batch", type=int, default=50, help="calls per batch")
    args = parser.parse_args()
    n, rounds = args.batch, max(args.calls // args.batch, 1)
    results: dict[str, list[float]] = {}

    def add(name: str, samples: list[float]) -> None:
        results.setdefault(name, []).extend(samples)

    with Emulator().run_in_thread() as emu, start_blocking_portal() as anyio_portal:
        warm = WarmLoop(emu)
        client = Client(emu.access_token, emu.base_url)
        bare = Portal(owner="benchmark")
        anyio_client = AsyncClient(emu.access_token, emu.base_url)
        variants: dict[str, Callable[[], list[float]]] = {
            "async, warm loop": lambda: warm.measure(n),
            "sync Client": lambda: timed(lambda: client.predictions.get(PID), n),
            "asyncio.run per call": lambda: timed(
                lambda: run_per_call(emu), max(n // 10, 1)
            ),
            "portal: ours, no-op": lambda: timed(lambda: bare.call(noop), n),
            "portal: rcts, no-op": lambda: timed(lambda: warm.submit(noop()), n),
            "portal: anyio, no-op": lambda: timed(lambda: anyio_portal.call(noop), n),
            "portal: rcts, get": lambda: timed(
                lambda: warm.submit(warm.client.predictions.get(PID)), n
            ),
            "portal: anyio, get": lambda: timed(
                lambda: anyio_call(anyio_portal, anyio_client), n
            ),
        }
        for measure in variants.values():  # warm-up: threads, connections
            measure()
        started = time.perf_counter()
        for _ in range(rounds):
            for name, measure in variants.items():
                add(name, measure())
        elapsed = time.perf_counter() - started
        anyio_portal.call(anyio_client.aclose)
        bare.close()
        client.close()
        warm.close()

    med = {name: statistics.median(s) * 1e6 for name, s in results.items()}
    base = med["async, warm loop"]
    print(f"{rounds} rounds of {n} calls ({elapsed:.1f} s); medians, µs per call\n")
    print(f"  async on a warm loop      {base:8.0f}")
    for name in ("sync Client", "asyncio.run per call"):
        print(f"  {name:<25} {med[name]:8.0f}   (+{med[name] - base:.0f} over async)")
    print("\nportal choice        Portal   bare loop thread   anyio portal")
    for what in ("no-op", "get"):
        ours = med["sync Client" if what == "get" else f"portal: ours, {what}"]
        bare_, anyio_ = med[f"portal: rcts, {what}"], med[f"portal: anyio, {what}"]
        print(f"  {what:<17} {ours:8.0f}   {bare_:16.0f}   {anyio_:12.0f}")
    print("  (bare loop thread: asyncio.run_coroutine_threadsafe(...).result())")


def anyio_call(portal: BlockingPortal, client: AsyncClient) -> Any:
    return portal.call(client.predictions.get, PID)


if __name__ == "__main__":
    main()
