"""What a rate-limit store costs the client, in CPU per request.

    python benchmarks/rate_limit_cost.py [--requests 3000] [--rounds 5]

Starts a ``redis-server`` (``wriftai_async.testing.RedisServer``) and the
emulator in a process of its own (so that only the client's CPU is counted
here), then times ``models.get`` calls with ``time.process_time()`` for each
variant below, in interleaved rounds (a noisy neighbour slows all alike), at
concurrency 1 and 16:

- ``baseline``: no ``rate_limit``, no store (today's client);
- ``local``: ``rate_limit`` set (far above what is reached) without a store;
- ``holds``: ``rate_limit_store`` only: 429 resets shared, no round trip per
  request (they arrive by publish/subscribe);
- ``store``: ``rate_limit_store`` and a ``rate_limit`` far above what is
  reached: one round trip to Redis for each group of requests waiting at
  the same time;
- ``local@N`` and ``store@N``: a ``rate_limit`` that binds, without and with
  the store (requests queue, so more of them share each round trip; the
  pacing itself costs CPU too, hence ``local@N`` to compare with).

Prints the median µs of client CPU per request and the difference to the
baseline of the same run; for ``store@N`` the baseline is ``local@N``, the
same rate paced in-process, because a client sending 500 requests a second
spends more CPU per request than one sending 5,000 (its loop wakes for each
one) whether or not anything paces it. Target: <= 100 µs added per request.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time
from typing import Any

from wriftai_async import AsyncClient
from wriftai_async.testing import RedisServer

_URL = re.compile(r"serving at (http://\S+/v1)")


async def _measure(
    base_url: str, token: str, options: dict[str, Any], requests: int, concurrency: int
) -> tuple[float, float]:
    """CPU µs per request and requests per second, after a warm-up."""
    async with AsyncClient(token, base_url, **options) as client:
        for _ in range(20):  # connections, the script loaded, the subscription
            await client.models.get("alice/text-echo")
        left = requests

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await client.models.get("alice/text-echo")

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / requests * 1e6, requests / wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--binding", type=float, default=500.0, help="store@N's N")
    args = parser.parse_args()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "wriftai_async.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        lines = [emulator.stdout.readline() for _ in range(3)]
        found = _URL.search(lines[0])
        if not found:
            raise RuntimeError(f"the emulator did not start: {lines!r}")
        base_url, token = found.group(1), lines[2].strip().rpartition("=")[2]
        with RedisServer() as redis:
            unreached = 1_000_000.0
            variants: dict[str, dict[str, Any]] = {
                "baseline": {},
                "local": {"rate_limit": unreached},
                "holds": {"rate_limit_store": redis.url},
                "store": {"rate_limit_store": redis.url, "rate_limit": unreached},
                f"local@{args.binding:g}": {"rate_limit": args.binding},
                f"store@{args.binding:g}": {
                    "rate_limit_store": redis.url,
                    "rate_limit": args.binding,
                },
            }
            print(
                f"client CPU per request (µs, median of {args.rounds} rounds of "
                f"{args.requests} models.get), local Redis and emulator"
            )
            for concurrency in (1, 16):
                cpu: dict[str, list[float]] = {name: [] for name in variants}
                rate: dict[str, list[float]] = {name: [] for name in variants}
                for _ in range(args.rounds):
                    for name, options in variants.items():
                        # A binding rate takes requests/N seconds: fewer.
                        n = args.requests
                        if "@" in name:
                            n = min(n, int(args.binding * 2))
                        us, per_s = asyncio.run(
                            _measure(base_url, token, options, n, concurrency)
                        )
                        cpu[name].append(us)
                        rate[name].append(per_s)
                base = statistics.median(cpu["baseline"])
                print(f"\nconcurrency {concurrency}")
                print(
                    f"{'variant':<12} {'CPU µs/req':>11} {'+ vs base':>10} {'req/s':>8}"
                )
                for name in variants:
                    mid = statistics.median(cpu[name])
                    # A binding rate is compared with the same rate, paced
                    # in-process: fewer requests per second cost more each
                    # (the loop wakes for every one), with or without a store.
                    if name.startswith("store@"):
                        base = statistics.median(cpu["local" + name[5:]])
                    print(
                        f"{name:<12} {mid:>11.1f} {mid - base:>+10.1f} "
                        f"{statistics.median(rate[name]):>8.0f}"
                    )
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
