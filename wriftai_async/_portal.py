"""The sync facade's engine: a private event loop on a daemon thread.

Each sync ``Client`` owns one :class:`Portal`. The portal starts its loop
thread on first use; every sync call hands the *function and its arguments*
to that loop (the coroutine is created there, so a call refused because the
client is closed leaves no "coroutine was never awaited" warning) and blocks
until the result comes back. The caller's own thread may be running an
asyncio loop of its own: it is simply blocked, never re-entered.

Why our own loop thread and not anyio's ``start_blocking_portal()``: medians
from ``benchmarks/sync_overhead.py`` (2-core machine, Python 3.11, anyio 4.16,
aiohttp 3.14, emulator in the same process; interleaved batches, 4 runs)::

    per call                      this Portal   bare loop thread*   anyio portal
    no-op coroutine                21-22 µs          25-27 µs        56-58 µs
    client.predictions.get        228-408 µs       231-399 µs      285-464 µs

    * asyncio.run_coroutine_threadsafe(coro, loop).result()

(The spread of the ``get`` row is machine load between runs; within a run
anyio was 1.1-1.3x slower there, 2.7x on the no-op.) anyio also fails the
interrupt case: ``BlockingPortal.call`` waits on a future it has already
marked running, so ``KeyboardInterrupt`` while waiting leaves the request
running on the loop, and the future can no longer be cancelled from outside. A bare
``run_coroutine_threadsafe`` is as fast but needs the coroutine built in the
caller thread; the submit below hands over the function and its arguments.

Lifetime: ``Portal.close()`` cancels what is still running, closes the async
generators and the ``AsyncClient`` (through the ``aclose`` callback), then
stops and joins the thread. A portal that is garbage-collected or still open
at interpreter exit is closed by a ``weakref.finalize`` hook, which emits a
``ResourceWarning`` as an unclosed file does.

Fork: the loop thread does not survive ``os.fork()`` and the connections
belong to the parent, so a portal started before the fork refuses every call
in the child with a ``RuntimeError`` saying so (instead of waiting forever for
a thread that is gone); closing it there is a no-op. One never started before
the fork starts its own loop in the child.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import os
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any, Literal, ParamSpec, TypeVar

__all__ = ["Portal"]

T = TypeVar("T")
P = ParamSpec("P")

# After an interrupted call asks its task to cancel, wait this long for the
# task to end, so the interrupt surfaces with the request really gone.
_CANCEL_GRACE = 1.0
# close() waits this long for the loop thread to finish its cleanup.
_JOIN_TIMEOUT = 10.0


class _Done(enum.Enum):
    DONE = enum.auto()


_DONE: Literal[_Done.DONE] = _Done.DONE


class _CallFuture(concurrent.futures.Future[Any]):
    """The caller's view of one call, plus the loop-side task once started.

    It stays PENDING while the task runs (as in ``run_coroutine_threadsafe``),
    so the caller can still ``cancel()`` it after an interrupt.
    """

    task: asyncio.Task[Any] | None = None


def _copy_outcome(future: _CallFuture, task: asyncio.Task[Any]) -> None:
    if future.cancelled():
        return
    # The caller may cancel between the check above and the set below.
    with contextlib.suppress(concurrent.futures.InvalidStateError):
        if task.cancelled():
            future.cancel()
        elif (exc := task.exception()) is not None:
            future.set_exception(exc)
        else:
            future.set_result(task.result())


async def _anext(iterator: AsyncIterator[T]) -> T | Literal[_Done.DONE]:
    # A Future cannot carry StopAsyncIteration across threads cleanly (and a
    # coroutine should not raise it), so the end is a sentinel value.
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _DONE


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    aclose: Callable[[], Awaitable[object]] | None = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class _Runner:
    """The state behind a :class:`Portal`: loop, thread, closed flag.

    Kept apart from ``Portal`` so that neither the loop thread nor the
    finalizer holds a reference to the ``Portal`` itself: the portal can then
    be garbage-collected while its thread is running, which is what lets the
    finalizer detect a client that was never closed.
    """

    def __init__(self, aclose: Callable[[], Awaitable[None]] | None, owner: str):
        self.owner = owner
        self._aclose = aclose
        # Guards start, close and every submit: once `closed` is set under it,
        # nothing more is scheduled, so no submitted call can be left unrun.
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        # The process that started the loop thread: after os.fork() the child
        # has neither that thread nor its own connections (see `forked`).
        self._pid: int | None = None
        self._background: set[asyncio.Future[None]] = set()
        self.closed = False

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def forked(self) -> bool:
        """Whether this is a child of the process that started the loop."""
        return self._pid is not None and self._pid != os.getpid()

    def _closed_error(self) -> RuntimeError:
        return RuntimeError(f"this {self.owner} is closed; create a new one")

    def _forked_error(self) -> RuntimeError:
        # The loop thread did not survive the fork and the open connections
        # belong to the parent: waiting would hang, sharing sockets would mix
        # two processes' bytes. Refuse, and say what to do instead.
        return RuntimeError(
            f"this {self.owner} was used before os.fork() and cannot be used in "
            f"the child process; create a new {self.owner} there"
        )

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run, args=(loop,), name="wriftai-sync-portal", daemon=True
        )
        thread.start()  # returns once the thread runs, so `ident` is set
        self._loop, self._thread, self._thread_id = loop, thread, thread.ident
        self._pid = os.getpid()
        return loop

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # Reached after close() stops the loop, or if the loop died: either
            # way refuse new calls before draining what was submitted.
            with self._lock:
                self.closed = True
            try:
                loop.run_until_complete(self._shutdown(loop))
            finally:
                loop.close()

    async def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        # Let submits queued before `closed` was set run (and be refused).
        await asyncio.sleep(0)
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks(loop) if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loop.shutdown_asyncgens()
        if self._aclose is not None:
            try:
                await self._aclose()
            except Exception as exc:  # nobody is waiting for it: log, go on
                loop.call_exception_handler(
                    {"message": f"closing the {self.owner} failed", "exception": exc}
                )
        await loop.shutdown_default_executor()

    def _submit(
        self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
    ) -> _CallFuture:
        if threading.get_ident() == self._thread_id:
            # Blocking here would wait for the very loop this code runs on.
            raise RuntimeError(
                f"a sync {self.owner} method was called from its own event loop "
                "thread; use AsyncClient there"
            )
        future = _CallFuture()
        with self._lock:
            if self.forked:
                raise self._forked_error()
            if self.closed:
                raise self._closed_error()
            loop = self._loop or self._start()
            loop.call_soon_threadsafe(self._start_task, future, fn, args, kwargs)
        return future

    def _start_task(
        self,
        future: _CallFuture,
        fn: Callable[..., Awaitable[Any]],
        args: Any,
        kwargs: Any,
    ) -> None:
        if future.cancelled():  # interrupted before the loop got to it
            return
        if self.closed:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(self._closed_error())
            return
        try:
            task = asyncio.ensure_future(fn(*args, **kwargs))
        except BaseException as exc:  # e.g. a TypeError for bad arguments
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # SystemExit and the like still stop the loop
            return
        future.task = task
        task.add_done_callback(lambda t: _copy_outcome(future, t))

    def call(self, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T:
        return self.wait(self._submit(fn, args, kwargs))  # type: ignore[no-any-return]

    def submit(
        self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
    ) -> _CallFuture:
        """Start ``fn`` on the loop without waiting (see :meth:`wait`)."""
        return self._submit(fn, args, kwargs)

    def wait(self, future: _CallFuture) -> Any:
        """The outcome of a submitted call; an interrupt cancels it."""
        try:
            result = future.result()
        except concurrent.futures.CancelledError:
            if self.closed:
                raise RuntimeError(
                    f"the {self.owner} was closed while this call was running"
                ) from None
            raise
        except BaseException:
            if not future.done():  # interrupted while waiting, not an error
                self._cancel(future)
            raise
        return result

    def _cancel(self, future: _CallFuture) -> None:
        """Cancel the loop-side task of an interrupted call and wait a little."""
        if threading.get_ident() == self._thread_id:
            # Garbage collection on the loop thread: cancel, never block it.
            future.cancel()
            if future.task is not None:
                future.task.cancel()
            return
        finished = threading.Event()

        def cancel_task() -> None:
            task = future.task
            if task is None or task.done():
                finished.set()
            else:
                task.add_done_callback(lambda _: finished.set())
                task.cancel()

        future.cancel()  # a not-yet-started call is then never started
        with self._lock:
            if self.closed or self._loop is None:
                return
            self._loop.call_soon_threadsafe(cancel_task)
        finished.wait(_CANCEL_GRACE)

    def aclose_iterator(self, iterator: AsyncIterator[Any]) -> None:
        """Close an async generator on the loop, waiting unless on the loop."""
        if self.closed or self.forked:  # shutdown_asyncgens() took care of it
            return
        if threading.get_ident() == self._thread_id:
            # Garbage collection ran the sync generator's cleanup on the loop
            # thread itself: it must not block here, so schedule and go.
            task = asyncio.ensure_future(_aclose(iterator))
            self._background.add(task)  # the loop keeps only a weak reference
            task.add_done_callback(self._background.discard)
            return
        try:
            self.call(_aclose, (iterator,), {})
        except RuntimeError:
            if not self.closed:  # closed meanwhile: shutdown_asyncgens() ran
                raise

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            loop, thread = self._loop, self._thread
            if loop is None or self.forked:
                return  # a forked child owns no thread to stop
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and threading.get_ident() != self._thread_id:
            thread.join(_JOIN_TIMEOUT)


def _finalize(runner: _Runner) -> None:
    # Runs when the Portal is garbage-collected or at interpreter exit.
    if runner.closed:
        return
    if runner.forked:  # the parent process closes (or warns about) it
        runner.closed = True
        return
    try:
        # A portal never used holds no thread, loop or connection: closing it
        # is optional, so only a started one is worth a warning.
        if runner.started:
            warnings.warn(
                f"unclosed {runner.owner}: call close() or use "
                f"'with {runner.owner}() as client:'",
                ResourceWarning,
                stacklevel=2,
            )
    finally:
        runner.close()


class Portal:
    """Runs coroutines for sync code on a private loop thread.

    Args:
        aclose: awaited on the loop when the portal closes (the owner's
            ``AsyncClient.aclose``).
        owner: the name used in error and warning messages.
    """

    __slots__ = ("__weakref__", "_finalizer", "_runner")

    def __init__(
        self,
        aclose: Callable[[], Awaitable[None]] | None = None,
        *,
        owner: str = "Client",
    ) -> None:
        self._runner = _Runner(aclose, owner)
        self._finalizer = weakref.finalize(self, _finalize, self._runner)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Portal of {self._runner.owner} ({state})>"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (or the loop thread stopped)."""
        return self._runner.closed

    def call(
        self,
        fn: Callable[P, Coroutine[Any, Any, T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(*args, **kwargs)`` on the loop and return its result.

        Exceptions come back unchanged, their traceback extended by the
        caller's frames. An exception raised in this thread while waiting
        (``KeyboardInterrupt`` from Ctrl-C) cancels the task on the loop.

        Raises:
            RuntimeError: the portal is closed, or was closed during the call.
        """
        return self._runner.call(fn, args, kwargs)

    def iterate(self, iterator: AsyncIterator[T]) -> Generator[T, None, None]:
        """Iterate ``iterator`` from sync code.

        A :class:`~wriftai_async._pagination.Pager` crosses to the loop once
        per page (its ``next_batch``) and fetches one page ahead: the next
        page is requested when the current one is handed over, so it arrives
        while the caller works. Any other async iterator crosses once per
        item.

        Closing the returned generator early (``break``, ``close()``, garbage
        collection) ``aclose()``-s the async generator on the loop.
        """
        if self._runner.closed:
            raise self._runner._closed_error()
        return self._iterate(iterator)

    def _iterate(self, iterator: AsyncIterator[T]) -> Generator[T, None, None]:
        runner = self._runner
        # A pager hands over a page per call: one thread hop per page, not
        # per item (measured: about 60 µs of CPU per hop).
        next_batch = getattr(iterator, "next_batch", None)
        ahead: _CallFuture | None = None
        try:
            if next_batch is not None:
                ahead = runner.submit(next_batch, (), {})
                while batch := runner.wait(ahead):
                    # One page ahead: the loop fetches the next page while the
                    # caller works through this one.
                    ahead = runner.submit(next_batch, (), {})
                    yield from batch
                ahead = None
                return
            while True:
                item = runner.call(_anext, (iterator,), {})
                if item is _DONE:
                    return
                yield item
        except GeneratorExit:
            self._stop_ahead(ahead)
            runner.aclose_iterator(iterator)
            raise
        except BaseException:
            # The async generator has usually finished already; never let its
            # cleanup hide the exception (or KeyboardInterrupt) being raised.
            with contextlib.suppress(Exception):
                self._stop_ahead(ahead)
                runner.aclose_iterator(iterator)
            raise

    def _stop_ahead(self, ahead: _CallFuture | None) -> None:
        # The caller stopped (break, close, error) with a page still being
        # fetched: cancel it, so no task or connection outlives the loop.
        if ahead is not None and not ahead.done() and not self._runner.forked:
            self._runner._cancel(ahead)

    def close(self) -> None:
        """Cancel what is running, close the owner, stop the thread.

        Idempotent. Calls made afterwards raise ``RuntimeError``.
        """
        self._finalizer.detach()
        self._runner.close()
