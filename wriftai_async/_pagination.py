"""The one cursor loop every listing uses.

A listing has a page method (``list_page`` and friends, returning a
:class:`~wriftai_async.Page`) and an iterator built here from it. The iterator
asks for the next page only when the consumer has taken every item of the
current one, and holds one page at a time: memory stays constant for any
number of pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from ._errors import ResponseDecodeError
from ._objects import Page

__all__ = ["paginate"]

T = TypeVar("T")

FetchPage = Callable[[str | None], Awaitable[Page[T]]]


async def paginate(
    fetch_page: FetchPage[T], cursor: str | None = None
) -> AsyncIterator[T]:
    """Yield every item of every page, starting at ``cursor``.

    ``fetch_page(cursor)`` returns one page. Breaking out of the loop (or
    ``aclose()``) stops it: no further page is requested.
    """
    while True:
        page = await fetch_page(cursor)
        next_cursor = page.next_cursor
        items = page.items
        del page  # hold the items only while they are being yielded
        for item in items:
            yield item
        if not next_cursor:
            return
        if next_cursor == cursor:
            # A server bug would otherwise make this loop forever.
            raise ResponseDecodeError(
                f"the server returned the same cursor twice ({cursor!r})"
            )
        cursor = next_cursor
