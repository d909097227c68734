"""The one cursor loop every listing uses.

A listing has a page method (``list_page`` and friends, returning a
:class:`~wriftai_async.Page`) and an iterator: a :class:`Pager` that
``AsyncResource._list`` builds from the same path and query. The pager asks
for the next page only when the consumer has taken every item of the
current one, and holds one page at a time.

Every listing ends, whatever the server answers, by a bound the caller
sees: a listing yields at most ``max_items`` items (the client's
``max_listing_items``, ``DEFAULT_MAX_LISTING_ITEMS`` unless set); an item
past it raises :class:`ListingLimitError` instead, after the items before it.
Since a listing may also hold at most ``MAX_EMPTY_PAGES`` empty pages that
name a next page (both bounds are in ``_constants.py``), it requests at most
``max_items + MAX_EMPTY_PAGES + 2`` pages (each page with items brings one
at least, the one past the bound included; one more empty page is the last
or the one refused), whatever the server's cursors: fresh cursors forever
end too.

A server bug is also caught early, before the bound: a ``next_cursor``
already seen in the same listing (``A → B → A`` as well as ``A → A``) raises
:class:`ResponseDecodeError` instead of requesting that page again (the items
of the page that named it are delivered first), and so do more than
``MAX_EMPTY_PAGES`` empty pages naming a next page. To know every cursor it
has seen, a pager keeps a 16-byte digest per page (about 100 bytes each
with the set's overhead): a listing of 10,000 pages holds about 1 MB,
whatever the cursors' length.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from ._checks import check_int
from ._constants import DEFAULT_MAX_LISTING_ITEMS, MAX_EMPTY_PAGES
from ._errors import ListingLimitError, ResponseDecodeError, WriftAIError
from ._objects import Page
from ._params import text_digest
from ._repr import bounded_repr

__all__ = ["Pager"]

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[Page[T]]]

_END: Any = object()


class Pager(AsyncIterator[T], Generic[T]):
    """Every item of every page, as an async iterator.

    Besides ``async for``, :meth:`next_batch` hands over the rest of the
    current page at once: the sync facade uses it to cross from its event
    loop thread once per page instead of once per item. Both end the same
    way on a listing that would never end (see the module docstring): with
    :class:`ResponseDecodeError` after the last page that made progress, or
    :class:`ListingLimitError` after the ``max_items``-th item.
    """

    __slots__ = (
        "_cursor",
        "_empty_pages",
        "_exhausted",
        "_fetch",
        "_items",
        "_left",
        "_max_items",
        "_pending_error",
        "_seen",
    )

    def __init__(
        self,
        fetch_page: FetchPage[T],
        cursor: str | None = None,
        *,
        max_items: int = DEFAULT_MAX_LISTING_ITEMS,
    ) -> None:
        self._fetch = fetch_page
        self._cursor = cursor
        self._items: Iterator[T] = iter(())
        self._exhausted = False
        self._empty_pages = 0  # empty pages that named a next page so far
        self._max_items = check_int(max_items, "max_listing_items", 1)
        self._left = self._max_items  # items this listing may still yield
        self._seen: set[bytes] = set()  # digests of the cursors followed
        # Raised at the next load, after the current page's items.
        self._pending_error: WriftAIError | None = None
        if cursor is not None:
            self._seen.add(text_digest(cursor))

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
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            self._exhausted = True
            raise error
        if self._exhausted:
            return False
        page = await self._fetch(self._cursor)
        items = page.items
        next_cursor = page.next_cursor
        if not next_cursor:
            self._exhausted = True
        else:
            # A server bug would otherwise make the listing loop forever.
            self._check_progress(next_cursor, bool(items))
        if len(items) > self._left:
            # Past the caller's bound: the items up to it, then the error
            # (which also ends the listing: no further page is requested).
            items = items[: self._left]
            self._pending_error = ListingLimitError(self._max_items)
        self._left -= len(items)
        self._cursor = next_cursor
        self._items = iter(items)
        return True

    def _check_progress(self, next_cursor: str, has_items: bool) -> None:
        if not isinstance(next_cursor, str):
            raise ResponseDecodeError(
                f"next_cursor is a {type(next_cursor).__name__}, not a str"
            )
        digest = text_digest(next_cursor)
        if digest in self._seen:
            self._pending_error = ResponseDecodeError(
                "the listing would never end: the server sent a next_cursor "
                f"it had already sent in it ({bounded_repr(next_cursor, 80)})"
            )
            return
        self._seen.add(digest)
        if not has_items:
            self._empty_pages += 1
        if self._empty_pages > MAX_EMPTY_PAGES:
            self._exhausted = True
            raise ResponseDecodeError(
                f"the listing would never end: {self._empty_pages} empty pages, "
                "each with a next_cursor"
            )
