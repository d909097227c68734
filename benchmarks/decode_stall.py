"""How long a large JSON answer holds the event loop, read and decoded.

Serves bodies of a few shapes from a local server (127.0.0.1), fetches each
with ``AsyncClient.request`` while a ticker measures the longest stall of the
loop, and prints the call's time, the decode alone and the stall::

    python benchmarks/decode_stall.py

Bodies past ``max_response_size // 64`` JSON values are refused before
decoding (``ResponseDecodeError``); the others show the worst decode allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import hostile
from wriftai_async import AsyncClient, WriftAIError, _json

LIMIT = 64 * 1024 * 1024
MI = 1024 * 1024


def _array(item: bytes, count: int) -> bytes:
    return b"[" + b",".join([item] * count) + b"]"


BODIES = {
    "[] x 19 Mi (57 MiB, refused)": lambda: _array(b"[]", 19 * MI),
    "[] x 2 Mi (refused)": lambda: _array(b"[]", 2 * MI),
    "[] x 512 Ki (just under the cap)": lambda: _array(b"[]", MI // 2 - 10),
    "{} x 512 Ki (just under the cap)": lambda: _array(b"{}", MI // 2 - 10),
    "1.5 x 1 Mi (just under the cap)": lambda: _array(b"1.5", MI - 10),
    "60 MiB of 1 KB strings": lambda: orjson.dumps(["x" * 1000] * 60000),
}


async def measure(name: str, body: bytes) -> None:
    async with (
        hostile.HostileServer(hostile.json_body(body)) as server,
        AsyncClient("t", server.url + "/v1", timeout=120) as client,
    ):
        stalls: list[float] = []

        async def ticker() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.001)
                stalls.append(time.perf_counter() - started)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        try:
            await client.request("GET", "/body")
            outcome = "decoded"
        except WriftAIError as exc:
            outcome = type(exc).__name__
        call = time.perf_counter() - started
        await asyncio.sleep(0.01)  # the ticker records a stall on waking
        task.cancel()
    started = time.perf_counter()
    with contextlib.suppress(ValueError):
        _json.loads_bounded(body, LIMIT // 64)
    decode = time.perf_counter() - started
    print(
        f"{name}: {len(body) / MI:.1f} MiB, {outcome}, call {call:.2f} s, "
        f"decode alone {decode:.2f} s, longest loop stall {max(stalls):.2f} s"
    )


async def main() -> None:
    for name, make in BODIES.items():
        await measure(name, make())


if __name__ == "__main__":
    asyncio.run(main())
