"""``rate_limit=N`` without a store, the options' checks, and the imports.

The store itself (Redis) is tested in ``test_rate_limit_store.py`` and, as
a fleet of processes, in ``test_fleet.py``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest

from wriftai_async import APITimeoutError, AsyncClient, Client, RateLimitError
from wriftai_async._cli import main as cli
from wriftai_async._rate_limit import ENV_STORE, Pacer, make_limiter, store_key
from wriftai_async.testing import Emulator


def _most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


async def test_a_pacer_releases_in_order_at_most_n_in_any_second() -> None:
    pacer = Pacer(50)
    released: list[tuple[int, float]] = []

    async def take(i: int) -> None:
        await pacer.acquire()
        released.append((i, time.monotonic()))

    tasks = []
    for i in range(60):
        tasks.append(asyncio.create_task(take(i)))
        await asyncio.sleep(0)  # queued in this order
    await asyncio.gather(*tasks)
    await pacer.aclose()
    assert [i for i, _ in released] == list(range(60))  # first come, first served
    # 50 a second, even when a slot is taken up to Pacer.GRACE late.
    assert _most_in_one_second([at for _, at in released]) <= 50


async def test_a_hold_delays_every_request_and_a_cancelled_wait_leaves() -> None:
    pacer = Pacer(None)  # holds only
    await pacer.acquire()  # nothing holds it: at once
    pacer.report_reset(0.3)
    started = time.monotonic()
    waiter = asyncio.create_task(pacer.acquire())
    cancelled = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0.05)
    cancelled.cancel()
    await waiter
    assert time.monotonic() - started >= 0.29
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await pacer.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        pacer.report_reset(1.0)  # held: the next acquire must queue
        await pacer.acquire()


async def test_rate_limit_keeps_a_client_inside_the_servers_budget() -> None:
    async with Emulator(budget=30, record_requests=False) as emu:
        paced = AsyncClient(emu.access_token, emu.base_url, rate_limit=25)
        async with paced:
            await asyncio.gather(*(paced.user.get() for _ in range(26)))
        assert emu.budget is not None
        assert emu.budget.accepted == 26 and emu.budget.refused == 0
        # The same calls unpaced all go at once: past 30 in one second.
        emu.budget.reset_counts()
        free = AsyncClient(emu.access_token, emu.base_url, max_retries=0)
        async with free:
            calls = (free.user.get() for _ in range(40))
            results = await asyncio.gather(*calls, return_exceptions=True)
        assert emu.budget.refused > 0
        assert sum(isinstance(r, RateLimitError) for r in results) > 0


async def test_a_call_waiting_for_its_turn_keeps_its_deadline() -> None:
    async with Emulator() as emu:
        client = AsyncClient(emu.access_token, emu.base_url, rate_limit=0.5)
        async with client:
            await client.user.get()  # the first goes at once
            with pytest.raises(APITimeoutError):
                await client.request("GET", "/user", timeout=0.2)  # next: in 2 s


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-5, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (True, TypeError),
        ("10", TypeError),
    ],
)
@pytest.mark.parametrize("cls", [AsyncClient, Client])
def test_a_bad_rate_limit_is_refused_at_once(
    cls: type, value: object, error: type
) -> None:
    with pytest.raises(error, match="rate_limit"):
        cls("t", "http://127.0.0.1:9/v1", rate_limit=value)


@pytest.mark.parametrize(
    ("store", "error", "words"),
    [
        ("", ValueError, "rate_limit_store is empty"),
        ("  ", ValueError, "rate_limit_store is empty"),
        ("http://127.0.0.1:6379", ValueError, "redis://"),
        ("127.0.0.1:6379", ValueError, "redis://"),
        (6379, TypeError, "redis://"),
    ],
)
def test_a_bad_store_is_refused_at_once(store: object, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit_store=store)  # type: ignore[arg-type]


def test_the_store_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_STORE, "redis://127.0.0.1:9/0")
    limiter = make_limiter(None, None, token="t", origin="http://a", max_hold=5.0)
    assert type(limiter).__name__ == "RedisLimiter"
    assert repr(limiter) == "RedisLimiter('redis://127.0.0.1:9/0', rate=None)"
    # An argument wins over the variable; the variable is checked as well.
    monkeypatch.setenv(ENV_STORE, "not a url")
    store = "redis://127.0.0.1:9/1"
    assert AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit_store=store)
    with pytest.raises(ValueError, match=ENV_STORE):
        AsyncClient("t", "http://127.0.0.1:9/v1")
    # Set but empty is a mistake, never a silent "no store".
    monkeypatch.setenv(ENV_STORE, "")
    with pytest.raises(ValueError, match=f"{ENV_STORE} is empty"):
        AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit=5)


def test_without_the_redis_extra_a_store_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "wriftai_async._redis_limit", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis fails
    with pytest.raises(ImportError, match=r"pip install 'wriftai-async\[redis\]'"):
        AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit_store="redis://h/0")
    # Without a store nothing needs redis.
    assert AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit=3).session


def test_the_key_is_a_hash_of_token_and_origin() -> None:
    token = "wr-secret-token-value"
    key = store_key(token, "https://api.wrift.ai")
    assert len(key) == 32 and token not in key
    assert key == store_key(token, "https://api.wrift.ai")
    assert key != store_key(token, "https://staging.wrift.ai")
    assert key != store_key("another", "https://api.wrift.ai")


def test_nothing_of_redis_is_imported_without_a_store() -> None:
    script = """
import sys
from wriftai_async import AsyncClient, Client
from wriftai_async.testing import Emulator

with Emulator().run_in_thread() as emu:
    with Client(emu.access_token, emu.base_url) as client:
        client.user.get()
    with Client(emu.access_token, emu.base_url, rate_limit=100) as client:
        client.models.get("alice/text-echo")
print(sorted(m for m in sys.modules if m == "redis" or m.startswith("redis.")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},  # no WRIFTAI_RATE_LIMIT_STORE
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--rate-limit", "0", "must be a number of requests per second > 0"),
        ("--rate-limit", "lots", "must be a number of requests per second > 0"),
        ("--rate-limit-store", "http://127.0.0.1:1", "redis://"),
    ],
)
def test_the_command_line_refuses_bad_options(
    emulator: Emulator, option: str, value: str, words: str, capsys
) -> None:
    argv = ["models", "get", "alice/text-echo", "--base-url", emulator.base_url]
    assert cli([*argv, "--token", emulator.access_token, option, value]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_the_command_line_paces_with_rate_limit(emulator: Emulator, capsys) -> None:
    argv = ["models", "list", "alice", "--page-size", "1", "--rate-limit", "1000"]
    argv += ["--base-url", emulator.base_url, "--token", emulator.access_token]
    assert cli(argv) == 0
    assert "(0 failed)" in capsys.readouterr().err
