"""Users: look-ups and listings, and the authenticated user's own account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from .._objects import Model, Page, SortBy, SortDirection, User
from .._params import (
    UNSET,
    UnsetType,
    join_path,
    page_query,
    parse_username,
    patch_body,
    search_query,
)
from ._base import AsyncResource

__all__ = ["AsyncAuthenticatedUser", "AsyncUsers"]


class AsyncUsers(AsyncResource):
    """Operations on users, as ``client.users``."""

    __slots__ = ()

    async def get(self, username: str) -> User:
        """Get a user's public profile.

        Example::

            user = await client.users.get("alice")
        """
        result: User = await self._get(
            join_path("users", parse_username(username)), User
        )
        return result

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
    ) -> Page[User]:
        """One page of users.

        Args:
            sort_by: ``"created_at"`` (the only order the service documents
                for users, as the official client's ``UsersSortBy``).
            sort_direction: ``"asc"`` or ``"desc"``.
        """
        params = page_query(
            cursor, page_size, sort_by=sort_by, sort_direction=sort_direction
        )
        return await self._page("/users", User, params)

    def list(
        self,
        *,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
    ) -> AsyncIterator[User]:
        """Every user, page after page.

        Example::

            async for user in client.users.list(sort_direction="desc"):
                print(user.username)
        """
        query = page_query(
            None, page_size, sort_by=sort_by, sort_direction=sort_direction
        )
        return self._list("/users", User, query)

    async def search_page(
        self, q: str, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[User]:
        """One page of the users matching the search text ``q``."""
        params = search_query(cursor, page_size, q)
        return await self._page("/search/users", User, params)

    def search(self, q: str, *, page_size: int | None = None) -> AsyncIterator[User]:
        """Every user matching the search text ``q``, page after page."""
        return self._list("/search/users", User, search_query(None, page_size, q))


class AsyncAuthenticatedUser(AsyncResource):
    """The account the access token belongs to, as ``client.user``."""

    __slots__ = ()

    async def get(self) -> User:
        """The authenticated user's own profile."""
        result: User = await self._get("/user", User)
        return result

    async def update(
        self,
        *,
        username: str | UnsetType = UNSET,
        display_name: str | UnsetType | None = UNSET,
        bio: str | UnsetType | None = UNSET,
        urls: Sequence[str] | UnsetType | None = UNSET,
        location: str | UnsetType | None = UNSET,
        company: str | UnsetType | None = UNSET,
    ) -> User:
        """Change some fields of your profile (PATCH), like ``models.update``.

        Only the keywords you pass are sent; ``None`` clears a field.

        Example::

            me = await client.user.update(bio="Builds upscalers", company=None)
        """
        body = patch_body(
            {
                # The service spells the username "name" in requests.
                "name": username,
                "display_name": display_name,
                "bio": bio,
                "urls": urls,
                "location": location,
                "company": company,
            }
        )
        result: User = await self._send("PATCH", "/user", body, User)
        return result

    async def models_page(
        self, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[Model]:
        """One page of your own models, private ones included."""
        return await self._page("/user/models", Model, page_query(cursor, page_size))

    def models(self, *, page_size: int | None = None) -> AsyncIterator[Model]:
        """Every model you own, page after page."""
        return self._list("/user/models", Model, page_query(None, page_size))
