"""Every public call against every misbehaving server: only WriftAIErrors.

The promise under test (README, "Errors" and "Retries, timeouts and rate
limits"): whatever a server sends, a call raises a ``WriftAIError`` subclass
(or returns), holds memory bounded by ``max_response_size`` (measured with
tracemalloc), and ends within its ``timeout`` (an ``APITimeoutError``).
"""

from __future__ import annotations

import asyncio
import inspect
import tracemalloc

import anyio
import pytest

from wriftai_async import APITimeoutError, AsyncClient, WriftAIError

from . import hostile
from .conftest import FAST_RETRY
from .hostile import HostileServer, MiB
from .hostile_calls import CALLS

LIMIT = 1 * MiB
# Reading holds the chunks and their join (2x), plus aiohttp's buffers and
# the client itself; an unbounded read of the bombs below takes 64 MiB+.
MEMORY_BOUND = 10 * LIMIT

BEHAVIOURS = {
    "gzip bomb": hostile.compressed_bomb("gzip", 32 * MiB),
    "deflate bomb": hostile.compressed_bomb("deflate", 32 * MiB),
    "endless chunked body": hostile.endless_body(),
    "huge body": hostile.huge_body(),
    "deep nesting": hostile.deep_nesting(),
    "many values": hostile.many_values(LIMIT - 1024),
    "huge numbers": hostile.huge_numbers(),
    "not JSON": hostile.json_body(b"<html>oops</html>"),
    "cut body": hostile.cut_body(),
    "reset mid-body": hostile.cut_body(reset=True),
    "101": hostile.status_only(101),
    "301 without Location": hostile.status_only(301),
    "399": hostile.status_only(399),
    "redirect loop": hostile.redirect(302, "/again"),
    "error gzip bomb": hostile.compressed_bomb("gzip", 32 * MiB, status=503),
    "error huge body": hostile.huge_body(status=500),
    "error endless body": hostile.endless_body(status=503),
    "error deep nesting": hostile.json_body(b"[" * 50_000 + b"]" * 50_000, 500),
    "error many values": hostile.json_body(
        b"[" + b",".join([b"[]"] * (LIMIT // 3)) + b"]", 500
    ),
    "error cut body": hostile.cut_body(502),
    "error reset mid-body": hostile.cut_body(500, reset=True),
}
# aiohttp inflates br with the brotli package (in the test extra).
BEHAVIOURS["br bomb"] = hostile.compressed_bomb("br", 32 * MiB)

# Each of these takes the whole timeout, so all calls run at once.
SLOW_BEHAVIOURS = {
    "trickling body": hostile.trickle(),
    "trickling error body": hostile.trickle(status=503),
    "endless trickling error body": hostile.endless_body(
        status=500, pause=0.05, chunk=16
    ),
}


def _client(url: str, **kwargs) -> AsyncClient:
    kwargs.setdefault("timeout", 20.0)
    return AsyncClient(
        "tok-hostile-secret",
        url + "/v1",
        max_retries=1,
        retry=FAST_RETRY,
        max_response_size=LIMIT,
        **kwargs,
    )


@pytest.fixture
def traced():
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_every_call_raises_only_wriftai_errors_in_bounded_memory(
    behaviour, traced
):
    wrong = {}
    async with HostileServer(BEHAVIOURS[behaviour]) as server:
        async with _client(server.url) as client:
            for name, call in CALLS.items():
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
                try:
                    await call(client)
                except WriftAIError:
                    pass
                except BaseException as exc:
                    wrong[name] = repr(exc)[:200]
                peak = tracemalloc.get_traced_memory()[1] - base
                if peak > MEMORY_BOUND:
                    wrong[name] = f"peak memory {peak / MiB:.0f} MiB"
        assert server.requests, "the server was never asked"
    assert wrong == {}


@pytest.mark.parametrize("behaviour", SLOW_BEHAVIOURS)
async def test_every_call_ends_within_its_timeout(behaviour, traced):
    # create(wait=True) gives its request the wait's timeout + 30 s by design
    # (the server holds the answer while it waits); it is bounded, but long.
    calls = {n: c for n, c in CALLS.items() if n != "predictions.create(wait)"}
    base = tracemalloc.get_traced_memory()[0]
    async with HostileServer(SLOW_BEHAVIOURS[behaviour]) as server:
        async with _client(server.url, timeout=1.0) as client:

            async def outcome(call):
                try:
                    await call(client)
                except BaseException as exc:
                    return exc
                return None

            # The hard bound is generous: calls must end by their own timeout.
            with anyio.fail_after(45):
                results = await asyncio.gather(*(outcome(c) for c in calls.values()))
        peak = tracemalloc.get_traced_memory()[1] - base
    outcomes = dict(zip(calls, results, strict=True))
    assert {n: r for n, r in outcomes.items() if not isinstance(r, WriftAIError)} == {}
    # A listing or get of a trickling answer can only end by its timeout.
    for name in ("request", "models.get", "users.list", "predictions.create"):
        assert isinstance(outcomes[name], APITimeoutError), name
    assert peak < len(calls) * 2 * MiB  # one connection and its buffers each


def test_every_public_call_is_listed():
    """The table covers every public network method of every resource."""
    client = AsyncClient("t", "http://127.0.0.1:9/v1")
    listed = {name.split("(")[0] for name in CALLS}
    missing = []
    for attr, resource in vars(client).items():
        if attr == "session":
            continue
        for method, _ in inspect.getmembers(type(resource), inspect.isfunction):
            if not method.startswith("_") and f"{attr}.{method}" not in listed:
                missing.append(f"{attr}.{method}")
    assert missing == []
