"""The service's catalogues: hardware and model categories."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._objects import Category, Hardware, Page
from .._params import page_query
from ._base import AsyncResource

__all__ = ["AsyncCategories", "AsyncHardware"]


class AsyncHardware(AsyncResource):
    """The hardware models can run on, as ``client.hardware``."""

    __slots__ = ()

    async def list_page(
        self, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[Hardware]:
        """One page of hardware."""
        return await self._page("/hardware", Hardware, page_query(cursor, page_size))

    def list(self, *, page_size: int | None = None) -> AsyncIterator[Hardware]:
        """Every hardware option.

        Example::

            async for hw in client.hardware.list():
                print(hw.identifier, hw.gpus)
        """
        return self._list("/hardware", Hardware, page_query(None, page_size))


class AsyncCategories(AsyncResource):
    """Model categories (newer servers), as ``client.categories``."""

    __slots__ = ()

    async def list_page(
        self, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[Category]:
        """One page of model categories."""
        params = page_query(cursor, page_size)
        return await self._page("/model_categories", Category, params)

    def list(self, *, page_size: int | None = None) -> AsyncIterator[Category]:
        """Every model category."""
        return self._list("/model_categories", Category, page_query(None, page_size))
