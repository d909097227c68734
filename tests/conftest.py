"""Fixtures shared by the wire tests: a real emulator and both clients.

The emulator runs on its own thread so that the sync ``Client`` (which blocks
the calling thread) and the ``AsyncClient`` can be driven by the same tests.
"""

from __future__ import annotations

import inspect
import os
import signal
import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from wriftai_async import AsyncClient, Client, RetryPolicy
from wriftai_async.testing import Emulator

# Property tests: a fast profile for every run; HYPOTHESIS_PROFILE=thorough
# for a deeper search before a release.
settings.register_profile(
    "fast", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))

# The client honours the proxy variables, as httpx does: a developer's or a
# CI runner's HTTP_PROXY must not send the suite's loopback traffic to a
# proxy. Gone for this process and every subprocess it starts; the proxy
# tests set their own.
for _name in list(os.environ):
    if _name.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        del os.environ[_name]

# A suite started as a shell's background job (`pytest ... &`, as
# scripts/stress does) inherits SIGINT ignored, and so would every process
# it starts: the tests that press Ctrl-C on a real `wriftai-async` process
# would then wait on a signal it never sees. A handler here (reset to the
# default by exec) gives every subprocess a terminal's Ctrl-C.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # an int, not the enum
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """What ``-n auto`` (pyproject's addopts) means here: 1.5 workers a core.

    The tests wait on sockets, servers and timeouts more than they compute:
    with one worker per core the suite kept the two cores of a CI machine
    about 60% busy (151 s of CPU in 128 s). Three workers on two cores
    measured 91 s, four 99 s (2026-12-04, 2,469 tests). ``--maxprocesses``
    still caps it, and ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still overrides it.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores * 3 // 2)


# Retries in tests must not sleep for real.
FAST_RETRY = RetryPolicy(backoff_base=0.001, backoff_max=0.005, max_rate_limit_wait=5.0)

CLIENT_KINDS = ["async", "sync"]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(cancel_delay=0.05, prediction_duration=0.3).run_in_thread() as emu:
        yield emu


def make_client(kind: str, emu: Emulator, **kwargs: Any) -> Any:
    kwargs.setdefault("retry", FAST_RETRY)
    cls = AsyncClient if kind == "async" else Client
    return cls(emu.access_token, emu.base_url, **kwargs)


async def close_client(client: Any) -> None:
    """Close an ``AsyncClient`` (awaited) or a sync ``Client``."""
    if isinstance(client, AsyncClient):
        await client.aclose()
    else:
        client.close()


def everything_about(error: BaseException) -> list[str]:
    """What a program could print of an error: its text, repr, whole chain."""
    texts = ["".join(traceback.format_exception(error)), str(error), repr(error)]
    seen: BaseException | None = error
    while (seen := seen.__cause__ or seen.__context__) is not None:
        texts += [str(seen), repr(seen), repr(getattr(seen, "args", ()))]
    return texts


@pytest.fixture(params=CLIENT_KINDS)
async def client(
    request: pytest.FixtureRequest, emulator: Emulator
) -> AsyncIterator[Any]:
    """An ``AsyncClient`` or a sync ``Client``: tests call through :func:`resolve`."""
    c = make_client(request.param, emulator)
    try:
        yield c
    finally:
        if request.param == "async":
            await c.aclose()
        else:
            c.close()


async def resolve(value: Any) -> Any:
    """The result of a call on either client (awaits it for the async one)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def collect(iterator: Any) -> list[Any]:
    """Every item of a listing iterator of either client."""
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


def new_prediction(emu: Emulator, **kwargs: Any) -> str:
    """Add a prediction (``status="started"`` unless given) and return its id."""
    try:
        emu.get_model("tess", "runner")
    except KeyError:
        emu.add_model("tess", "runner", versions=1)
    kwargs.setdefault("status", "started")
    return str(emu.add_prediction("tess/runner", **kwargs)["id"])


# -- the rate-limit store's tests (redis is imported only when one asks) -------


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Any]:
    """A real ``redis-server`` on loopback, one per test module."""
    from wriftai_async.testing import RedisServer

    with RedisServer() as server:
        yield server


@pytest.fixture
async def store(redis_server: Any) -> AsyncIterator[Any]:
    """A plain redis client on the test server, emptied before each test."""
    import redis.asyncio as aredis

    plain = aredis.Redis.from_url(redis_server.url)
    await plain.flushdb()
    yield plain
    await plain.aclose()


@pytest.fixture
def quick_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's probe and operation timeout shrunk for a test's pace."""
    from wriftai_async._redis_limit import RedisLimiter

    monkeypatch.setattr(RedisLimiter, "PROBE_EVERY", 0.05)
    monkeypatch.setattr(RedisLimiter, "OP_TIMEOUT", 0.5)
