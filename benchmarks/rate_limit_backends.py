"""How the rate-limit store was chosen: limiters on one Redis, side by side.

    pip install -r benchmarks/requirements.txt   # limits, pyrate-limiter
    python benchmarks/rate_limit_backends.py [--rate 400] [--seconds 3]

Contenders, each with redis-py's asyncio client underneath:

- ``redis.asyncio``: one ``EVALSHA`` of this project's schedule script per
  permit, no batching: the floor of a round trip per request;
- ``RedisLimiter``: this project's limiter (``_redis_limit.py``): slots from
  the same script, one round trip for all the requests waiting in a
  process, plus a lease for requests coming one after another;
- ``limits``: ``MovingWindowRateLimiter`` on its Redis storage: ``hit()``
  answers yes or no; a refused caller asks ``get_window_stats()`` when the
  window moves and sleeps until then (the documented way to wait);
- ``pyrate-limiter``: ``Limiter`` on a ``RedisBucket``,
  ``try_acquire_async(blocking=True)`` (it sleeps and retries by itself).

Two measurements per contender:

1. **one caller**, far below the rate: client CPU per permit (what every
   request would pay);
2. **a fleet**: ``--processes`` processes with ``--callers`` callers each,
   all wanting permits, ``--rate`` per second shared: permits granted per
   second, the most granted in any one second (above the rate is a broken
   limit), round trips to Redis per permit (counted in redis-py) and client
   CPU per permit.

A contender whose package is missing is reported as "not installed".
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis

from wriftai_async._redis_limit import ACQUIRE, RedisLimiter
from wriftai_async.testing import RedisServer

CONTENDERS = ("redis.asyncio", "RedisLimiter", "limits", "pyrate-limiter")
NEEDS = {"limits": "limits", "pyrate-limiter": "pyrate_limiter"}

Acquire = Callable[[], Awaitable[None]]


async def _make(name: str, url: str, rate: float, key: str) -> tuple[Acquire, Any]:
    """The contender's "wait for one permit", and what to close after."""
    if name == "redis.asyncio":
        client = aredis.Redis.from_url(url)
        script = client.register_script(ACQUIRE)
        interval = round(1e6 / rate)
        keys = [f"{key}:s", f"{key}:h"]

        async def raw() -> None:
            while True:
                granted, delay, hold = await script(
                    keys=keys, args=[1, interval, 1_000_000, 60_000]
                )
                if granted:
                    await asyncio.sleep(delay / 1e6)
                    return
                await asyncio.sleep(max(delay / 1e6, hold / 1e3, 0.001))

        return raw, client
    if name == "RedisLimiter":
        limiter = RedisLimiter(url, key, rate, max_hold=60.0)
        return limiter.acquire, limiter
    if name == "limits":
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        storage = RedisStorage(
            url.replace("redis://", "async+redis://"), implementation="redispy"
        )
        moving = MovingWindowRateLimiter(storage)
        item = RateLimitItemPerSecond(int(rate))

        async def hit() -> None:
            while not await moving.hit(item, key):
                stats = await moving.get_window_stats(item, key)
                await asyncio.sleep(max(0.001, stats.reset_time - time.time()))

        return hit, None
    if name == "pyrate-limiter":
        from pyrate_limiter import Duration, Limiter, Rate
        from pyrate_limiter.buckets import RedisBucket

        client = aredis.Redis.from_url(url)
        bucket = await RedisBucket.init([Rate(int(rate), Duration.SECOND)], client, key)
        limiter = Limiter(bucket)

        async def take() -> None:
            await limiter.try_acquire_async(key, blocking=True)

        return take, client
    raise ValueError(name)


async def _close(thing: Any) -> None:
    if thing is not None:
        await thing.aclose()


_ROUND_TRIPS = [0]


def _count_round_trips() -> None:
    """Count what redis-py sends (one packed send: one round trip)."""
    from redis.asyncio.connection import Connection

    send = Connection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        _ROUND_TRIPS[0] += 1
        await send(self, command, check_health)

    Connection.send_packed_command = counted  # type: ignore[method-assign]


async def _one_caller(name: str, url: str, permits: int) -> float:
    """Client CPU µs per permit, one caller, the rate far above its pace."""
    acquire, thing = await _make(name, url, 1_000_000.0, f"one:{name}")
    for _ in range(50):
        await acquire()
    cpu = time.process_time()
    for _ in range(permits):
        await acquire()
    cpu = time.process_time() - cpu
    await _close(thing)
    return cpu / permits * 1e6


async def _fleet_member(spec: dict[str, Any]) -> dict[str, Any]:
    acquire, thing = await _make(
        spec["name"], spec["url"], spec["rate"], f"fleet:{spec['name']}"
    )
    print("ready", flush=True)
    start = float(await asyncio.to_thread(sys.stdin.readline))
    granted: list[float] = []
    end = start + spec["seconds"]
    await asyncio.sleep(max(0.0, start - time.time()))
    cpu = time.process_time()

    async def caller() -> None:
        while time.time() < end:
            await acquire()
            granted.append(time.time())

    trips = _ROUND_TRIPS[0]
    await asyncio.gather(*(caller() for _ in range(spec["callers"])))
    cpu = time.process_time() - cpu
    trips = _ROUND_TRIPS[0] - trips
    await _close(thing)
    return {"granted": granted, "cpu": cpu, "round_trips": trips}


def _most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    most = first = 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _fleet(name: str, url: str, args: argparse.Namespace) -> dict[str, float]:
    spec = {
        "name": name,
        "url": url,
        "rate": args.rate,
        "callers": args.callers,
        "seconds": args.seconds,
    }
    members = [
        subprocess.Popen(
            [sys.executable, __file__, "--member", json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(args.processes)
    ]
    for member in members:  # every one started, then all at once
        assert member.stdout is not None
        assert member.stdout.readline().strip() == "ready"
    start = time.time() + 0.2
    for member in members:
        assert member.stdin is not None
        member.stdin.write(f"{start}\n")
        member.stdin.close()
    rows = []
    for member in members:
        assert member.stdout is not None
        rows.append(json.loads(member.stdout.read()))
        member.wait(timeout=120)
    granted = [t for row in rows for t in row["granted"]]
    inside = [t for t in granted if t < start + args.seconds]
    return {
        "per_s": len(inside) / args.seconds,
        "most": _most_in_one_second(granted),
        "round_trips": sum(r["round_trips"] for r in rows) / max(1, len(granted)),
        "cpu": sum(r["cpu"] for r in rows) / max(1, len(granted)) * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--member", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--permits", type=int, default=3000, help="one caller")
    args = parser.parse_args()
    if args.member:
        _count_round_trips()
        print(json.dumps(asyncio.run(_fleet_member(json.loads(args.member)))))
        return 0
    print(
        f"one caller: client CPU µs per permit ({args.permits} permits); a fleet: "
        f"{args.processes} processes x {args.callers} callers, {args.rate:g}/s "
        f"shared, {args.seconds:g} s"
    )
    print(
        f"{'contender':<15} {'1 caller µs':>11} {'fleet /s':>9} {'most in 1 s':>11} "
        f"{'trips/permit':>11} {'fleet µs':>9}"
    )
    with RedisServer() as server:
        for name in CONTENDERS:
            module = NEEDS.get(name)
            if module and importlib.util.find_spec(module) is None:
                print(f"{name:<15} not installed ({module})")
                continue
            one = asyncio.run(_one_caller(name, server.url, args.permits))
            fleet = _fleet(name, server.url, args)
            trips = fleet["round_trips"]
            print(
                f"{name:<15} {one:>11.1f} {fleet['per_s']:>9.0f} "
                f"{fleet['most']:>11} {trips:>11.2f} {fleet['cpu']:>9.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
