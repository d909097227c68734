"""``Emulator(...)``, ``inject(...)``: arguments checked; reprs bounded, secret-free.

A wrong type is a ``TypeError``, a bad value a ``ValueError``, each naming
the argument, when the emulator is built or the fault injected (not as a
500 or a hang in a request handler later). The reprs of an ``Emulator`` and
of a ``RecordedRequest`` end up in assertion messages and CI logs: bounded
in length whatever a test sent, and never showing the access token.
"""

from __future__ import annotations

import math
import time
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from tests.conftest import FAST_RETRY
from wriftai_async import AsyncClient
from wriftai_async.testing import Emulator, RecordedRequest

SECONDS = ["cancel_delay", "prediction_duration", "max_prefer_wait"]
TOKEN = "tok-SECRET-0123456789"


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", ["1", True, False, None, [1], b"1"])
def test_seconds_of_a_wrong_type_are_a_type_error(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=f"^{name} must be a number, not "):
        Emulator(**{name: value})


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", [-1, -0.001, math.nan, math.inf, -math.inf])
def test_seconds_out_of_range_are_a_value_error(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a finite number >= 0"):
        Emulator(**{name: value})


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", [0, 0.0, 1, 2.5])
def test_seconds_in_range_are_taken(name: str, value: float) -> None:
    emu = Emulator(seed=False, **{name: value})
    assert getattr(emu._store.settings, name) == value


async def test_a_prediction_duration_of_zero_ends_at_once() -> None:
    # 0 is allowed (>= 0), and means what it says over the wire.
    async with (
        Emulator(prediction_duration=0) as emu,
        AsyncClient(emu.access_token, emu.base_url, retry=FAST_RETRY) as client,
    ):
        prediction = await client.predictions.create(
            "alice/text-echo", {"prompt": "hi"}
        )
        done = await client.predictions.wait(prediction.id, poll_interval=0.01)
        assert done.status == "succeeded"


@pytest.mark.parametrize("status", ["500", True, False, 500.0, None])
def test_inject_status_of_a_wrong_type_is_a_type_error(status: Any) -> None:
    emu = Emulator(seed=False)
    with pytest.raises(TypeError, match=r"^status must be an int, not "):
        emu.inject(status)
    assert emu._faults._faults == []  # nothing queued


@pytest.mark.parametrize("status", [0, 99, 600, 1000, -500])
def test_inject_status_out_of_range_is_a_value_error(status: int) -> None:
    emu = Emulator(seed=False)
    with pytest.raises(ValueError, match=r"^status must be an HTTP status 100\.\.599"):
        emu.inject(status)
    assert emu._faults._faults == []


@pytest.mark.parametrize("status", [200, 418, 599])
async def test_inject_status_in_range_is_sent(status: int) -> None:
    async with Emulator() as emu, aiohttp.ClientSession() as http:
        emu.inject(status, body=b"")
        async with http.get(emu.base_url + "/user") as answer:
            assert answer.status == status


# -- reprs ---------------------------------------------------------------------


def test_emulator_repr_is_bounded_and_shows_no_token() -> None:
    emu = Emulator(access_token=TOKEN, username="u" * 1_000_000, seed=False)
    text = repr(emu)
    assert len(text) < 600
    assert text.startswith("Emulator(style='new', username='uuu")
    assert "base_url=None" in text  # not running
    assert TOKEN not in text and "SECRET" not in text


async def test_emulator_repr_when_running() -> None:
    async with Emulator(access_token=TOKEN, style="old") as emu:
        text = repr(emu)
        assert f"base_url='{emu.base_url}'" in text and "style='old'" in text
        assert "SECRET" not in text


async def test_a_recorded_request_hides_the_token_and_is_bounded() -> None:
    big = "x" * 200_000  # a large JSON body (aiohttp warns past 1 MiB)
    async with (
        Emulator(access_token=TOKEN) as emu,
        AsyncClient(TOKEN, emu.base_url, retry=FAST_RETRY) as client,
    ):
        await client.user.get()
        # The token in the body too (a test storing it as a variable).
        await client.variables.create("openai", "KEY", big + TOKEN + big)
    assert len(emu.requests) == 2
    for request in emu.requests:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"  # still kept
        for text in (repr(request), str(request)):
            assert len(text) < 2500
            assert text.startswith(f"RecordedRequest(method='{request.method}'")
            assert "SECRET" not in text and "tok-" not in text
            assert "'Authorization': '<hidden>'" in text
    assert 'body=b\'{"name":"openai"' in repr(emu.requests[1])


def recorded(body: bytes, **headers: str) -> RecordedRequest:
    return RecordedRequest(
        method="POST",
        path="/variables",
        query=MultiDictProxy(MultiDict()),
        headers=CIMultiDictProxy(CIMultiDict(headers)),
        body=body,
        json=None,
        url="http://127.0.0.1:1/v1/variables",
        fault=None,
        received_at=time.monotonic(),
    )


@pytest.mark.parametrize("offset", range(180, 215))
def test_no_prefix_of_the_token_is_left_at_the_cut(offset: int) -> None:
    # Wherever the body's 200 characters end, inside the token or not.
    text = repr(
        recorded(b"x" * offset + TOKEN.encode(), Authorization=f"Bearer {TOKEN}")
    )
    assert "tok-" not in text and "SECRET" not in text


@pytest.mark.parametrize("name", ["authorization", "Proxy-Authorization", "Cookie"])
def test_every_credential_header_is_hidden(name: str) -> None:
    text = str(recorded(b"", **{name: f"Basic {TOKEN}", "X-Other": "shown"}))
    assert "SECRET" not in text and "<hidden>" in text
    assert "'X-Other': 'shown'" in text
