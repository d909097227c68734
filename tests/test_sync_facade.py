"""The sync ``Client`` and its portal, against the thread-based emulator.

The emulator must run on its own thread: a blocking sync call made from an
``async def`` test would otherwise block the very loop serving the request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from wriftai_async import (
    AsyncClient,
    Client,
    Model,
    ModelDetails,
    NotFoundError,
    PredictionDetails,
    RetryPolicy,
    ServerError,
)
from wriftai_async._portal import Portal, _Call, _Outcome
from wriftai_async._resources.models import AsyncModels
from wriftai_async._resources.predictions import AsyncPredictions
from wriftai_async.testing import SEED_PREDICTIONS, Emulator

FAST = RetryPolicy(backoff_base=0.001, backoff_max=0.01)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(cancel_delay=0.05).run_in_thread() as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator) -> Iterator[Client]:
    with Client(emu.access_token, emu.base_url, retry=FAST) as c:
        yield c


async def _other_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t is not current and not t.done()]


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def _wait_for_delayed_request(emu: Emulator) -> None:
    deadline = time.monotonic() + 5
    while not any(r.fault == "delay" for r in emu.requests):
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.005)
    time.sleep(0.02)  # the caller is now blocked waiting for the answer


def _requests(emu: Emulator, path: str) -> int:
    return sum(1 for r in emu.requests if r.path == path)


# -- where it can be called from ----------------------------------------------


def test_called_from_plain_code(client: Client) -> None:
    details = client.models.get("alice/text-echo")
    assert isinstance(details, ModelDetails)
    assert details.name == "text-echo"
    names = [m.name for m in client.models.list_for_user("alice", page_size=1)]
    assert names == ["text-echo", "fresh-model", "image-gen"]
    prediction = client.predictions.get(SEED_PREDICTIONS["succeeded"])
    assert isinstance(prediction, PredictionDetails)
    assert prediction.status == "succeeded"
    assert client.request("GET", "/models/alice/text-echo")["name"] == "text-echo"


async def test_called_inside_a_running_loop(client: Client) -> None:
    # The test's loop is blocked during each call; the portal's is not.
    caller_loop = asyncio.get_running_loop()
    details = client.models.get("alice/text-echo")
    assert details.name == "text-echo"
    assert [m.name for m in client.models.search("echo")] == ["text-echo"]
    portal_loop = client._portal.call(_running_loop)
    assert portal_loop is not caller_loop


def test_shared_by_16_threads(emu: Emulator, client: Client) -> None:
    emu.add_model("tess", "runner", versions=1)
    ids = [emu.add_prediction("tess/runner", output={"n": i})["id"] for i in range(16)]
    barrier = threading.Barrier(16)

    def work(i: int) -> list[Any]:
        barrier.wait()  # everyone calls at once
        return [client.predictions.get(ids[i]).output for _ in range(5)]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(16)))
    assert results == [[{"n": i}] * 5 for i in range(16)]


# -- interrupts ----------------------------------------------------------------


class _Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise _Interrupted


# Delivering a signal to a blocked thread needs POSIX (pthread_kill, SIGUSR1).
_SIGUSR1: int = getattr(signal, "SIGUSR1", 0)
_HANDLERS: dict[int, Any] = {
    signal.SIGINT: signal.default_int_handler,  # raises KeyboardInterrupt
    _SIGUSR1: _raise_interrupted,
}


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX only")
@pytest.mark.parametrize(
    ("signum", "expected"),
    [(signal.SIGINT, KeyboardInterrupt), (_SIGUSR1, _Interrupted)],
    ids=["KeyboardInterrupt", "other-exception"],
)
def test_interrupt_cancels_the_call(
    emu: Emulator,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    signum: int,
    expected: type[BaseException],
) -> None:
    assert threading.current_thread() is threading.main_thread()
    outcomes: list[str] = []
    original = AsyncPredictions.get

    async def spy(self: AsyncPredictions, prediction_id: str) -> PredictionDetails:
        try:
            return await original(self, prediction_id)
        except asyncio.CancelledError:
            outcomes.append(f"cancelled on {threading.current_thread().name}")
            raise

    monkeypatch.setattr(AsyncPredictions, "get", spy)
    pid = SEED_PREDICTIONS["succeeded"]
    client.predictions.get(pid)  # warm: the loop thread and a connection exist
    emu.inject_delay(5.0, method="GET", path=f"/predictions/{pid}")
    main = threading.main_thread().ident
    assert main is not None

    def interrupt_once_pending() -> None:
        _wait_for_delayed_request(emu)
        signal.pthread_kill(main, signum)

    interrupter = threading.Thread(target=interrupt_once_pending)
    previous = signal.signal(signum, _HANDLERS[signum])
    interrupter.start()
    try:
        with pytest.raises(expected):
            client.predictions.get(pid)
    finally:
        interrupter.join()
        signal.signal(signum, previous)
    # The request's task was cancelled on the portal's loop (not left to
    # finish its delayed answer), and is gone.
    assert outcomes == ["cancelled on wriftai-sync-portal"]
    assert client._portal.call(_other_tasks) == []
    # The same client goes on working (the injected delay was used up).
    assert client.predictions.get(pid).id == pid


def test_interrupt_before_the_loop_starts_the_call() -> None:
    # A call cancelled before its task exists must never start it.
    portal = Portal(owner="Test")
    started: list[int] = []

    async def record() -> None:
        started.append(1)

    gate = threading.Event()
    portal.call(asyncio.sleep, 0)
    runner = portal._runner
    runner._loop.call_soon_threadsafe(gate.wait)  # type: ignore[union-attr]
    call = _Call(record, (), {})
    runner.submit(call)
    threading.Timer(0.05, gate.set).start()
    runner.cancel(call)  # returns once the loop has refused to start it
    assert call.outcome == (_Outcome.CANCELLED, None)
    portal.call(asyncio.sleep, 0.01)
    assert started == []
    portal.close()


# -- iterators -----------------------------------------------------------------


def test_validation_raises_at_call_time(emu: Emulator, client: Client) -> None:
    before = len(emu.requests)
    with pytest.raises(ValueError, match="page_size"):
        client.models.list_for_user("alice", page_size=0)
    with pytest.raises(ValueError, match="username"):
        client.models.list_for_user("no such/user")
    assert len(emu.requests) == before


def test_break_closes_the_async_generator(
    emu: Emulator, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu.add_many_models("zed", 10)
    generators: list[Any] = []
    original = AsyncModels.list_for_user

    def spy(self: AsyncModels, owner: str, **kwargs: Any) -> AsyncIterator[Model]:
        generators.append(original(self, owner, **kwargs))
        return generators[-1]  # type: ignore[no-any-return]

    monkeypatch.setattr(AsyncModels, "list_for_user", spy)
    seen = []
    for model in client.models.list_for_user("zed", page_size=3):
        seen.append(model.name)
        if len(seen) == 3:  # the whole first page: the next item needs page 2
            break
    assert seen == ["model-0000", "model-0001", "model-0002"]
    (pager,) = generators
    # aclose()d, not merely abandoned: it will not fetch page 3 any more, and
    # the page 2 prefetch was cancelled (or had finished): nothing is left.
    assert client._portal.call(pager.next_batch) == []
    assert client._portal.call(_other_tasks) == []
    # At most one page ahead, and nothing after the break (a page 2 request
    # already on the wire when it was cancelled may still arrive: wait).
    time.sleep(0.05)
    assert _requests(emu, "/models/zed") <= 2
    # Exhausting a listing needs no aclose() and leaves nothing behind.
    assert len(list(client.models.list_for_user("zed", page_size=4))) == 10
    assert client._portal.call(_other_tasks) == []


def test_iterator_closed_early_runs_the_async_cleanup_on_the_loop() -> None:
    portal = Portal(owner="Test")
    events: list[str] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(100):
                yield i
        finally:
            events.append(threading.current_thread().name)

    it = portal.iterate(numbers())
    assert [next(it), next(it)] == [0, 1]
    del it  # garbage-collected, not explicitly closed
    assert events == ["wriftai-sync-portal"]
    it = portal.iterate(numbers())
    next(it)
    it.close()
    assert events == ["wriftai-sync-portal"] * 2
    assert portal.call(_other_tasks) == []
    portal.close()


def test_iterator_errors_propagate(emu: Emulator, client: Client) -> None:
    emu.add_many_models("zed", 4)
    emu.inject(status=404, method="GET", path="/models/zed", times=None)
    with pytest.raises(NotFoundError):
        list(client.models.list_for_user("zed"))
    assert client._portal.call(_other_tasks) == []


# -- errors --------------------------------------------------------------------


def test_errors_surface_unchanged(emu: Emulator, client: Client) -> None:
    async def async_error() -> BaseException:
        async with AsyncClient(emu.access_token, emu.base_url, retry=FAST) as ac:
            try:
                await ac.models.get("alice/nope")
            except NotFoundError as exc:
                return exc
        raise AssertionError("no error")

    expected = asyncio.run(async_error())
    with pytest.raises(NotFoundError) as info:
        client.models.get("alice/nope")
    error = info.value
    assert type(error) is type(expected)
    for attr in ("status", "detail", "method", "url", "request_id", "body"):
        assert getattr(error, attr) == getattr(expected, attr), attr
    assert str(error) == str(expected)
    frames = [f.name for f in traceback.extract_tb(error.__traceback__)]
    assert "test_errors_surface_unchanged" in frames  # the user's call
    assert "request" in frames  # ... down to where the async core raised it

    emu.inject(status=500, times=None, path="/models/alice/text-echo")
    with pytest.raises(ServerError) as server:
        client.models.get("alice/text-echo")
    assert server.value.status == 500


# -- lifetime ------------------------------------------------------------------


def test_call_after_close_raises(client: Client) -> None:
    client.models.get("alice/text-echo")
    client.close()
    client.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        client.models.get("alice/text-echo")
    with pytest.raises(RuntimeError, match="closed"):
        client.models.list_all()
    with pytest.raises(RuntimeError, match="closed"):
        client.request("GET", "/models")
    gc.collect()  # a coroutine built and dropped would warn now (an error here)


def test_close_while_a_call_is_running(emu: Emulator, client: Client) -> None:
    pid = SEED_PREDICTIONS["succeeded"]
    client.predictions.get(pid)
    emu.inject_delay(5.0, method="GET", path=f"/predictions/{pid}")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(client.predictions.get, pid)
        _wait_for_delayed_request(emu)
        client.close()
        # Closed under it: the call did not wait for its delayed answer.
        with pytest.raises(RuntimeError, match="closed while"):
            pending.result(timeout=5)


def test_calling_from_the_portal_thread_is_refused() -> None:
    portal = Portal(owner="Test")

    async def reenter() -> None:
        portal.call(asyncio.sleep, 0)

    with pytest.raises(RuntimeError, match="own event loop"):
        portal.call(reenter)
    portal.close()


def test_unclosed_client_warns_and_is_cleaned_up(emu: Emulator) -> None:
    c = Client(emu.access_token, emu.base_url, retry=FAST)
    c.models.get("alice/text-echo")
    runner = c._portal._runner
    thread = runner._thread
    assert thread is not None and thread.is_alive()
    with pytest.warns(ResourceWarning, match="unclosed Client"):
        del c
        gc.collect()
    assert runner.closed
    assert not thread.is_alive()


def test_unused_client_needs_no_close() -> None:
    # Nothing was started, so there is nothing to warn about (warnings are
    # errors in this suite).
    c = Client("token", "http://127.0.0.1:9")
    del c
    gc.collect()


def test_at_exit_a_client_serves_exit_hooks_then_closes_quietly(emu: Emulator) -> None:
    # A module-level client lives as long as the process: at exit it is closed
    # without a ResourceWarning (issue 22: every gunicorn worker exit warned),
    # and only after the application's own exit hooks, even one registered
    # before the first Client was made (issue 21 #15: its cancel got
    # "RuntimeError: closed" and was lost). A client made in an exit hook
    # still works, host name lookup included (every thread pool refuses new
    # work once the interpreter exits; Python 3.12.0-1 also refuses threads).
    pid = emu.add_prediction("alice/text-echo", status="started")["id"]
    by_name = emu.base_url.replace("127.0.0.1", "localhost")
    script = textwrap.dedent(
        f"""
        import atexit
        from wriftai_async import Client

        def on_exit():
            client.predictions.cancel({pid!r})
            print("exit hook: cancel sent", flush=True)
            try:
                with Client({emu.access_token!r}, {by_name!r}) as late:
                    print("exit hook: late", late.models.get("alice/text-echo").name)
            except RuntimeError as exc:
                print("exit hook: late refused:", exc)

        atexit.register(on_exit)
        client = Client({emu.access_token!r}, {emu.base_url!r})
        print(client.models.get("alice/text-echo").name)
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    refuses_threads = sys.version_info[:3] in ((3, 12, 0), (3, 12, 1))
    late = (
        "exit hook: late refused: the Client cannot start its thread now"
        if refuses_threads
        else "exit hook: late text-echo"
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == ["text-echo", "exit hook: cancel sent"], done.stdout
    assert lines[2].startswith(late), done.stdout
    assert ("POST", f"/predictions/{pid}/cancel") in [
        (r.method, r.path) for r in emu.requests
    ]
    for bad in ("ResourceWarning", "Traceback", "Exception ignored", "Unclosed"):
        assert bad not in done.stderr, done.stderr


def test_after_close_a_thread_reusing_the_loop_threads_ident_is_told_closed(
    client: Client,
) -> None:
    # A thread started after the loop thread ended may get the same ident;
    # it used to be told "called from its own event loop thread".
    client.models.get("alice/text-echo")
    loop_thread = client._portal._runner._thread
    assert loop_thread is not None and loop_thread.ident is not None
    client.close()
    assert not loop_thread.is_alive()
    messages: list[tuple[bool, str]] = []
    done = threading.Event()

    def call() -> None:
        reused = threading.get_ident() == loop_thread.ident
        try:
            client.models.get("alice/text-echo")
        except RuntimeError as exc:
            messages.append((reused, str(exc)))
        done.wait(10)  # alive till the end: its stack is not handed out again

    # glibc hands the most recently freed thread stack (and with it the
    # ident) to the next new thread: let the loop thread's be freed first.
    time.sleep(0.05)
    threads = []
    for _ in range(10):
        threads.append(threading.Thread(target=call))
        threads[-1].start()
        if any(reused for reused, _ in messages):
            break
    done.set()
    for thread in threads:
        thread.join()
    assert any(reused for reused, _ in messages), "no reused ident: nothing checked"
    assert {m for _, m in messages} == {"this Client is closed; create a new one"}


def test_listing_fetches_one_page_ahead_while_the_caller_works(
    emu: Emulator, client: Client
) -> None:
    emu.add_many_models("zed", 10)
    models = client.models.list_for_user("zed", page_size=3)
    assert next(models).name == "model-0000"
    # While the caller holds page 1, page 2 is fetched: and only page 2.
    deadline = time.monotonic() + 5
    while _requests(emu, "/models/zed") < 2:
        assert time.monotonic() < deadline, "page 2 was never prefetched"
        time.sleep(0.005)
    time.sleep(0.05)
    assert _requests(emu, "/models/zed") == 2
    rest = [m.name for m in models]
    assert rest == [f"model-{i:04d}" for i in range(1, 10)]
    assert _requests(emu, "/models/zed") == 4  # 4 pages, nothing more
    assert client._portal.call(_other_tasks) == []


class _PageGone(Exception):
    pass


def test_a_failing_prefetch_raises_when_its_page_is_reached() -> None:
    from wriftai_async._objects import Page
    from wriftai_async._pagination import Pager

    portal = Portal(owner="Test")
    fetched: list[str | None] = []

    async def fetch(cursor: str | None) -> Page[int]:
        fetched.append(cursor)
        if cursor is None:
            return Page(items=[1, 2], next_cursor="2")
        raise _PageGone

    items = portal.iterate(Pager(fetch))
    assert next(items) == 1
    # Page 2 was fetched (and failed) ahead, but page 1 is still all there.
    assert next(items) == 2
    with pytest.raises(_PageGone):
        next(items)
    assert fetched == [None, "2"]
    assert portal.call(_other_tasks) == []
    portal.close()


# -- fork ----------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_a_client_used_before_fork_starts_over_in_the_child(emu: Emulator) -> None:
    # gunicorn --preload: the master imports the app (whose client may make a
    # call there), then forks the workers, whose threads serve requests. In
    # a child the client starts over: its own loop thread and connections;
    # the parent's are left alone and go on working in the parent. (It used
    # to refuse every call in every worker, and a new thread of the child
    # that got the dead loop thread's ident was told "called from its own
    # event loop thread".) In a subprocess: forking the multi-threaded pytest
    # process itself is not safe; the child arms an alarm against a hang.
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys, threading
        from wriftai_async import Client
        from wriftai_async._portal import Portal

        async def noop():
            pass

        used = Client({emu.access_token!r}, {emu.base_url!r})
        closed = Client({emu.access_token!r}, {emu.base_url!r})
        unused = Client({emu.access_token!r}, {emu.base_url!r})
        bare = Portal(noop)  # owns something it cannot start over
        used.models.get("alice/text-echo")
        closed.models.get("alice/text-echo")
        closed.close()
        bare.call(noop)
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a hang becomes a failure
            print("child:", used.models.get("alice/text-echo").name, flush=True)
            names = []
            threads = [
                threading.Thread(
                    target=lambda: names.append(used.models.get("alice/text-echo").name)
                )
                for _ in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print("child threads:", names, flush=True)
            print("child listing:", len(list(used.models.list_for_user("alice"))))
            for portal in (closed._portal, bare):
                try:
                    portal.call(noop)
                except RuntimeError as exc:
                    print("child refused:", exc, flush=True)
            used.close()
            with unused:  # never used before the fork: it starts its own loop
                print("child fresh:", unused.models.get("alice/text-echo").name)
            sys.stdout.flush()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        print("parent:", used.models.get("alice/text-echo").name)
        used.close()
        unused.close()
        bare.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "child: text-echo",
        "child threads: " + str(["text-echo"] * 4),
        "child listing: 3",
        "child refused: this Client is closed; create a new one",
        "child refused: this Client was used before os.fork() and cannot be used "
        "in the child process; create a new Client there",
        "child fresh: text-echo",
        "child exit 0",
        "parent: text-echo",
    ], done.stdout
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_an_unclosed_client_in_a_forked_child_exits_quietly(emu: Emulator) -> None:
    # The child exits through the interpreter (atexit, finalizers): it must
    # neither hang on the parent's loop thread nor warn about it.
    script = textwrap.dedent(
        f"""
        import os, signal
        from wriftai_async import Client

        client = Client({emu.access_token!r}, {emu.base_url!r})
        client.models.get("alice/text-echo")
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)
            raise SystemExit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        client.close()
        """
    )
    done = subprocess.run(
        [sys.executable, "-W", "always::ResourceWarning", "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "child exit 0"
    assert "ResourceWarning" not in done.stderr, done.stderr


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX only")
def test_interrupt_while_waiting_for_the_prefetched_page() -> None:
    from wriftai_async._objects import Page
    from wriftai_async._pagination import Pager

    portal = Portal(owner="Test")
    page2_started = threading.Event()
    outcomes: list[str] = []

    async def fetch(cursor: str | None) -> Page[int]:
        if cursor is None:
            return Page(items=[1, 2], next_cursor="2")
        page2_started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            outcomes.append("page 2 cancelled")
            raise
        return Page(items=[3])

    main = threading.main_thread().ident
    assert main is not None and threading.current_thread() is threading.main_thread()

    def interrupt_once_waiting() -> None:
        assert page2_started.wait(10)
        time.sleep(0.05)  # the caller is now blocked waiting for page 2
        signal.pthread_kill(main, signal.SIGINT)

    items = portal.iterate(Pager(fetch))
    assert [next(items), next(items)] == [1, 2]
    interrupter = threading.Thread(target=interrupt_once_waiting)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(items)
    finally:
        interrupter.join()
        signal.signal(signal.SIGINT, previous)
    assert outcomes == ["page 2 cancelled"]
    assert portal.call(_other_tasks) == []
    portal.close()
