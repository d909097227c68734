"""The emulator as a user's own test suite meets it: mistakes that used to pass
silently, or fail with a message naming neither the cause nor the fix."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Any

import pytest

from wriftai_async import AsyncClient, Client, ServerError, _portal
from wriftai_async.testing import SEED_PREDICTIONS, Emulator

# -- what the seeding and inspection methods return --------------------------------


async def test_changing_a_returned_dict_does_not_change_the_server() -> None:
    # The dicts handed back shared their lists and dicts with the store: a
    # test that edited one (to build an expected value, say) changed what the
    # server answered from then on.
    async with Emulator() as emu:
        version = emu.add_version(
            "alice/text-echo",
            schemas={"prediction": {"input": {"type": "object", "properties": {}}}},
        )
        version["schemas"]["prediction"]["input"]["properties"]["injected"] = {}
        seeded = emu.get_prediction(SEED_PREDICTIONS["succeeded"])
        seeded["input"]["injected"] = True
        added = emu.add_prediction("alice/text-echo", output={"text": "hi"})
        added["output"]["text"] = "changed"
        model = emu.get_model("alice", "text-echo")
        model["latest_version"]["schemas"] = None

        async with AsyncClient(emu.access_token, emu.base_url) as client:
            number = version["number"]
            served = await client.request(
                "GET", f"/models/alice/text-echo/versions/{number}"
            )
            assert served["schemas"]["prediction"]["input"]["properties"] == {}
            prediction = await client.predictions.get(SEED_PREDICTIONS["succeeded"])
            assert "injected" not in prediction.input
            assert (await client.predictions.get(added["id"])).output == {"text": "hi"}
        assert emu.get_model("alice", "text-echo")["latest_version"]["schemas"]


# -- with, without async -----------------------------------------------------------


def test_a_plain_with_says_how_to_use_it() -> None:
    # It used to be Python's "does not support the context manager protocol".
    with pytest.raises(TypeError, match=r"run_in_thread\(\)") as caught, Emulator():
        pass  # pragma: no cover
    assert "async with Emulator()" in str(caught.value)


# -- faults that could never apply -------------------------------------------------


def _injections(emu: Emulator) -> list[Callable[..., Any]]:
    return [
        emu.inject,
        emu.inject_disconnect,
        lambda **kw: emu.inject_delay(0.1, **kw),
        lambda **kw: emu.inject_stream_cut(1, **kw),
        emu.inject_stream_replay,
    ]


@pytest.mark.parametrize("times", [0, -1, 1.5, True])
def test_a_count_below_one_is_refused(times: Any) -> None:
    # times=0 answered one request all the same: the count was lowered, then
    # found to be spent, after the fault had been used. True is no count.
    emu = Emulator(seed=False)
    for inject in [*_injections(emu), emu.inject_outcome]:
        with pytest.raises(ValueError, match="times must be an int >= 1"):
            inject(times=times)


@pytest.mark.parametrize(
    "path",
    [
        "models/alice",  # no leading slash
        "/models/alice?page_size=5",  # a query is never part of the path
        "http://127.0.0.1:8000/v1/models/alice",  # a URL
    ],
)
def test_a_path_that_could_never_match_is_refused(path: str) -> None:
    emu = Emulator(seed=False)
    for inject in _injections(emu):
        with pytest.raises(ValueError, match="matched against the request's path"):
            inject(path=path)


async def test_the_paths_users_write_still_match() -> None:
    async with Emulator() as emu:
        emu.inject(503, path="/v1/models/alice/text-echo", times=None)
        emu.inject(502, path="/models/bo?/*", times=None)  # ? is one character
        async with AsyncClient(emu.access_token, emu.base_url, max_retries=0) as c:
            for ref in ("alice/text-echo", "bob/bob-llm"):
                with pytest.raises(ServerError):
                    await c.models.get(ref)
        assert [r.fault for r in emu.requests] == ["status", "status"]


# -- a port already taken ----------------------------------------------------------


async def test_a_port_in_use_names_the_address_and_the_fix() -> None:
    # It was the bare "[Errno 98] Address already in use", as two pytest-xdist
    # workers given one fixed port both met.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        emu = Emulator(port=port)
        with pytest.raises(OSError) as caught:
            await emu.start()
    assert caught.value.errno == errno.EADDRINUSE
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert "port=0" in message
    with pytest.raises(RuntimeError):
        emu.base_url  # noqa: B018  (nothing is left half started)


def test_a_port_in_use_fails_the_threaded_start_too() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(OSError, match=f"127.0.0.1:{port}"),
            Emulator(port=port).run_in_thread(),
        ):
            pass  # pragma: no cover


# -- predictions created over HTTP that do not succeed -----------------------------


async def test_an_injected_outcome_ends_the_next_created_prediction() -> None:
    # Every prediction created over HTTP used to succeed: a user's handling
    # of a failed one could not be tested through their own create call.
    async with Emulator(prediction_duration=0.05) as emu:
        failure = emu.inject_outcome(model="alice/text-echo")
        emu.inject_outcome("succeeded", output=["a", "b"], model="alice/image-gen")
        async with AsyncClient(emu.access_token, emu.base_url) as client:
            other = await client.predictions.create(
                "alice/image-gen", {"prompt": "x"}, wait=True
            )
            failed = await client.predictions.create(
                "alice/text-echo", {"prompt": "hi"}, wait=True
            )
            normal = await client.predictions.create(
                "alice/text-echo", {"prompt": "hi"}, wait=True
            )
            events = await client.predictions.create(
                "alice/text-echo", {"prompt": "one two"}, stream=True
            )
            async with events:
                streamed = [event.event async for event in events]
            emu.inject_outcome(times=None)
            emu.clear_faults()  # outcomes too
            cleared = await client.predictions.create(
                "alice/text-echo", {"prompt": "hi"}, wait=True
            )
    assert (other.status, other.output) == ("succeeded", ["a", "b"])
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.message == "Injected failure"
    assert (normal.status, normal.output) == ("succeeded", {"prompt": "hi"})
    assert streamed[-1] == "done"
    assert cleared.status == "succeeded"
    assert failure.hits == 1


async def test_an_injected_failure_ends_a_stream_with_its_error() -> None:
    async with Emulator(prediction_duration=0.05) as emu:
        emu.inject_outcome(error={"source": "external", "message": "OOM"})
        async with AsyncClient(emu.access_token, emu.base_url) as client:
            events = await client.predictions.create(
                "alice/text-echo", {"prompt": "one two"}, stream=True
            )
            async with events:
                seen = [event async for event in events]
    assert [e.event for e in seen][-1] == "error"
    assert "OOM" in str(seen[-1].data)


def test_an_outcome_is_checked_when_injected() -> None:
    emu = Emulator(seed=False)
    with pytest.raises(ValueError, match="status must be one of"):
        emu.inject_outcome("started")
    with pytest.raises(ValueError, match="times must be"):
        emu.inject_outcome(times=0)
    with pytest.raises(ValueError, match="owner/name"):
        emu.inject_outcome(model="text-echo")


# -- a sync Client pointed at an emulator on its own thread's loop -----------------


async def test_a_sync_call_to_an_emulator_on_this_loop_is_refused_at_once() -> None:
    # The call blocks the thread, so the loop serving the emulator cannot run:
    # it used to wait out its whole timeout and end in APITimeoutError.
    async with Emulator() as emu:
        with Client(emu.access_token, emu.base_url, timeout=1) as client:
            with pytest.raises(RuntimeError, match="run_in_thread") as caught:
                client.models.get("alice/text-echo")
            assert "serving " + emu.base_url.removesuffix("/v1") in str(caught.value)
            pages = client.models.list_for_user("alice")
            with pytest.raises(RuntimeError, match="AsyncClient there"):
                next(iter(pages))
            # The same client, to an emulator on a thread of its own: served.
            with (
                Emulator().run_in_thread() as threaded,
                Client(threaded.access_token, threaded.base_url) as other,
            ):
                assert other.models.get("alice/text-echo").name == "text-echo"
        assert emu.requests == []


async def test_a_closed_emulator_no_longer_counts_as_served_here() -> None:
    emu = Emulator()
    async with emu:
        origin = Client(emu.access_token, emu.base_url)._async_client.session.origin
        assert origin in _portal._self_served[asyncio.get_running_loop()]
    assert asyncio.get_running_loop() not in _portal._self_served
    # A second one on the same loop: each is withdrawn on its own close.
    async with Emulator() as first, Emulator() as second:
        loop = asyncio.get_running_loop()
        assert len(_portal._self_served[loop]) == 2
        await first.close()
        assert len(_portal._self_served[loop]) == 1
        await first.close()  # twice: still one
        assert len(_portal._self_served[loop]) == 1
        assert second.base_url.startswith("http://127.0.0.1:")
    assert loop not in _portal._self_served
