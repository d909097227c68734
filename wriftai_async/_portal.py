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
running on the loop, and the future can no longer be cancelled from outside.

Signal handlers, ``__del__`` and Ctrl-C: a Python signal handler runs in the
main thread between any two bytecodes, and a garbage-collection finalizer at
any allocation, so either may use the client while the same thread is in the
middle of a call. Hence no lock is ever held around code that can run Python
code, and the loop thread never waits for anything a caller holds: a call is
a :class:`_Call` whose outcome the loop thread hands over by releasing a
plain lock (``concurrent.futures.Future`` would make the loop thread take the
future's condition lock, which an interrupted caller may be holding). The one
lock, taken to start the loop thread, is re-entrant: a handler or finalizer
interrupting the start in its own thread starts the loop itself (or, inside
``Thread.start()``, where it cannot, gets a clear ``RuntimeError``). An
exception raised in the caller at any point after the call was handed over
(``KeyboardInterrupt``) cancels it, and is raised once the task has ended.

Lifetime: ``Portal.close()`` cancels what is still running, closes the async
generators and the ``AsyncClient`` (through the ``aclose`` callback), then
stops and joins the thread. A portal garbage-collected while still open is
closed by a ``weakref.finalize`` hook, with a ``ResourceWarning`` as for an
unclosed file: dropping a started client mid-program leaks a thread and
connections for the rest of it. At interpreter exit every portal still open
is closed *quietly*: a module-level client living as long as the process
(a web server's worker) is a normal use, not a leak. That exit hook is
registered when this module is imported, so it runs after every ``atexit``
hook registered later (they run last-in, first-out): an application's exit
hook can still use its clients. ``weakref.finalize``'s own exit hook is not
used for this, since it is registered when the first finalizer of the
process is made, often after the application's hooks, and would close the
clients before them.

Fork: the loop thread does not survive ``os.fork()`` and the connections
belong to the parent. In the child, a portal that was started in the parent
starts over on its next call: a fresh loop thread, and (through the owner's
``after_fork`` callback) a fresh ``AsyncClient`` with its own connections.
The parent's connections are left alone, neither used nor closed: closing
them could send a TLS close on a socket the parent still uses. A portal
whose owner cannot start over (an ``aclose`` without ``after_fork``) refuses
every call in the child with a ``RuntimeError`` saying so.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import enum
import inspect
import os
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from typing import Any, Literal, ParamSpec, TypeVar

__all__ = ["Portal", "serve_on_loop"]

T = TypeVar("T")
P = ParamSpec("P")
#: Scheme, host and port (``_urls.origin_key``).
Origin = tuple[str, "str | None", "int | None"]

# After an interrupted call asks its task to cancel, wait this long for the
# task to end, so the interrupt surfaces with the request really gone.
_CANCEL_GRACE = 1.0
# A caller blocked in a call checks for signals at least this often.
_WAIT_SLICE = 0.2
# close() waits this long for the loop thread to finish its cleanup.
_JOIN_TIMEOUT = 10.0

AClose = Callable[[], Awaitable[None]]


class _Done(enum.Enum):
    DONE = enum.auto()


_DONE: Literal[_Done.DONE] = _Done.DONE


class _Outcome(enum.Enum):
    RESULT = enum.auto()
    ERROR = enum.auto()
    CANCELLED = enum.auto()


class _Call:
    """One call handed to the loop: what to run, and how it ended.

    ``settle`` is the only writer of ``outcome`` and may be called from any
    thread, any number of times: the first call wins (``_claim`` is taken
    without blocking, atomically), and releasing ``_done`` wakes the caller.
    Neither lock is ever waited for by the loop thread.
    """

    __slots__ = (
        "_claim",
        "_done",
        "args",
        "cancelled",
        "fn",
        "kwargs",
        "outcome",
        "task",
    )

    def __init__(
        self, fn: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.task: asyncio.Task[Any] | None = None
        # Set by the caller when it gives up: a call not started yet is then
        # never started.
        self.cancelled = False
        self.outcome: tuple[_Outcome, Any] | None = None
        self._claim = threading.Lock()
        self._done = threading.Lock()
        self._done.acquire()

    def settle(self, kind: _Outcome, value: Any = None) -> None:
        if self._claim.acquire(blocking=False):
            self.outcome = (kind, value)
            self._done.release()

    def finish(self, task: asyncio.Task[Any]) -> None:
        """The task's done callback, on the loop thread."""
        if task.cancelled():
            self.settle(_Outcome.CANCELLED)
        elif (exc := task.exception()) is not None:
            self.settle(_Outcome.ERROR, exc)
        else:
            self.settle(_Outcome.RESULT, task.result())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the outcome (``False``: ``timeout`` seconds passed).

        In slices: a signal that arrives just before the thread blocks
        (between its last check for signals and the wait itself) would
        otherwise be handled only when the call ends, maybe an hour later;
        and on Windows Ctrl-C never interrupts an untimed wait.
        """
        if self.outcome is not None:
            return True
        if timeout is not None:
            return self._done.acquire(timeout=timeout)
        while not self._done.acquire(timeout=_WAIT_SLICE):
            pass
        return True


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


class _LoopExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor (DNS lookups), still usable at exit.

    Once interpreter exit has begun (``atexit`` hooks running), every
    ``ThreadPoolExecutor`` refuses new work, so a client used from an exit
    hook could not resolve a host name. This one then runs the function
    right away on the loop thread: slower, but the call works.
    """

    used = False  # whether it has threads to join at close

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        self.used = True
        try:
            return super().submit(fn, *args, **kwargs)
        except concurrent.futures.BrokenExecutor:
            raise
        except RuntimeError:  # "cannot schedule new futures after shutdown"
            pass
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


# The origins each event loop serves itself: an Emulator started on it with
# ``async with``. A sync call made on such a loop's own thread to one of them
# blocks the very loop that would answer it, until the call's timeout; it is
# refused at once instead (see _Runner.check_not_self_served).
_self_served: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Origin]] = (
    weakref.WeakKeyDictionary()
)
# How many are registered: the per-call test (a WeakKeyDictionary's len()
# is Python code, measured +0.3 µs a call).
_self_served_count = 0


def serve_on_loop(
    loop: asyncio.AbstractEventLoop, origin: Origin
) -> Callable[[], None]:
    """Declare that ``loop`` serves ``origin``; returns what undoes it."""
    global _self_served_count
    _self_served.setdefault(loop, []).append(origin)
    _self_served_count += 1

    def done() -> None:
        global _self_served_count
        served = _self_served.get(loop)
        if served is not None and origin in served:
            served.remove(origin)
            _self_served_count -= 1
            if not served:
                del _self_served[loop]

    return done


# The runners whose loop thread is starting or running: closed quietly at
# interpreter exit, started over in a forked child. A runner never refers to
# its Portal, so holding it here does not keep a Portal alive.
_active: set[_Runner] = set()
# In a forked child: the parent's loops, kept as they are (see above).
_left_in_parent: list[object] = []


class _Runner:
    """The state behind a :class:`Portal`: loop, thread, closed flag.

    Kept apart from ``Portal`` so that neither the loop thread nor the
    finalizer holds a reference to the ``Portal`` itself: the portal can then
    be garbage-collected while its thread is running, which is what lets the
    finalizer detect a client that was never closed.
    """

    def __init__(
        self,
        aclose: AClose | None,
        owner: str,
        after_fork: Callable[[], Callable[[], AClose] | None] | None,
        origin: Origin | None = None,
    ) -> None:
        self.owner = owner
        self.origin = origin
        self._aclose = aclose
        # A weak reference to the owner's "start over in a child" callback.
        self._after_fork = after_fork
        # Taken only to start the loop thread; re-entrant (see _start_thread).
        self._start_lock = threading.RLock()
        self._spawning = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # The process that started the loop thread: a child forked from it
        # has neither that thread nor its own connections (see `forked`).
        self._pid: int | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._executor: _LoopExecutor | None = None
        self.closed = False
        self.closed_at_exit = False

    @property
    def started(self) -> bool:
        return self._loop is not None

    @property
    def forked(self) -> bool:
        """Whether this is a child of the process that started the loop."""
        return self._pid is not None and self._pid != os.getpid()

    def on_loop_thread(self) -> bool:
        # The thread object, not its ident: a thread started after the loop
        # thread ended may be given the same ident.
        thread = self._thread
        return thread is not None and threading.current_thread() is thread

    def _closed_error(self) -> RuntimeError:
        if self.closed_at_exit:
            return RuntimeError(
                f"this {self.owner} was closed at interpreter exit (exit hooks "
                "registered before wriftai_async was imported run after that)"
            )
        return RuntimeError(f"this {self.owner} is closed; create a new one")

    def _forked_error(self) -> RuntimeError:
        # The loop thread did not survive the fork and the open connections
        # belong to the parent: waiting would hang, sharing sockets would mix
        # two processes' bytes. Refuse, and say what to do instead.
        return RuntimeError(
            f"this {self.owner} was used before os.fork() and cannot be used in "
            f"the child process; create a new {self.owner} there"
        )

    def check_usable(self) -> None:
        # Close and fork first: after either, the loop thread is gone (and a
        # new thread may carry its ident), so the thread check comes last.
        if self.closed:
            raise self._closed_error()
        if self.forked:
            raise self._forked_error()
        if self.on_loop_thread():
            # Blocking here would wait for the very loop this code runs on.
            raise RuntimeError(
                f"a sync {self.owner} method was called from its own event loop "
                "thread (a callback, or a finalizer run there); use AsyncClient "
                "there"
            )

    def check_not_self_served(self) -> None:
        """Refuse a call the calling thread's own event loop should answer.

        Only while some loop serves an emulator, so a program without one
        pays an int's truth test per call.
        """
        if not _self_served_count or self.origin is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # no loop runs in this thread: nothing to block
            return
        if self.origin in _self_served.get(running, ()):
            scheme, host, port = self.origin
            raise RuntimeError(
                f"this sync {self.owner} call would block the event loop running "
                f"in this thread, which is the loop serving {scheme}://{host}:"
                f"{port} (an Emulator started with 'async with'): it could "
                f"never answer. Use AsyncClient there, or serve the emulator "
                "from its own thread: 'with Emulator().run_in_thread() as emu:'"
            )

    # -- the loop thread -------------------------------------------------------

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None:
                self._start_thread()
            loop = self._loop
        assert loop is not None
        if self.closed:
            # close() ran meanwhile and may not have seen the new loop.
            self._stop(loop)
            raise self._closed_error()
        return loop

    def _start_thread(self) -> None:
        # Called with the start lock held. It is re-entrant: a signal handler
        # or a finalizer (the collector runs at any allocation, and a start
        # allocates a lot) may use the client in this very thread while the
        # lines below run. Such a nested call starts the thread itself; this
        # frame then finds it started and drops what it prepared.
        if self._spawning:
            # Interrupted between the check below and the end of the start:
            # the thread being started is this frame's, it cannot be waited for.
            raise RuntimeError(
                f"the {self.owner} was used from a signal handler or a finalizer "
                "that interrupted its own start; make one call before that"
            )
        if self.closed:
            raise self._closed_error()
        loop = asyncio.new_event_loop()
        executor = _LoopExecutor(thread_name_prefix="wriftai-portal")
        loop.set_default_executor(executor)
        thread = threading.Thread(
            target=self._run, args=(loop,), name="wriftai-sync-portal", daemon=True
        )
        self._spawning = True  # set before the check: no nested start after it
        try:
            if self._loop is not None:  # a nested call started it meanwhile
                loop.close()
                return
            _active.add(self)
            try:
                thread.start()
            except RuntimeError as exc:  # Python 3.12.0-1 in an atexit hook
                _active.discard(self)
                loop.close()
                raise RuntimeError(
                    f"the {self.owner} cannot start its thread now ({exc}); "
                    "make a first call before the interpreter exits"
                ) from exc
            self._executor, self._thread, self._pid = executor, thread, os.getpid()
            self._loop = loop  # published last: the fast path reads only this
        finally:
            self._spawning = False

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            # Reached after close() stops the loop, or if the loop died: either
            # way refuse new calls before draining what was submitted.
            self.closed = True
            _active.discard(self)
            try:
                loop.run_until_complete(self._shutdown(loop))
            finally:
                loop.close()

    async def _shutdown(self, loop: asyncio.AbstractEventLoop) -> None:
        # Let calls queued before `closed` was set run (and be refused).
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
        await _abort_transports_left(loop)
        executor = self._executor
        if executor is not None and executor.used:
            try:
                await loop.shutdown_default_executor()
            except RuntimeError:
                # At interpreter exit Python 3.12.0-1 refuses the thread that
                # joins the pool: its threads are idle, leave them to the exit.
                executor.shutdown(wait=False)

    # -- calls -----------------------------------------------------------------

    def submit(self, call: _Call) -> None:
        """Hand ``call`` to the loop; its outcome comes through ``call``."""
        self.check_usable()
        self.check_not_self_served()
        loop = self._loop or self._start()
        try:
            loop.call_soon_threadsafe(self._start_task, call)
        except RuntimeError:  # the loop closed meanwhile
            raise self._closed_error() from None
        if self.closed:
            # Closed while handing over: the loop may have dropped the call
            # unrun. Settle it here (a no-op if the loop got to it first).
            call.settle(_Outcome.ERROR, self._closed_error())

    def _start_task(self, call: _Call) -> None:
        if call.cancelled:  # interrupted before the loop got to it
            call.settle(_Outcome.CANCELLED)
            return
        if self.closed:
            call.settle(_Outcome.ERROR, self._closed_error())
            return
        try:
            task = asyncio.ensure_future(call.fn(*call.args, **call.kwargs))
        except BaseException as exc:  # e.g. a TypeError for bad arguments
            call.settle(_Outcome.ERROR, exc)
            if not isinstance(exc, Exception):
                raise  # SystemExit and the like still stop the loop
            return
        call.task = task
        task.add_done_callback(call.finish)

    def call(self, fn: Callable[..., Awaitable[T]], args: Any, kwargs: Any) -> T:
        call = _Call(fn, args, kwargs)
        # One `try` around the hand-over and the wait: an interrupt landing
        # anywhere after the call object exists finds it here and cancels it.
        try:
            self.submit(call)
            call.wait()
        except BaseException:  # KeyboardInterrupt (or any signal handler's)
            self.cancel(call)
            raise
        return self._outcome(call)  # type: ignore[no-any-return]

    def wait(self, call: _Call) -> Any:
        """The outcome of a submitted call; an interrupt cancels it."""
        try:
            call.wait()
        except BaseException:
            self.cancel(call)
            raise
        return self._outcome(call)

    def _outcome(self, call: _Call) -> Any:
        assert call.outcome is not None
        kind, value = call.outcome
        if kind is _Outcome.RESULT:
            return value
        if kind is _Outcome.ERROR:
            raise value
        if self.closed:
            raise RuntimeError(
                f"the {self.owner} was closed while this call was running"
            )
        raise concurrent.futures.CancelledError

    def cancel(self, call: _Call) -> None:
        """Cancel a call the caller gave up on, and wait a little for its end."""
        call.cancelled = True  # a call not yet started is then never started
        if call.outcome is not None:
            return
        if self.on_loop_thread():
            # A finalizer on the loop thread: cancel, never block it.
            if call.task is not None:
                call.task.cancel()
            return
        loop = self._loop
        if loop is None or self.forked:
            return
        try:
            # Runs after the call's own _start_task (the loop runs callbacks
            # in order), so a started task is always seen here.
            loop.call_soon_threadsafe(self._cancel_task, call)
        except RuntimeError:
            return  # the loop is closed: its shutdown cancelled everything
        call.wait(_CANCEL_GRACE)

    @staticmethod
    def _cancel_task(call: _Call) -> None:
        if call.task is not None:
            call.task.cancel()
        else:
            # Never started: either _start_task ran before this and settled
            # it (a no-op here), or it was never handed over.
            call.settle(_Outcome.CANCELLED)

    def aclose_iterator(self, iterator: AsyncIterator[Any]) -> None:
        """Close an async generator on the loop, waiting unless on the loop."""
        if self.closed or self.forked:  # shutdown_asyncgens() took care of it
            return
        if self.on_loop_thread():
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

    # -- closing, exit, fork ---------------------------------------------------

    def close(self, *, at_exit: bool = False) -> None:
        if self.closed:
            return
        self.closed_at_exit = at_exit
        self.closed = True
        _active.discard(self)
        if self.forked:
            return  # a forked child owns no thread to stop
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        self._stop(loop)
        if thread is not None and not self.on_loop_thread():
            thread.join(_JOIN_TIMEOUT)

    @staticmethod
    def _stop(loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(RuntimeError):  # already closed
            loop.call_soon_threadsafe(loop.stop)

    def start_over_after_fork(self) -> None:
        """In a forked child: forget the parent's loop, start afresh later."""
        # A thread of the parent may have held the lock: it is not here.
        self._start_lock = threading.RLock()
        self._spawning = False
        if self.closed:
            return
        if self._aclose is not None:
            # The owner's state (aiohttp session, connections) is bound to the
            # parent's loop: without a fresh one, keep refusing (`forked`).
            after_fork = self._after_fork() if self._after_fork else None
            if after_fork is None:
                return
            try:
                aclose = after_fork()
            except Exception:
                return
            # The parent's owner (through its aclose) and loop are kept, never
            # closed or collected here: collecting them would warn about a
            # session and a loop that are the parent's to close.
            _left_in_parent.append(self._aclose)
            self._aclose = aclose
        _left_in_parent.append(self._loop)
        self._loop = self._thread = self._pid = self._executor = None
        self._background = set()


async def _abort_transports_left(loop: asyncio.AbstractEventLoop) -> None:
    """Close the sockets still open on this private loop, at once.

    A TLS connection in a graceful shutdown (waiting up to 30 s for the
    peer's close_notify) outlives the loop and warns "unclosed transport"
    when collected. The client's close aborts its own (see
    ``AsyncSession._abort_sockets_left``); this catches whatever else was
    opened here (a rate-limit store's connection, say). Nothing but the
    client runs on this loop, so whatever transport is still here is ours
    to abort. ``_transports`` is the
    selector loop's table of its transports (private; an event loop without
    it is left as it was).
    """
    transports = getattr(loop, "_transports", None)
    if not transports:
        return
    for transport in list(transports.values()):
        transport.abort()  # a no-op on one already closed
    # abort() closes the socket in a callback: let it run before the loop closes.
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def _close_all_at_exit() -> None:
    for runner in list(_active):
        runner.close(at_exit=True)


def _start_over_in_child() -> None:
    for runner in list(_active):
        _active.discard(runner)
        runner.start_over_after_fork()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_start_over_in_child)


def _finalize(runner: _Runner) -> None:
    # Runs when the Portal is garbage-collected during the program.
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


def _weak(callback: Callable[[], AClose]) -> Callable[[], Callable[[], AClose] | None]:
    # A bound method held strongly would keep its owner (the Client) alive
    # through the finalizer's reference to the runner.
    if inspect.ismethod(callback):
        return weakref.WeakMethod(callback)
    return weakref.ref(callback)


class Portal:
    """Runs coroutines for sync code on a private loop thread.

    Args:
        aclose: awaited on the loop when the portal closes (the owner's
            ``AsyncClient.aclose``).
        owner: the name used in error and warning messages.
        after_fork: called in a child process (after ``os.fork()``) when the
            portal was started in the parent: it replaces whatever is bound
            to the parent's loop and returns the new ``aclose``. Held weakly.
        origin: the owner's server (``_urls.origin_key``): a call to it from
            the thread whose running loop serves it is refused (see
            :func:`serve_on_loop`).
    """

    __slots__ = ("__weakref__", "_finalizer", "_runner")

    def __init__(
        self,
        aclose: AClose | None = None,
        *,
        owner: str = "Client",
        after_fork: Callable[[], AClose] | None = None,
        origin: Origin | None = None,
    ) -> None:
        self._runner = _Runner(
            aclose,
            owner,
            _weak(after_fork) if after_fork is not None else None,
            origin,
        )
        self._finalizer = weakref.finalize(self, _finalize, self._runner)
        # Exit is handled by _close_all_at_exit (quietly, and after the
        # application's own exit hooks), not by weakref's exit hook.
        self._finalizer.atexit = False

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
        self._runner.check_usable()
        return self._iterate(iterator)

    def _iterate(self, iterator: AsyncIterator[T]) -> Generator[T, None, None]:
        runner = self._runner
        # A pager hands over a page per call: one thread hop per page, not
        # per item (measured: about 60 µs of CPU per hop).
        next_batch = getattr(iterator, "next_batch", None)
        ahead: _Call | None = None
        try:
            if next_batch is not None:
                # The call object exists before it is handed over, so an
                # interrupt at any point finds it in `ahead` and cancels it.
                ahead = _Call(next_batch, (), {})
                runner.submit(ahead)
                while batch := runner.wait(ahead):
                    # One page ahead: the loop fetches the next page while the
                    # caller works through this one.
                    ahead = _Call(next_batch, (), {})
                    runner.submit(ahead)
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

    def _stop_ahead(self, ahead: _Call | None) -> None:
        # The caller stopped (break, close, error) with a page still being
        # fetched: cancel it, so no task or connection outlives the loop.
        if ahead is not None and ahead.outcome is None:
            self._runner.cancel(ahead)

    def close(self) -> None:
        """Cancel what is running, close the owner, stop the thread.

        Idempotent. Calls made afterwards raise ``RuntimeError``.
        """
        self._finalizer.detach()
        self._runner.close()
