"""What every resource shares: its session and typed request helpers."""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from .._converter import structure
from .._objects import Page
from .._pagination import Pager
from .._session import AsyncSession, Params, refuse_pickling

__all__ = ["AsyncResource", "Query"]

T = TypeVar("T")

#: A listing's query pairs (``_params.page_query``), ``None`` when empty.
Query = list[tuple[str, str]] | None


class AsyncResource:
    """Base of the resource classes: holds the :class:`AsyncSession`."""

    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._session!r})"

    def __reduce__(self) -> NoReturn:
        # It holds the client's session (and so its token): see the client.
        refuse_pickling(self)

    async def _get(self, path: str, cls: Any, params: Params = None) -> Any:
        return structure(await self._session.request("GET", path, params=params), cls)

    async def _page(self, path: str, item: type[T], params: Params = None) -> Page[T]:
        data = await self._session.request("GET", path, params=params)
        if type(data) is list:
            # Some endpoints answered a bare list on older servers: one page.
            data = {"items": data, "next_cursor": None, "previous_cursor": None}
        return structure(data, Page[item])  # type: ignore[valid-type]

    def _list(self, path: str, item: type[T], query: Query) -> Pager[T]:
        """Every item of every page at ``path``: the one listing helper.

        ``query`` is the first page's, built (and so checked) by the caller
        before any request; each next page adds its cursor in front, as
        ``page_query`` puts it.
        """

        async def fetch(cursor: str | None) -> Page[T]:
            params = query if cursor is None else [("cursor", cursor), *(query or ())]
            return await self._page(path, item, params)

        return Pager(fetch, max_items=self._session.max_listing_items)

    async def _send(
        self, method: str, path: str, body: Any, cls: Any, **kwargs: Any
    ) -> Any:
        data = await self._session.request(method, path, json=body, **kwargs)
        return structure(data, cls)
