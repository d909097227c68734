"""The README's "Running a fleet" promises with no other test, and a hostile store.

Each test quotes the sentence it holds to. The store is a real
``redis-server`` on a free loopback port (``RedisServer``), or, for what a
real Redis cannot be made to do (answer garbage, trickle), a small TCP
server of our own on 127.0.0.1 speaking broken RESP.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis

from wriftai_async import AsyncClient, Client, RetryPolicy
from wriftai_async._cli import main as cli
from wriftai_async._rate_limit import ENV_STORE, Pacer, store_key
from wriftai_async._redis_limit import RedisLimiter
from wriftai_async.testing import Emulator, RedisServer

from .test_rate_limit import _most_in_one_second

LOGGER = "wriftai_async.rate_limit"
RETRY = RetryPolicy(backoff_base=0.001, backoff_max=0.005, max_rate_limit_wait=5.0)
SECRET = "pw-s3cret-77"
README_TEXT = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _client(emu: Emulator, **options: Any) -> AsyncClient:
    options.setdefault("retry", RETRY)
    return AsyncClient(emu.access_token, emu.base_url, **options)


def _limiter(client: AsyncClient) -> RedisLimiter:
    limiter = client.session.rate_limit
    assert isinstance(limiter, RedisLimiter)
    return limiter


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOGGER and r.levelno == logging.WARNING
    ]


async def _until(check: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "state not reached in time"
        await asyncio.sleep(0.01)


# -- the figures of "How" and "When Redis fails" are the code's ------------------


def test_the_quoted_bounds_are_the_codes() -> None:
    # "one connect or command to Redis waits at most 1 s", "Every second a
    # probe tries Redis again", "slots 1.02/N seconds apart ... at most 1 s
    # ahead", "up to 20 ms late", "expire a minute after their last use".
    assert RedisLimiter.OP_TIMEOUT == 1.0 and RedisLimiter.PROBE_EVERY == 1.0
    assert RedisLimiter.HORIZON == 1.0 and RedisLimiter.GRACE == 0.02
    assert RedisLimiter.IDLE_MS == 60_000
    limiter = RedisLimiter("redis://127.0.0.1:9/0", "k", 50.0, max_hold=5.0)
    assert limiter._interval == pytest.approx(1.02 / 50)
    kwargs = limiter._redis.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 1.0
    # "(the retry policy's max_rate_limit_wait)": the longest hold taken.
    client = AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit_store="redis://h/0")
    assert client.session.rate_limit._max_hold == 60.0  # type: ignore[attr-defined]


async def test_retries_count_against_the_rate() -> None:
    # "rate_limit=N: at most N requests per second (retries included)".
    async with Emulator() as emu:
        emu.inject(503, times=6, path="/user")
        async with _client(emu, rate_limit=10) as client:
            await asyncio.gather(*(client.user.get() for _ in range(10)))
        sent = [r.received_at for r in emu.requests]
    assert len(sent) == 16  # the 6 retries went through the same gate
    # Timed where the server received them: each arrival is late by a
    # jitter of its own, up to tens of ms on a loaded machine, and the slots
    # are only 1.02 s / 10 apart. So at most 10 in any 0.85 s: retries
    # outside the gate would each follow their 503 within milliseconds,
    # all 16 inside that window.
    assert _most_in_one_second([at / 0.85 for at in sent]) <= 10


async def test_a_cancelled_wait_takes_no_slot() -> None:
    # "a request whose call is cancelled or times out leaves the queue
    # without taking one": the schedule moves on by the requests served.
    pacer = Pacer(5)
    await pacer.acquire()  # idle: at once; the next slot is one interval on
    first = pacer._next_slot - pacer._interval
    gone = asyncio.create_task(pacer.acquire())
    kept = asyncio.create_task(pacer.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    await kept
    await pacer.aclose()
    assert gone.cancelled()
    # Two requests served: the next free slot is two intervals on, not three.
    assert pacer._next_slot == pytest.approx(first + 2 * pacer._interval)


# -- keys --------------------------------------------------------------------------


async def test_keys_are_a_hash_of_origin_and_token_and_expire_by_themselves(
    redis_server: RedisServer, store: aredis.Redis
) -> None:
    # "Keys are named by a SHA-256 of the API's origin and the token
    # (wriftai:{<hash>}:...), never the token, and expire a minute after
    # their last use"; a hold's key "expires with the hold".
    async with Emulator() as emu:
        origin = emu.base_url.rsplit("/v1", 1)[0]
        digest = hashlib.sha256(f"{origin}\n{emu.access_token}".encode()).hexdigest()
        assert store_key(emu.access_token, origin) == digest[:32]
        async with _client(emu, rate_limit_store=redis_server.url, rate_limit=50) as c:
            await c.user.get()
            reset = time.time() + 0.8
            emu.inject(429, headers={"x-ratelimit-reset": f"{reset:.3f}"}, path="/user")
            await c.user.get()
    slots, hold = f"wriftai:{{{digest[:32]}}}:slots", f"wriftai:{{{digest[:32]}}}:hold"
    keys = sorted(k.decode() for k in await store.keys("*"))
    assert keys == [slots] or keys == sorted([hold, slots])  # the hold may be over
    assert 55_000 < await store.pttl(slots) <= 62_000
    assert all(emu.access_token not in k for k in keys)


# -- sharing: a process that starts during a hold ----------------------------------


async def test_a_client_started_during_a_hold_reads_it_before_its_first_request(
    redis_server: RedisServer, store: aredis.Redis
) -> None:
    # "one that starts during a hold reads it before its first request".
    async with Emulator() as emu:
        offset = time.time() - time.monotonic()
        async with _client(
            emu, headers={"x-who": "a"}, rate_limit_store=redis_server.url
        ) as a:
            reset = time.time() + 0.6
            emu.inject(429, headers={"x-ratelimit-reset": f"{reset:.3f}"}, path="/user")
            first = asyncio.create_task(a.user.get())
            origin = emu.base_url.rsplit("/v1", 1)[0]
            key = f"wriftai:{{{store_key(emu.access_token, origin)}}}:hold"
            deadline = time.monotonic() + 10
            while not await store.exists(key):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            # A new process, now: its first request waits for the reset.
            late = _client(
                emu, headers={"x-who": "late"}, rate_limit_store=redis_server.url
            )
            async with late:
                await late.user.get()
            await first
        sent = [r.received_at for r in emu.requests if r.headers.get("x-who") == "late"]
    # (received_at is the emulator's monotonic clock; offset makes it Unix time)
    assert len(sent) == 1 and sent[0] + offset >= reset - 0.005


# -- "also rediss://, unix://" ---------------------------------------------------------


async def test_a_unix_socket_store_is_used() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "redis.sock")
        with RedisServer(
            args=["--unixsocket", path, "--unixsocketperm", "700"]
        ) as server:
            plain = aredis.Redis(unix_socket_path=path)
            async with Emulator() as emu:
                url = f"unix://{path}?db=0"
                async with _client(emu, rate_limit_store=url, rate_limit=100) as client:
                    await asyncio.gather(*(client.user.get() for _ in range(5)))
                    assert _limiter(client).online
                    assert (
                        repr(_limiter(client))
                        == f"RedisLimiter('unix://{path}', rate=100.0)"
                    )
            assert [k async for k in plain.scan_iter("wriftai:*:slots")]
            await plain.aclose()
            assert server.running


@pytest.mark.parametrize("url", ["REDIS://127.0.0.1:9/0", "Rediss://127.0.0.1:9/0"])
def test_a_schemes_case_does_not_matter(url: str) -> None:
    # RFC 3986: schemes are case-insensitive (redis-py reads them so).
    client = AsyncClient("t", "http://127.0.0.1:9/v1", rate_limit_store=url)
    assert isinstance(client.session.rate_limit, RedisLimiter)


# -- a bad URL: one clear error, naming the option, never the password ---------------


BAD_URLS = [
    (f"redis://:{SECRET}@127.0.0.1:notaport/0", "port"),
    (f"redis://:{SECRET}@127.0.0.1:99999999/0", "Port out of range"),
    (f"redis://:{SECRET}@[::1/0", "IPv6"),
    (f"redis://:{SECRET}@127.0.0.1/0?db=x", "'db'"),
    (f"{SECRET}@127.0.0.1:6379", "no scheme given"),
    (f"{SECRET}", "no scheme given"),
    (f"user:{SECRET}@127.0.0.1:6379/0", "no scheme given"),
]


@pytest.mark.parametrize(("url", "words"), BAD_URLS)
@pytest.mark.parametrize("cls", [AsyncClient, Client])
def test_a_bad_store_url_names_the_option_and_never_the_password(
    cls: type, url: str, words: str
) -> None:
    with pytest.raises(ValueError) as caught:
        cls("t", "http://127.0.0.1:9/v1", rate_limit_store=url)
    message = str(caught.value)
    assert message.startswith("rate_limit_store ") and words in message, message
    assert caught.value.__cause__ is None  # nothing chained to show in a traceback
    error: BaseException | None = caught.value
    while error is not None:  # nor in whatever an error reporter walks
        assert SECRET not in str(error) and SECRET not in repr(error.args)
        error = error.__context__


@pytest.mark.parametrize(("url", "words"), BAD_URLS[:2] + BAD_URLS[4:5])
def test_nonsense_in_the_variable_names_the_variable_not_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str, words: str
) -> None:
    monkeypatch.setenv(ENV_STORE, url)
    with pytest.raises(ValueError) as caught:
        AsyncClient("t", "http://127.0.0.1:9/v1")
    message = str(caught.value)
    assert message.startswith(ENV_STORE) and words in message and SECRET not in message


def test_the_command_line_says_a_bad_store_url_once_without_the_password(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["models", "get", "alice/text-echo", "--base-url", emulator.base_url]
    argv += ["--token", emulator.access_token]
    bad = f"redis://:{SECRET}@127.0.0.1:99999999/0"
    assert cli([*argv, "--rate-limit-store", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--rate-limit-store is not a usable Redis URL" in err and SECRET not in err


# -- a store that answers garbage, or trickles -----------------------------------------


class BrokenRedis:
    """A TCP server on 127.0.0.1 that answers every command with ``reply``,
    all at once or one byte every 0.2 s (``trickle``)."""

    def __init__(self, reply: bytes, *, trickle: bool = False) -> None:
        self.reply, self.trickle = reply, trickle
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> BrokenRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while await reader.read(65536):
                if not self.trickle:
                    writer.write(self.reply)
                    await writer.drain()
                    continue
                for byte in self.reply:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    ("reply", "trickle"),
    [
        (b":abc\r\n", False),  # an integer that is not one: ValueError in redis-py
        (b"*x\r\n", False),  # an array of no length
        (b"$-5\r\n", False),  # a negative length
        (b"garbage\r\n", False),  # no RESP type at all
        (b"\xff\xfe\r\n", False),
        (b"-ERR no such thing\r\n", False),  # an error for every command
        (b"*3\r\n:1\r\n:2\r\n:3\r\n", False),  # well-formed, not the script's
        (b"$5\r\nabcde\r\n", True),  # trickles: a byte every 0.2 s
    ],
    ids=["int", "array", "negative", "garbage", "bytes", "error", "foreign", "trickle"],
)
async def test_a_store_answering_garbage_warns_once_and_every_call_goes_on(
    caplog: pytest.LogCaptureFixture, quick_probe: None, reply: bytes, trickle: bool
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    async with BrokenRedis(reply, trickle=trickle) as broken, Emulator() as emu:
        url = f"redis://:{SECRET}@127.0.0.1:{broken.port}/0"
        # The call's deadline is far longer than a failing store may take
        # (OP_TIMEOUT, 0.5 s here): before the fix, ":abc" killed the task
        # handing out slots and these calls waited for it until then.
        client = _client(emu, rate_limit_store=url, rate_limit=200, timeout=20)
        async with client:
            users = await asyncio.gather(*(client.user.get() for _ in range(5)))
            assert [u.username for u in users] == ["alice"] * 5
            limiter = _limiter(client)
            await _until(lambda: not limiter.online)
            await client.user.get()  # paced locally, still
            shown = repr(client) + repr(client.session) + repr(limiter)
        assert broken.connections >= 1
    (warning,) = _warnings(caplog)
    assert f"redis://127.0.0.1:{broken.port}/0 failed (" in warning
    assert "paces itself until the store is back" in warning
    assert SECRET not in caplog.text + shown
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- "Try it with two shells": the console blocks, run as shown ------------------------

_FLEET = README_TEXT.split("\n## Running a fleet", 1)[1].split("\n## ", 1)[0]
_TRY = _FLEET.split("**Try it with two shells.**", 1)[1]
_CONSOLES = re.findall(r"```console\n(.*?)```", _TRY, re.S)
_SECONDS = re.compile(r"in \d+\.\d\ds$")


def _console(index: int) -> tuple[str, list[str]]:
    """The last command of console block ``index`` and the lines shown under it."""
    lines = _CONSOLES[index].splitlines()
    (last,) = [i for i, line in enumerate(lines) if line.startswith("$ wriftai-async")]
    return lines[last][2:], lines[last + 1 :]


def _shell(command: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", "-c", command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _said(process: subprocess.Popen[str]) -> list[str]:
    """What a command wrote to stderr, its progress lines left out (as shown)."""
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not re.match(r"\[\d+\.\ds\] ", line)]
    return [_SECONDS.sub("in <t>s", line) for line in lines]


def _shell_env(emu: Emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(
        WRIFTAI_API_BASE_URL=emu.base_url,
        WRIFTAI_ACCESS_TOKEN=emu.access_token,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        **extra,
    )
    return env


def test_alone_the_429s_show_as_more_requests_than_pages(emulator: Emulator) -> None:
    # "(more requests than pages: the 429s were waited out and re-sent)": the
    # count is of requests sent, retries included.
    command, shown = _console(1)
    emulator.inject(429, headers={"Retry-After": "0"}, times=2, path="/models/alice")
    said = _said(_shell(command, _shell_env(emulator)))
    assert said == [_SECONDS.sub("in <t>s", line) for line in shown]
    assert "with 7 requests for 5 pages" in said[0]


def test_sharing_the_store_not_one_request_is_refused(
    redis_server: RedisServer, store: aredis.Redis
) -> None:
    command, shown = _console(2)
    assert command.endswith("--rate-limit 5 > /dev/null")
    with Emulator(budget=5).run_in_thread() as emu:
        env = _shell_env(emu, WRIFTAI_RATE_LIMIT_STORE=redis_server.url)
        both = [_shell(command, env), _shell(command, env)]  # "both at once"
        said = [_said(process) for process in both]
        assert emu.budget is not None
        assert emu.budget.refused == 0 and emu.budget.accepted == 10
    expected = [_SECONDS.sub("in <t>s", line) for line in shown]
    assert said == [expected, expected]


def test_with_redis_stopped_one_warning_and_the_process_paces_itself(
    emulator: Emulator,
) -> None:
    command, shown = _console(3)
    port = _closed_port()
    env = _shell_env(emulator, WRIFTAI_RATE_LIMIT_STORE=f"redis://127.0.0.1:{port}/0")
    said = _said(_shell(command, env))
    expected = [
        _SECONDS.sub("in <t>s", line.replace("6379", str(port))) for line in shown
    ]
    assert said == expected


def _leaf_parsers(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaf_parsers(child, f"{path} {name}".strip())


def test_every_command_that_takes_token_takes_the_rate_options() -> None:
    # "on the command line as --rate-limit N and --rate-limit-store URL
    # (every API command takes them, like --token)".
    from wriftai_async._cli import _parser

    with_token = 0
    for path, parser in _leaf_parsers(_parser()):
        options = {o for a in parser._actions for o in a.option_strings}
        # (demo is a tour, against the emulator by default: no API command)
        if "--token" in options and path != "demo":
            with_token += 1
            assert {"--rate-limit", "--rate-limit-store"} <= options, path
    assert with_token >= 6
