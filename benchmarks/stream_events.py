"""Time per event of a prediction's stream, and the memory it holds.

    python benchmarks/stream_events.py [--events N] [--memory-events M]

A local server (127.0.0.1, same process) sends one stream of ``N`` events
(``id: 1`` .. ``id: N``, ``event: output``, a small JSON string each, then
``done``), prebuilt, in 64 KiB writes. Each contender reads the whole stream;
the table prints µs per event (median of interleaved rounds) side by side:

- ``raw aiohttp + our SSE parser``: ``aiohttp`` reads, ``_sse.SSEDecoder``
  splits, ``orjson`` decodes each event's data: the floor for our client;
- ``raw aiohttp + official parser``: the same read, the official ``wriftai``
  0.34 client's own ``SSEDecoder`` (imported from the installed package,
  ``json.loads`` inside);
- ``official client async_stream``: the official client end to end (httpx);
- ``AsyncClient.predictions.stream``: ours end to end (resume bookkeeping,
  exactly-once filter, bounded decode, ``StreamEvent`` objects);
- ``Client.predictions.stream``: the sync facade (a thread hop per event),
  on a tenth of the events.

Then the memory of our client over ``M`` events (1,000,000 by default) under
``tracemalloc`` (the server's prebuilt body is allocated before it starts):
what is held at 10 % and at 90 % of the stream, and the peak, for integer
ids (the service's) and for other ids (a bounded window of digests): flat,
whatever ``M``.

Figures, not assertions; the machine's load moves them all alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from wriftai_async import AsyncClient, Client
from wriftai_async._sse import SSEDecoder

CHUNK = 64 * 1024


def build_body(n: int, integer_ids: bool = True) -> bytes:
    parts = []
    for i in range(1, n):
        event_id = i if integer_ids else f"evt-{i:09d}"
        parts.append(f'id: {event_id}\nevent: output\ndata: "tok{i % 10}"\n\n')
    last = n if integer_ids else f"evt-{n:09d}"
    parts.append(f'id: {last}\nevent: done\ndata: {{"status": "succeeded"}}\n\n')
    return "".join(parts).encode()


class StreamServer:
    """Serves ``body`` as the event stream of any prediction."""

    def __init__(self) -> None:
        self.body = b""

    async def stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        view = memoryview(self.body)
        for start in range(0, len(view), CHUNK):
            await response.write(view[start : start + CHUNK])
        await response.write_eof()
        return response


async def raw_ours(url: str) -> int:
    count = 0
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        decoder = SSEDecoder()
        async for chunk in response.content.iter_any():
            for message in decoder.feed(chunk):
                orjson.loads(message.raw)
                count += 1
    return count


async def raw_official(url: str) -> int:
    from wriftai._sse import SSEDecoder as OfficialDecoder

    count = 0
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        decoder = OfficialDecoder()
        async for chunk in response.content.iter_any():
            count += len(decoder.feed(chunk))
    return count


async def official_client(base: str) -> int:
    import wriftai

    client = wriftai.Client(api_base_url=base, access_token="t")
    return sum([1 async for _ in client.predictions.async_stream("p1")])


async def ours(base: str) -> int:
    async with AsyncClient("t", base) as client:
        return sum([1 async for _ in client.predictions.stream("p1")])


def ours_sync(base: str) -> int:
    with Client("t", base) as client:
        return sum(1 for _ in client.predictions.stream("p1"))


async def timed(fn: Callable[[], Awaitable[int]], expected: int) -> float:
    started = time.perf_counter()
    count = await fn()
    elapsed = time.perf_counter() - started
    if count != expected:
        raise SystemExit(f"{fn}: {count} events, expected {expected}")
    return elapsed / count * 1e6


async def speed(server: StreamServer, base: str, events: int, rounds: int) -> None:
    url = base + "/predictions/p1/stream"
    contenders: dict[str, Callable[[], Awaitable[int]]] = {
        "raw aiohttp + our SSE parser": lambda: raw_ours(url),
        "raw aiohttp + official parser": lambda: raw_official(url),
        "official client async_stream": lambda: official_client(base),
        "AsyncClient.predictions.stream": lambda: ours(base),
    }
    try:
        import wriftai  # noqa: F401
    except ImportError:
        for name in ("raw aiohttp + official parser", "official client async_stream"):
            contenders.pop(name)
            print(f"{name}: not installed (pip install -r benchmarks/requirements.txt)")
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    sync_samples: list[float] = []
    for _ in range(rounds):
        server.body = build_body(events)
        for name, fn in contenders.items():
            samples[name].append(await timed(fn, events))
        server.body = build_body(events // 10)
        started = time.perf_counter()
        count = await asyncio.to_thread(ours_sync, base)
        assert count == events // 10
        sync_samples.append((time.perf_counter() - started) / count * 1e6)
    floor = statistics.median(samples["raw aiohttp + our SSE parser"])
    print(f"\n{events:,} events, median of {rounds} interleaved rounds:")
    print(f"{'contender':<34} {'µs/event':>9} {'vs floor':>9}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<34} {median:>9.2f} {median / floor:>8.2f}x")
    median = statistics.median(sync_samples)
    print(
        f"{'Client.predictions.stream (sync)':<34} {median:>9.2f} "
        f"{median / floor:>8.2f}x  ({events // 10:,} events)"
    )


async def memory(server: StreamServer, base: str, events: int) -> None:
    print(f"\nmemory of AsyncClient.predictions.stream over {events:,} events:")
    for integer_ids in (True, False):
        server.body = build_body(events, integer_ids)
        async with AsyncClient("t", base) as client:
            stream = client.predictions.stream("p1")
            tracemalloc.start()
            count = early = late = 0
            started = time.perf_counter()
            async for _ in stream:
                count += 1
                if count == events // 10:
                    early = tracemalloc.get_traced_memory()[0]
                elif count == events - events // 10:
                    late = tracemalloc.get_traced_memory()[0]
            peak = tracemalloc.get_traced_memory()[1]
            elapsed = time.perf_counter() - started
            tracemalloc.stop()
        kind = "integer ids" if integer_ids else "other ids  "
        print(
            f"  {kind}: held at 10 %: {early / 1024:,.0f} KiB, at 90 %: "
            f"{late / 1024:,.0f} KiB (growth {(late - early) / 1024:+,.0f} KiB), "
            f"peak {peak / 1024:,.0f} KiB; {elapsed:.1f} s under tracemalloc"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-events", type=int, default=1_000_000)
    args = parser.parse_args()
    server = StreamServer()
    app = web.Application()
    app.router.add_get("/v1/predictions/{id}/stream", server.stream)
    async with TestServer(app, host="127.0.0.1") as test_server:
        base = str(test_server.make_url("/v1"))
        await speed(server, base, args.events, args.rounds)
        if args.memory_events:
            await memory(server, base, args.memory_events)


if __name__ == "__main__":
    asyncio.run(main())
