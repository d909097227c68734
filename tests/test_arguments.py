"""Per-call arguments are checked before any request, on both clients.

Every timeout, interval, concurrency and page size is a finite positive
number of the right type; ``bool`` is not an int; ``None`` means "no limit"
for a timeout and "the server's default" for a page size. A refused call
raises ``ValueError``/``TypeError`` at call time and sends nothing. Before
these checks, ``poll_interval=float("nan")`` reached ``asyncio.sleep`` and
stopped every timer of the event loop.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wriftai_async import AsyncClient, Client, File, WaitTimeoutError
from wriftai_async.testing import Emulator

from .conftest import FAST_RETRY, make_client, new_prediction, resolve

NAN, INF = math.nan, math.inf

# value -> the exception it must raise
BAD_PAGE_SIZES: list[tuple[Any, type[Exception]]] = [
    (0, ValueError),
    (-1, ValueError),
    ("10", TypeError),
    (10.5, TypeError),
    (True, TypeError),
    (NAN, TypeError),
    (10.0, TypeError),
]
BAD_INTERVALS: list[tuple[Any, type[Exception]]] = [
    (0, ValueError),
    (-1, ValueError),
    (NAN, ValueError),
    (INF, ValueError),
    (-INF, ValueError),
    ("1", TypeError),
    (True, TypeError),
    (None, TypeError),
]
# None is allowed for a timeout: no limit.
BAD_TIMEOUTS = [(v, e) for v, e in BAD_INTERVALS if v is not None]
BAD_CONCURRENCY: list[tuple[Any, type[Exception]]] = [
    (0, ValueError),
    (-1, ValueError),
    (1.5, TypeError),
    (4.0, TypeError),
    (True, TypeError),
    ("4", TypeError),
    (NAN, TypeError),
    (None, TypeError),
]


def listings(page_size: Any) -> list[Callable[[Any], Any]]:
    """Every listing call (page and iterator forms) with ``page_size``."""
    p = page_size
    return [
        lambda c: c.users.list(page_size=p),
        lambda c: c.users.list_page(page_size=p),
        lambda c: c.users.search("a", page_size=p),
        lambda c: c.users.search_page("a", page_size=p),
        lambda c: c.user.models(page_size=p),
        lambda c: c.user.models_page(page_size=p),
        lambda c: c.models.list_for_user("alice", page_size=p),
        lambda c: c.models.list_page("alice", page_size=p),
        lambda c: c.models.list_all(page_size=p),
        lambda c: c.models.list_all_page(page_size=p),
        lambda c: c.models.list_for_users(["alice"], page_size=p),
        lambda c: c.models.search("a", page_size=p),
        lambda c: c.models.search_page("a", page_size=p),
        lambda c: c.versions.list("alice/text-echo", page_size=p),
        lambda c: c.versions.list_page("alice/text-echo", page_size=p),
        lambda c: c.predictions.list(page_size=p),
        lambda c: c.predictions.list_page(page_size=p),
        lambda c: c.hardware.list(page_size=p),
        lambda c: c.hardware.list_page(page_size=p),
        lambda c: c.categories.list(page_size=p),
        lambda c: c.categories.list_page(page_size=p),
        lambda c: c.variables.list(page_size=p),
        lambda c: c.variables.list_page(page_size=p),
    ]


def waits(timeout: Any = None, poll_interval: Any = 0.01) -> list[Callable[[Any], Any]]:
    """Every call that waits for predictions, with these timing arguments."""
    t, i = timeout, poll_interval
    return [
        lambda c: c.predictions.wait("p-1", timeout=t, poll_interval=i),
        lambda c: c.predictions.cancel_and_wait("p-1", timeout=t, poll_interval=i),
        lambda c: c.predictions.wait_many(["p-1"], timeout=t, poll_interval=i),
        lambda c: c.predictions.create(
            "alice/text-echo", {"text": "x"}, wait=True, timeout=t, poll_interval=i
        ),
    ]


def bulk(concurrency: Any) -> list[Callable[[Any], Any]]:
    n = concurrency
    return [
        lambda c: c.models.list_for_users(["alice"], concurrency=n),
        lambda c: c.predictions.cancel_many(["p-1"], concurrency=n),
        lambda c: c.predictions.wait_many(["p-1"], concurrency=n),
        lambda c: c.files.upload(b"data", concurrency=n),
    ]


async def refused(
    client: Any, emu: Emulator, call: Callable[[Any], Any], error: type[Exception]
) -> None:
    """``call(client)`` raises ``error`` at once (not at the first iteration,
    not from the server), and no request reaches the server."""
    before = len(emu.requests)
    with pytest.raises(error) as caught:
        await resolve(call(client))
    assert type(caught.value) is error  # not a subclass such as a WriftAIError
    assert len(emu.requests) == before


@pytest.mark.parametrize(("value", "error"), BAD_PAGE_SIZES)
async def test_bad_page_sizes_are_refused_everywhere(
    client: Any, emulator: Emulator, value: Any, error: type[Exception]
) -> None:
    for call in listings(value):
        await refused(client, emulator, call, error)


async def test_good_page_sizes_are_sent(client: Any, emulator: Emulator) -> None:
    page = await resolve(client.users.list_page(page_size=1))
    assert len(page.items) == 1
    assert emulator.requests[-1].query["page_size"] == "1"
    await resolve(client.users.list_page(page_size=None))  # the server's default
    assert "page_size" not in emulator.requests[-1].query


@pytest.mark.parametrize(("value", "error"), BAD_INTERVALS)
async def test_bad_poll_intervals_are_refused(
    client: Any, emulator: Emulator, value: Any, error: type[Exception]
) -> None:
    for call in waits(poll_interval=value):
        await refused(client, emulator, call, error)


@pytest.mark.parametrize(("value", "error"), BAD_TIMEOUTS)
async def test_bad_timeouts_are_refused(
    client: Any, emulator: Emulator, value: Any, error: type[Exception]
) -> None:
    # 0 and negative timeouts used to mean "no limit"; inf raised
    # OverflowError on the way.
    for call in waits(timeout=value):
        await refused(client, emulator, call, error)


@pytest.mark.parametrize(("value", "error"), BAD_CONCURRENCY)
async def test_bad_concurrency_is_refused(
    client: Any, emulator: Emulator, value: Any, error: type[Exception]
) -> None:
    for call in bulk(value):
        await refused(client, emulator, call, error)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.users.list_page(cursor=5),
        lambda c: c.predictions.wait_many("p-1"),
        lambda c: c.predictions.cancel_many("p-1"),
        lambda c: c.models.list_for_users("alice"),
        lambda c: c.predictions.wait_many(["p-1"], on_progress="print"),
        lambda c: c.predictions.create("alice/text-echo", {"text": "x"}, wait="1"),
        lambda c: c.files.upload(b"x", mime_type=b"text/plain"),
    ],
)
async def test_wrong_types_are_type_errors(
    client: Any, emulator: Emulator, call: Callable[[Any], Any]
) -> None:
    await refused(client, emulator, call, TypeError)


async def test_a_timeout_of_none_waits_without_limit(
    client: Any, emulator: Emulator
) -> None:
    pid = new_prediction(emulator, finish_after=0.1)
    done = await resolve(client.predictions.wait(pid, timeout=None, poll_interval=0.01))
    assert done.status == "succeeded"


# -- NaN must never reach the event loop's timers ---------------------------------


def run_in_own_loop(scenario: Callable[[], Any], seconds: float = 30.0) -> Any:
    """Run ``scenario()`` on a fresh loop in a thread; fail if it never ends.

    A NaN timer breaks the loop's timer heap: a sleep on that loop never
    returns, so the outcome is observed from another thread.
    """
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(asyncio.run(scenario()))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the event loop hung"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


@pytest.mark.parametrize(
    "call",
    [
        lambda c, pid: c.predictions.wait(pid, poll_interval=NAN),
        lambda c, pid: c.predictions.wait(pid, timeout=NAN, poll_interval=0.01),
        lambda c, pid: c.predictions.cancel_and_wait(pid, poll_interval=NAN),
        lambda c, pid: c.predictions.create(
            "alice/text-echo", {"text": "x"}, wait=True, poll_interval=NAN
        ),
        lambda c, pid: c.predictions.create(
            "alice/text-echo", {"text": "x"}, wait=True, timeout=NAN
        ),
    ],
)
def test_nan_is_refused_and_the_loop_keeps_its_timers(
    emulator: Emulator, call: Callable[[Any, str], Any]
) -> None:
    pid = new_prediction(emulator)  # runs until cancelled

    async def scenario() -> str:
        async with AsyncClient(
            emulator.access_token, emulator.base_url, retry=FAST_RETRY
        ) as client:
            try:
                await call(client, pid)
            except ValueError as exc:
                refusal = str(exc)
            else:
                refusal = "not refused"
            # The loop's timers still work.
            await asyncio.sleep(0.05)
            return refusal

    assert "finite" in run_in_own_loop(scenario)


def test_nan_in_wait_many_is_refused_and_the_loop_keeps_its_timers(
    emulator: Emulator,
) -> None:
    pid = new_prediction(emulator)

    async def scenario() -> str:
        async with AsyncClient(
            emulator.access_token, emulator.base_url, retry=FAST_RETRY
        ) as client:
            try:
                async for _ in client.predictions.wait_many([pid], poll_interval=NAN):
                    pass
            except ValueError as exc:
                refusal = str(exc)
            else:
                refusal = "not refused"
            await asyncio.sleep(0.05)
            return refusal

    assert "finite" in run_in_own_loop(scenario)


def test_sync_client_refuses_nan_and_keeps_working(emulator: Emulator) -> None:
    # The sync Client runs its calls on a loop thread of its own: a NaN timer
    # there would hang every later call of that client.
    pid = new_prediction(emulator)
    client = make_client("sync", emulator)
    try:
        with pytest.raises(ValueError, match="finite"):
            client.predictions.wait(pid, poll_interval=NAN)
        with pytest.raises(ValueError, match="finite"):
            for _ in client.predictions.wait_many([pid], timeout=NAN):
                pass
        # Still answers, with a real wait on its loop.
        done = client.predictions.cancel_and_wait(pid, timeout=30, poll_interval=0.01)
        assert done.is_terminal
    finally:
        client.close()


def test_create_whose_hold_outlasts_its_timeout_is_a_wait_timeout() -> None:
    # Asked to hold for 5 s (Prefer: wait=5) within timeout=1, the client
    # asks for 0.8 s, so the pending answer has 0.2 s to come back; then no
    # time is left to poll: a WaitTimeoutError with the prediction, not a
    # ValueError from passing wait() a timeout of 0. (With timeout=0.2 the
    # answer had 40 ms, too few on a loaded machine.)
    with Emulator(prediction_duration=30).run_in_thread() as emu:
        client = make_client("sync", emu)
        try:
            with pytest.raises(WaitTimeoutError) as caught:
                client.predictions.create(
                    "alice/text-echo", {"text": "x"}, wait=5, timeout=1.0
                )
        finally:
            client.close()
    assert caught.value.prediction is not None
    assert not caught.value.prediction.is_terminal


# Found by a new user's review: each went through unchecked and failed deep
# inside (``dict("hi")``: "dictionary update sequence element #0 ...") or
# under another argument's name (``stream="yes"``: "wait must be a number"),
# or was quietly sent (``q=5``, ``validate_input="no"`` as "true").
@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.predictions.create("alice/text-echo", "hi"), "input"),
        (lambda c: c.predictions.create("alice/text-echo", None), "input"),
        (lambda c: c.predictions.create("alice/text-echo", [("text", "x")]), "input"),
        (lambda c: c.predictions.create("alice/text-echo", {}, stream="yes"), "stream"),
        (
            lambda c: c.predictions.create("alice/text-echo", {}, validate_input="no"),
            "validate_input",
        ),
        (
            lambda c: c.versions.create(
                "alice/text-echo",
                release_notes="x",
                container_image_digest="sha256:" + "0" * 64,
                schemas="x",
            ),
            "schemas",
        ),
        (lambda c: c.models.search(None), "q"),
        (lambda c: c.models.search_page(5), "q"),
        (lambda c: c.users.search(5), "q"),
        (lambda c: c.models.list_for_users(None), "list of ids or names"),
        (lambda c: c.predictions.wait_many(5), "list of ids or names"),
    ],
)
async def test_wrong_types_name_the_argument(
    client: Any, emulator: Emulator, call: Callable[[Any], Any], argument: str
) -> None:
    before = len(emulator.requests)
    with pytest.raises(TypeError, match=argument):
        await resolve(call(client))
    assert len(emulator.requests) == before


async def test_a_directory_is_not_uploaded(
    client: Any, emulator: Emulator, tmp_path: Any
) -> None:
    # Its st_size (4096) was planned as an upload, then each part's PUT
    # failed as an APIConnectionError "Can not write request body".
    with pytest.raises(IsADirectoryError):
        await resolve(client.files.upload(File(tmp_path)))
    with pytest.raises(IsADirectoryError):
        await resolve(
            client.predictions.create("alice/text-echo", {"f": File(tmp_path)})
        )
    assert emulator.requests == []


@pytest.mark.parametrize("cls", [AsyncClient, Client])
def test_a_bad_access_token_is_refused_by_name_without_showing_it(
    cls: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 123 was sent as "Bearer 123" (a 401 "invalid token"); a newline from
    # a token file failed every request as aiohttp's "header injection".
    with pytest.raises(TypeError, match="access_token must be a str or None, not int"):
        cls(123, emulator.base_url)
    secret = "s3cret-token"
    with pytest.raises(ValueError, match="access_token holds a line break") as caught:
        cls(secret + "\n", emulator.base_url)
    monkeypatch.setenv("WRIFTAI_ACCESS_TOKEN", secret + "\r\n")
    with pytest.raises(ValueError, match=r"\$WRIFTAI_ACCESS_TOKEN holds") as from_env:
        cls(None, emulator.base_url)
    assert secret not in str(caught.value) + str(from_env.value)
    assert emulator.requests == []


@pytest.mark.parametrize("shape", ["list in itself", "dict in itself", "deep"])
async def test_an_input_that_contains_itself_is_refused_plainly(
    client: Any, emulator: Emulator, shape: str
) -> None:
    # It raised RecursionError from the walk that looks for files (and,
    # past it, from the standard library's encoder).
    value: Any
    if shape == "list in itself":
        value = []
        value.append(value)
    elif shape == "dict in itself":
        value = {}
        value["me"] = value
    else:
        value = []
        for _ in range(100_000):
            value = [value]
    with pytest.raises(ValueError, match="contains itself or is nested too deep"):
        await resolve(client.predictions.create("alice/text-echo", {"x": value}))
    with pytest.raises(ValueError, match="contains itself or is nested too deep"):
        await resolve(client.request("POST", "/variables", json={"value": value}))
    assert emulator.requests == []


@pytest.mark.parametrize(
    "value",
    [Path("photo.png"), b"\x89PNG", bytearray(b"x"), io.BytesIO(b"x")],
    ids=["path", "bytes", "bytearray", "file object"],
)
async def test_a_file_not_wrapped_in_file_says_how_to_upload_it(
    client: Any, emulator: Emulator, value: Any
) -> None:
    # orjson's "Type is not JSON serializable: PosixPath" said nothing of
    # File, which is what a path or bytes in an input almost always meant.
    with pytest.raises(TypeError, match=r"wrap it: File\(path\)"):
        await resolve(client.predictions.create("alice/text-echo", {"image": value}))
    assert emulator.requests == []


async def test_a_nan_in_an_input_is_refused_not_sent_as_null(
    client: Any, emulator: Emulator
) -> None:
    # orjson writes NaN and infinities as null: the model got {"x": [1, null]}
    # for {"x": [1, nan]}. httpx (the official client) refuses them as well.
    for bad in (NAN, INF, -INF):
        with pytest.raises(
            ValueError, match=r"at \['input'\]\['x'\]\[1\] cannot be sent"
        ):
            await resolve(client.predictions.create("alice/text-echo", {"x": [1, bad]}))
    assert emulator.requests == []
    # A real null still goes out as one.
    created = await resolve(
        client.predictions.create("alice/text-echo", {"x": [1, None]})
    )
    sent = emulator.requests[-1].json
    assert sent["input"] == {"x": [1, None]}, sent
    assert created.id
