"""Values that once came back changed, or broke ``hash``/messages.

Each test serves its answer from an aiohttp.web server on 127.0.0.1 (its own
thread, so both clients use it): integers beyond 64 bits (kept exact, where
orjson makes floats of them), answers of several servers that differ only
in ``1`` / ``1.0`` / ``true`` (never mixed up by the shared-object cache), a
user with ``urls`` (hashable) and a 5 MB timestamp (a short message).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from wriftai_async import (
    ResponseDecodeError,
)

from .conftest import CLIENT_KINDS, resolve
from .test_hostile_protocol import HostileServer, close, make

UUID = "11111111-2222-4333-8444-555555555555"


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        yield hostile


# -- integers beyond 64 bits -----------------------------------------------------

BIG = 2**64 + 1
NEGATIVE = -(2**63) - 1
HUGE = 10**300  # a float's range is ~1.8e308; orjson makes it 1e300


def prediction_with_big_numbers() -> bytes:
    text = (
        f'{{"id": "{UUID}", "status": "succeeded", '
        f'"output": [{BIG}, {NEGATIVE}, {{"n": {HUGE}}}, 1.5, 7], '
        f'"trace_id": {BIG}}}'
    )
    return text.encode()


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_integers_beyond_64_bits_stay_exact(server, kind):
    server.answer(prediction_with_big_numbers())
    client = make(kind, server)
    try:
        prediction = await resolve(client.predictions.get(UUID))
        raw = await resolve(client.request("GET", "/anything"))
    finally:
        await close(client)
    expected = [BIG, NEGATIVE, {"n": HUGE}, 1.5, 7]
    assert prediction.output == expected
    assert prediction.extra["trace_id"] == BIG
    assert raw["output"] == expected and raw["trace_id"] == BIG
    assert [type(v) for v in raw["output"][:2]] == [int, int]


async def list_all(iterator: Any) -> list[Any]:
    if hasattr(iterator, "__aiter__"):
        return [item async for item in iterator]
    return list(iterator)


# -- the shared-object cache is type-exact -----------------------------------------


def hardware_page(value: bytes) -> bytes:
    item = b'{"identifier": "gpu-1", "gpus": %s, "x": %s}' % (value, value)
    return b'{"items": [' + item + b'], "next_cursor": null}'


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_equal_but_differently_typed_answers_are_never_mixed_up(kind):
    answers = {b"1": int, b"1.0": float, b"true": bool}
    servers = [HostileServer() for _ in answers]
    got = []
    try:
        for server, value in zip(servers, answers, strict=True):
            server.start()
            server.answer(hardware_page(value))
            client = make(kind, server)
            try:
                [hardware] = await list_all(client.hardware.list())
                [hardware_again] = await list_all(client.hardware.list())
            finally:
                await close(client)
            got.append((hardware, hardware_again))
    finally:
        for server in servers:
            server.stop()
    for (hardware, again), kind_of in zip(got, answers.values(), strict=True):
        assert type(hardware.extra["x"]) is kind_of
        assert again is hardware  # shared within the same JSON
        if kind_of is int:
            assert hardware.gpus == 1
        else:  # gpus is an int field: 1.0 and true are malformed there
            with pytest.raises(ResponseDecodeError):
                _ = hardware.gpus


# -- hashing objects with lists ------------------------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_user_with_urls_is_hashable(server, kind):
    user = {"id": "u1", "username": "alice", "urls": ["https://a.example"]}
    server.answer(orjson.dumps(user))
    client = make(kind, server)
    try:
        one = await resolve(client.users.get("alice"))
        two = await resolve(client.users.get("alice"))
        prediction = {"id": UUID, "status": "succeeded", "output": [[1], {"a": 2}]}
        server.answer(orjson.dumps(prediction))
        details = await resolve(client.predictions.get(UUID))
    finally:
        await close(client)
    assert one == two and one is not two  # holds a list: never shared
    assert hash(one) == hash(two)
    assert len({one, two}) == 1
    assert isinstance(hash(details), int)


# -- bounded messages ----------------------------------------------------------------


@pytest.mark.parametrize("kind", CLIENT_KINDS)
async def test_a_5_mb_timestamp_makes_a_short_message(server, kind):
    bad = "2024-" + "9" * (5 * 1024 * 1024)
    server.answer(orjson.dumps({"id": UUID, "status": "succeeded", "created_at": bad}))
    client = make(kind, server)
    try:
        prediction = await resolve(client.predictions.get(UUID))
    finally:
        await close(client)
    with pytest.raises(ResponseDecodeError) as caught:
        _ = prediction.created_at
    assert len(str(caught.value)) < 1000


def test_the_command_line_prints_big_integers_exactly(server, monkeypatch, capsys):
    # Decoded exactly, they must be written exactly too: orjson alone refuses
    # an integer beyond 64 bits (a TypeError, a traceback in the command).
    from wriftai_async._cli import main

    server.answer(prediction_with_big_numbers())
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", "tok")
    monkeypatch.setenv("WRIFTAI_API_BASE_URL", server.url)
    code = main(["predictions", "get", UUID, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    printed = json.loads(out)
    assert printed["output"][:2] == [BIG, NEGATIVE]
    assert printed["trace_id"] == BIG


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": 1234567890, "b": 18446744073709551617}',  # a run of 10 first
        b'{"a": "12345678901234567", "b": -9223372036854775809}',
        b"[123456789012345678, 1e5, 99999999999999999999]",
    ],
)
def test_a_long_integer_after_shorter_runs_of_digits_is_exact(text):
    from wriftai_async._json import loads

    assert loads(text) == json.loads(text)
    assert orjson.loads(text) != json.loads(text)  # orjson alone would round
