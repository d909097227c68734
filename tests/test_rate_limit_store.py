"""``rate_limit_store``: holds and the rate shared through a real Redis.

Every test here talks to a ``redis-server`` of its own on a free loopback
port (``RedisServer``: Debian's package, see the README's test set-up),
never to a mock. Several clients in one process stand for several
processes: each has its own limiter and its own connections; the fleet of
real processes is ``test_fleet.py``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aredis

from wriftai_async import APITimeoutError, AsyncClient, Client, RetryPolicy
from wriftai_async._rate_limit import store_key
from wriftai_async._redis_limit import ACQUIRE, HOLD, RedisLimiter
from wriftai_async.testing import Emulator, RedisServer

LOGGER = "wriftai_async.rate_limit"
RETRY = RetryPolicy(backoff_base=0.001, backoff_max=0.005, max_rate_limit_wait=5.0)


def _client(emu: Emulator, who: str = "", **options: Any) -> AsyncClient:
    headers = {"x-who": who} if who else None
    options.setdefault("retry", RETRY)
    return AsyncClient(emu.access_token, emu.base_url, headers=headers, **options)


def _limiter(client: AsyncClient) -> RedisLimiter:
    limiter = client.session.rate_limit
    assert isinstance(limiter, RedisLimiter)
    return limiter


async def _until(check: Callable[[], bool | Awaitable[bool]], within: float = 10.0):
    """Poll (bounded) for state another task or process brings about."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, "state not reached in time"
        await asyncio.sleep(0.01)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING
    ]


# -- the scripts ---------------------------------------------------------------


async def test_acquire_hands_out_consecutive_slots_within_the_horizon(
    store: aredis.Redis,
) -> None:
    acquire, keys = store.register_script(ACQUIRE), ["s", "h"]
    # Slots 100 ms apart, none starting 1 s or more ahead (µs); the calls
    # below take far less than 100 ms.
    args = [100_000, 1_000_000, 100]
    granted, first, hold = await acquire(keys=keys, args=[3, *args])
    assert (granted, first, hold) == (3, 0, 0)  # idle: the first slot is now
    granted, first, _ = await acquire(keys=keys, args=[20, *args])
    # The next free slot is 300 ms on; the 8th of these starts at 1 s.
    assert granted == 8 and 200_000 < first <= 300_000
    granted, wait, _ = await acquire(keys=keys, args=[1, *args])
    assert granted == 0 and 0 < wait <= 100_000  # ask again when there is room
    assert 1000 < await store.pttl("s") <= 1100 + 100  # idle, it expires
    await store.set("s", "not a number")  # another program's value: ignored
    assert (await acquire(keys=keys, args=[1, *args]))[:2] == [1, 0]


async def test_hold_never_shortens_and_the_schedule_restarts_after_it(
    store: aredis.Redis,
) -> None:
    acquire, hold = store.register_script(ACQUIRE), store.register_script(HOLD)
    keys = ["s", "h"]
    listener = store.pubsub()
    await listener.subscribe("ch")
    assert await hold(keys=keys, args=[300, "ch", 100]) == 1
    assert await hold(keys=keys, args=[100, "ch", 100]) == 0  # shorter: no
    granted, _, left = await acquire(keys=keys, args=[5, 1000, 1_000_000, 100])
    assert granted == 0 and 200 < left <= 300
    # Published for the hold that changed something (the first message).
    message = await listener.get_message(ignore_subscribe_messages=True, timeout=1)
    message = message or await listener.get_message(timeout=1)
    assert message is not None and message["data"] == b"300"
    await listener.aclose()
    await store.delete("h")  # the hold over: slots begin where it would end
    granted, first, _ = await acquire(keys=keys, args=[1, 1000, 1_000_000, 100])
    assert granted == 1 and first > 200_000


# -- shared holds and rate -------------------------------------------------------


@pytest.mark.parametrize("shared", [True, False], ids=["store", "no-store"])
async def test_a_429_holds_every_client_that_shares_the_store(
    redis_server: RedisServer, store: aredis.Redis, shared: bool
) -> None:
    url = redis_server.url if shared else None
    async with Emulator() as emu:
        a = _client(emu, "a", rate_limit_store=url)
        b = _client(emu, "b", rate_limit_store=url)
        async with a, b:
            await b.user.get()  # b runs (and listens) before a meets the 429
            reset = time.time() + 0.5
            offset = time.time() - time.monotonic()
            emu.inject(429, headers={"x-ratelimit-reset": f"{reset:.3f}"}, path="/user")
            a_call = asyncio.create_task(a.user.get())
            if shared:
                await _until(lambda: _limiter(b).remaining > 0)
            else:
                await _until(lambda: a.session.rate_limit.remaining > 0)
            await b.user.get()
            await a_call  # a waited for the reset, then got through
        b_sent = [r.received_at for r in emu.requests if r.headers.get("x-who") == "b"]
        if shared:  # nothing of b's before the reset
            assert b_sent[-1] + offset >= reset - 0.005
        else:  # today: b learns nothing from a's 429
            assert b_sent[-1] + offset < reset


async def test_clients_sharing_a_store_share_the_rate(
    redis_server: RedisServer, store: aredis.Redis
) -> None:
    async with Emulator(budget=30, record_requests=False) as emu:
        origin = emu.base_url.rsplit("/v1", 1)[0]
        options = {"rate_limit_store": redis_server.url, "rate_limit": 25}
        clients = [_client(emu, **options) for _ in range(3)]
        for client in clients:
            await client.session.request("GET", "/user")  # connected, listening
        assert emu.budget is not None
        emu.budget.reset_counts()
        calls = [c.user.get() for c in clients for _ in range(8)]
        await asyncio.gather(*calls)
        for client in clients:
            await client.aclose()
        # 24 calls from three clients, 25 a second for them all: no 429.
        assert emu.budget.accepted == 24 and emu.budget.refused == 0
    # Keys: a hash of the API's origin and the token, never the token; each
    # expires by itself.
    keys = [k.decode() for k in await store.keys("*")]
    key = store_key(emu.access_token, origin)
    assert keys and all(key in k and emu.access_token not in k for k in keys)
    assert all([await store.pttl(k) > 0 for k in keys])


def test_the_sync_client_takes_the_same_options(redis_server: RedisServer) -> None:
    with Emulator().run_in_thread() as emu:
        client = Client(
            emu.access_token,
            emu.base_url,
            rate_limit_store=redis_server.url,
            rate_limit=200,
        )
        with client:
            assert client.models.get("alice/text-echo").name == "text-echo"
            assert client.user.get().username == "alice"
        assert "test-token" not in repr(client)


# -- failures --------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_store_unreachable_at_start_warns_once_and_paces_locally(
    caplog: pytest.LogCaptureFixture, quick_probe: None
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    async with Emulator() as emu:
        for options in ({"rate_limit": 500.0}, {}):  # the rate and holds only
            caplog.clear()
            async with _client(emu, rate_limit_store=url, **options) as client:
                await asyncio.gather(*(client.user.get() for _ in range(20)))
                await client.user.get()
                assert _limiter(client).online is False
            (warning,) = _warnings(caplog)
            assert url in warning and "paces itself" in warning


async def test_redis_killed_mid_run_then_back(
    caplog: pytest.LogCaptureFixture, quick_probe: None
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    with RedisServer() as redis_server:
        async with Emulator() as emu:
            options = {"rate_limit_store": redis_server.url, "rate_limit": 500.0}
            a, b = _client(emu, "a", **options), _client(emu, "b", **options)
            async with a, b:
                await asyncio.gather(a.user.get(), b.user.get())
                redis_server.kill()
                # Every call goes on; no exception but the call's own.
                calls = [c.user.get() for c in (a, b) for _ in range(15)]
                await asyncio.gather(*calls)
                assert not _limiter(a).online and not _limiter(b).online
                assert len(_warnings(caplog)) == 2  # one per client
                redis_server.start()  # the same port
                await _until(lambda: _limiter(a).online and _limiter(b).online)
                await asyncio.gather(a.user.get(), b.user.get())
                # b listens again: a's 429 holds it.
                reset = time.time() + 0.3
                headers = {"x-ratelimit-reset": f"{reset:.3f}"}
                emu.inject(429, headers=headers, path="/user")
                a_call = asyncio.create_task(a.user.get())
                await _until(lambda: _limiter(b).remaining > 0)
                await a_call
    back = [r for r in caplog.records if "is back;" in r.getMessage()]
    assert len(back) == 2 and len(_warnings(caplog)) == 2


async def test_a_hung_store_costs_a_call_its_deadline_at_most(
    caplog: pytest.LogCaptureFixture, quick_probe: None
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: Any) -> None:
        held.append(writer)  # accepts, reads nothing, answers nothing

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Emulator() as emu:
            client = _client(
                emu, rate_limit_store=f"redis://127.0.0.1:{port}/0", rate_limit=500
            )
            async with client:
                with pytest.raises(APITimeoutError):
                    await client.request("GET", "/user", timeout=0.2)
                await _until(lambda: not _limiter(client).online)
                await client.user.get()  # paced locally now, at once
        assert len(_warnings(caplog)) == 1
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_no_password_in_a_warning_or_a_repr(
    caplog: pytest.LogCaptureFixture, quick_probe: None
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    with RedisServer(args=["--requirepass", "right-pass"]) as server:
        right = server.url.replace("redis://", "redis://:right-pass@")
        wrong = server.url.replace("redis://", "redis://:hunter2-s3cret@")
        async with Emulator() as emu:
            shown = []
            for url in (right, wrong):
                client = _client(emu, rate_limit_store=url, rate_limit=500)
                async with client:
                    await client.user.get()
                    limiter = _limiter(client)
                    assert limiter.online is (url == right)
                    shown += [repr(client), repr(client.session), repr(limiter)]
    (warning,) = _warnings(caplog)  # the wrong password is refused
    assert f"127.0.0.1:{server.port}" in warning
    for secret in ("right-pass", "hunter2"):
        assert secret not in warning + caplog.text + "".join(shown)


async def test_what_others_put_in_the_store_cannot_break_a_client(
    redis_server: RedisServer,
    store: aredis.Redis,
    caplog: pytest.LogCaptureFixture,
    quick_probe: None,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    policy = RetryPolicy(max_rate_limit_wait=0.3)
    async with Emulator() as emu:
        client = _client(emu, rate_limit_store=redis_server.url, retry=policy)
        async with client:
            await client.user.get()
            limiter = _limiter(client)
            channel = limiter._channel
            published = time.monotonic()
            await store.publish(channel, b"not a number")
            await store.publish(channel, b"99999999")  # a day: capped
            # The hold's end, not `remaining`: on a loaded machine the 0.3 s
            # hold can be over before a poll sees it. The hold started after
            # `published`, so it ends within 0.3 s of the message's arrival.
            await _until(lambda: limiter._hold_until > published)
            assert limiter._hold_until <= time.monotonic() + 0.3
            await client.user.get()  # after the capped hold
            # A key of the wrong type where the schedule lives: a script
            # error, handled as a failed store.
            await store.lpush(limiter._keys[0], "x")
        client = _client(emu, rate_limit_store=redis_server.url, rate_limit=100)
        async with client:
            await asyncio.gather(*(client.user.get() for _ in range(5)))
            assert not _limiter(client).online
    (warning,) = _warnings(caplog)
    assert "WRONGTYPE" in warning
