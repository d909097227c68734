"""Bounded concurrency for the bulk helpers, results as they complete.

``bounded_map`` runs at most ``concurrency`` calls at once, yields a
:class:`BulkResult` for each item as soon as it is done (not in input order),
and reports a failing item in its result instead of aborting the batch. When
the consumer stops early, the calls still running are cancelled and awaited
before the generator returns: no task or connection is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sized
from typing import Generic, TypeVar

import attrs

from ._checks import check_int
from ._repr import install_bounded_repr

__all__ = ["BulkResult", "ProgressCallback", "bounded_map", "check_bulk_args"]

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
        value: the result when the call succeeded, else ``None``.
        error: the exception when it failed (a ``WriftAIError``, or the
            ``ValueError`` of a malformed key), else ``None``.

    Example::

        async for result in client.models.list_for_users(["alice", "bob"]):
            if result.ok:
                print(result.key, len(result.value))
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
    if on_progress is not None and not callable(on_progress):
        raise TypeError(
            f"on_progress must be callable, not {type(on_progress).__name__}"
        )
    if isinstance(keys, (str, bytes)):
        raise TypeError("expected a list of ids or names, not a single str")
    if not isinstance(keys, Iterable):
        raise TypeError(f"expected a list of ids or names, not {type(keys).__name__}")


def bounded_map(
    keys: Iterable[str],
    call: Callable[[str], Awaitable[T]],
    concurrency: int,
    on_progress: ProgressCallback | None = None,
) -> AsyncIterator[BulkResult[T]]:
    """Yield ``BulkResult(key, await call(key))`` for every key, as they finish."""
    check_bulk_args(keys, concurrency, on_progress)
    return _bounded_map(keys, call, concurrency, on_progress)


async def _bounded_map(
    keys: Iterable[str],
    call: Callable[[str], Awaitable[T]],
    concurrency: int,
    on_progress: ProgressCallback | None,
) -> AsyncIterator[BulkResult[T]]:
    total = len(keys) if isinstance(keys, Sized) else None
    source = iter(keys)
    running: dict[asyncio.Future[T], str] = {}
    done_count = 0

    def start_next() -> bool:
        for key in source:
            running[asyncio.ensure_future(call(key))] = key
            return True
        return False

    try:
        while len(running) < concurrency and start_next():
            pass
        while running:
            finished, _ = await asyncio.wait(
                running, return_when=asyncio.FIRST_COMPLETED
            )
            for future in finished:
                key = running.pop(future)
                exc = future.exception()
                if exc is None:
                    result: BulkResult[T] = BulkResult(key, future.result())
                elif isinstance(exc, Exception):
                    result = BulkResult(key, None, exc)
                else:  # KeyboardInterrupt, SystemExit: not an item's failure
                    raise exc
                done_count += 1
                if on_progress is not None:
                    on_progress(done_count, total)
                start_next()
                yield result
    finally:
        for future in running:
            future.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
