"""The one cursor loop every listing uses.

A listing has a page method (``list_page`` and friends, returning a
:class:`~wriftai_async.Page`) and a :class:`Pager` built here from it. The
pager asks for the next page only when the consumer has taken every item of
the current one, and holds one page at a time: memory stays constant for any
number of pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from ._errors import ResponseDecodeError
from ._objects import Page

__all__ = ["Pager", "paginate"]

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[Page[T]]]

_END: Any = object()


class Pager(AsyncIterator[T], Generic[T]):
    """Every item of every page, as an async iterator.

    Besides ``async for``, :meth:`next_batch` hands over the rest of the
    current page at once: the sync facade uses it to cross from its event
    loop thread once per page instead of once per item.
    """

    __slots__ = ("_cursor", "_exhausted", "_fetch", "_items")

    def __init__(self, fetch_page: FetchPage[T], cursor: str | None = None) -> None:
        self._fetch = fetch_page
        self._cursor = cursor
        self._items: Iterator[T] = iter(())
        self._exhausted = False

    def __aiter__(self) -> Pager[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            item = next(self._items, _END)
            if item is not _END:
                return item
            if not await self._load():
                raise StopAsyncIteration

    async def next_batch(self) -> list[T]:
        """The items not yet taken from the current page, or the next page's.

        Returns ``[]`` at the end. Requests a page only when none is left.
        """
        while True:
            rest = list(self._items)
            if rest:
                return rest
            if not await self._load():
                return []

    async def aclose(self) -> None:
        """Stop: no further page is requested."""
        self._exhausted = True
        self._items = iter(())

    async def _load(self) -> bool:
        if self._exhausted:
            return False
        cursor = self._cursor
        page = await self._fetch(cursor)
        next_cursor = page.next_cursor
        if not next_cursor:
            self._exhausted = True
        elif next_cursor == cursor:
            # A server bug would otherwise make this loop forever.
            raise ResponseDecodeError(
                f"the server returned the same cursor twice ({cursor!r})"
            )
        self._cursor = next_cursor
        self._items = iter(page.items)
        return True


def paginate(fetch_page: FetchPage[T], cursor: str | None = None) -> Pager[T]:
    """Iterate over every item of every page, starting at ``cursor``.

    ``fetch_page(cursor)`` returns one page. Breaking out of the loop stops
    it: no further page is requested.
    """
    return Pager(fetch_page, cursor)
