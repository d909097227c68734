"""Bounded concurrency for the bulk helpers, results as they complete.

``bounded_map`` runs at most ``concurrency`` calls at once, yields a
:class:`BulkResult` for each item as soon as it is done (not in input order),
and reports a failing item in its result instead of aborting the batch. When
the consumer stops early, the calls still running are cancelled and awaited
before the generator returns: no task or connection is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from typing import Generic, TypeVar

import attrs

from ._checks import check_callback, check_int
from ._repr import install_bounded_repr

__all__ = [
    "BoundedCalls",
    "BulkResult",
    "ProgressCallback",
    "bounded_map",
    "check_bulk_args",
]

K = TypeVar("K")
T = TypeVar("T")

#: ``on_progress(done, total)``: called after each item; ``total`` is ``None``
#: when the input's length is not known in advance.
ProgressCallback = Callable[[int, "int | None"], None]


@install_bounded_repr
@attrs.frozen
class BulkResult(Generic[T]):
    """The outcome for one item of a bulk call.

    Attributes:
        key: the item it is about (an owner's username, a prediction id).
        value: the result when the call succeeded, else ``None``; typed
            ``T | None``, so read it with :meth:`unwrap` (typed ``T``) once
            ``ok`` is true.
        error: the exception when it failed (a ``WriftAIError``, or the
            ``ValueError`` of a malformed key), else ``None``.

    Example::

        async for result in client.models.list_for_users(["alice", "bob"]):
            if result.ok:
                print(result.key, len(result.unwrap()))
            else:
                print(result.key, "failed:", result.error)
    """

    key: str
    value: T | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the call for this item succeeded."""
        return self.error is None

    def unwrap(self) -> T:
        """The value, or raise the item's error."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


def check_bulk_args(keys: object, concurrency: object, on_progress: object) -> None:
    """A bulk helper's arguments, checked when it is called (not when iterated)."""
    check_int(concurrency, "concurrency", 1)
    check_callback(on_progress, "on_progress")
    if isinstance(keys, (str, bytes)):
        raise TypeError("expected a list of ids or names, not a single str")
    if not isinstance(keys, Iterable):
        raise TypeError(f"expected a list of ids or names, not {type(keys).__name__}")


def bounded_map(
    keys: Iterable[str],
    call: Callable[[str], Awaitable[T]],
    concurrency: int,
    on_progress: ProgressCallback | None = None,
) -> AsyncGenerator[BulkResult[T], None]:
    """Yield ``BulkResult(key, await call(key))`` for every key, as they finish."""
    check_bulk_args(keys, concurrency, on_progress)
    return _bounded_map(keys, call, concurrency, on_progress)


class BoundedCalls(Generic[T]):
    """``call(key)`` for every key, ``concurrency`` at a time, as they finish.

    A plain object, not an async generator, so that an async generator using
    it (``wait_many``'s rounds) owns its cleanup alone: at loop shutdown
    ``shutdown_asyncgens()`` closes every async generator at once, and a
    nested one would then be closed twice concurrently ("aclose():
    asynchronous generator is already running").
    """

    __slots__ = ("_call", "_concurrency", "_finished", "_keys", "_source", "running")

    def __init__(
        self, keys: Iterable[str], call: Callable[[str], Awaitable[T]], concurrency: int
    ) -> None:
        self._source: Iterator[str] | None = None
        self._keys = keys
        self._call = call
        self._concurrency = concurrency
        self.running: dict[asyncio.Future[T], str] = {}
        self._finished: list[asyncio.Future[T]] = []

    def _start_next(self) -> None:
        assert self._source is not None
        for key in self._source:
            self.running[asyncio.ensure_future(self._call(key))] = key
            return

    async def next(self) -> BulkResult[T] | None:
        """The next call to finish, as a result; ``None`` when all are done."""
        if self._source is None:  # the keys are read from the first call on
            self._source = iter(self._keys)
            while len(self.running) < self._concurrency:
                before = len(self.running)
                self._start_next()
                if len(self.running) == before:
                    break
        if not self._finished:
            if not self.running:
                return None
            done, _ = await asyncio.wait(
                self.running, return_when=asyncio.FIRST_COMPLETED
            )
            self._finished.extend(done)
        future = self._finished.pop()
        key = self.running.pop(future)
        self._start_next()
        exc = future.exception()
        if exc is None:
            return BulkResult(key, future.result())
        if isinstance(exc, Exception):
            return BulkResult(key, None, exc)
        raise exc  # KeyboardInterrupt, SystemExit: not an item's failure

    async def aclose(self) -> None:
        """Cancel the calls still running and wait until they have ended."""
        running = list(self.running)
        self.running.clear()
        self._finished.clear()
        for future in running:
            future.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)


async def _bounded_map(
    keys: Iterable[str],
    call: Callable[[str], Awaitable[T]],
    concurrency: int,
    on_progress: ProgressCallback | None,
) -> AsyncGenerator[BulkResult[T], None]:
    total = len(keys) if isinstance(keys, Sized) else None
    calls = BoundedCalls(keys, call, concurrency)
    done_count = 0
    try:
        while (result := await calls.next()) is not None:
            done_count += 1
            if on_progress is not None:
                on_progress(done_count, total)
            yield result
    finally:
        await calls.aclose()
