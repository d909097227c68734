"""Models: get, create, update (PATCH), delete, and the model listings."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence

from .._bulk import BulkResult, ProgressCallback, bounded_map
from .._objects import Model, ModelDetails, Page, SortBy, SortDirection, Visibility
from .._params import (
    UNSET,
    UnsetType,
    join_path,
    page_query,
    parse_model,
    parse_username,
    patch_body,
    search_query,
)
from ._base import AsyncResource

__all__ = ["AsyncModels"]


def _listing_query(
    cursor: str | None,
    page_size: int | None,
    sort_by: SortBy | str | None,
    sort_direction: SortDirection | str | None,
    category_slugs: Sequence[str] | None,
) -> list[tuple[str, str]] | None:
    if isinstance(category_slugs, str):
        raise TypeError("category_slugs must be a list of slugs, not a str")
    return page_query(
        cursor,
        page_size,
        sort_by=sort_by,
        sort_direction=sort_direction,
        category_slugs=category_slugs,
    )


class AsyncModels(AsyncResource):
    """Operations on models, as ``client.models``."""

    __slots__ = ()

    async def get(self, model: str) -> ModelDetails:
        """Get a model with its overview and latest version.

        Args:
            model: ``"owner/name"``.

        Example::

            details = await client.models.get("alice/upscaler")
        """
        owner, name = parse_model(model)
        result: ModelDetails = await self._get(
            join_path("models", owner, name), ModelDetails
        )
        return result

    async def create(
        self,
        name: str,
        *,
        hardware_identifier: str | UnsetType = UNSET,
        visibility: Visibility | str | UnsetType = UNSET,
        description: str | UnsetType | None = UNSET,
        overview: str | UnsetType | None = UNSET,
        source_url: str | UnsetType | None = UNSET,
        license_url: str | UnsetType | None = UNSET,
        paper_url: str | UnsetType | None = UNSET,
        category_slugs: Sequence[str] | UnsetType = UNSET,
    ) -> ModelDetails:
        """Create a model owned by the authenticated user.

        Keywords left out are not sent (the server applies its defaults).
        ``hardware_identifier`` is sent only when given: older servers
        required it, while the current service (the official ``wriftai``
        0.34 client's ``CreateModelParams`` has no such field) sets hardware
        on a version's configuration (``versions.update_configuration``).

        Example::

            model = await client.models.create("upscaler", visibility="private")
        """
        body = patch_body(
            {
                "name": name,
                "hardware_identifier": hardware_identifier,
                "visibility": visibility,
                "description": description,
                "overview": overview,
                "source_url": source_url,
                "license_url": license_url,
                "paper_url": paper_url,
                "category_slugs": category_slugs,
            }
        )
        result: ModelDetails = await self._send("POST", "/models", body, ModelDetails)
        return result

    async def update(
        self,
        model: str,
        *,
        name: str | UnsetType = UNSET,
        visibility: Visibility | str | UnsetType = UNSET,
        description: str | UnsetType | None = UNSET,
        overview: str | UnsetType | None = UNSET,
        hardware_identifier: str | UnsetType = UNSET,
        source_url: str | UnsetType | None = UNSET,
        license_url: str | UnsetType | None = UNSET,
        paper_url: str | UnsetType | None = UNSET,
        category_slugs: Sequence[str] | UnsetType = UNSET,
    ) -> ModelDetails:
        """Change some fields of a model (PATCH) and return it in full.

        Only the keywords you pass are sent; the others stay as they are on the
        server. ``None`` is sent as JSON null, which clears a nullable field.

        Args:
            model: ``"owner/name"``.

        Example::

            # Set a description, clear the paper link, leave the rest alone.
            details = await client.models.update(
                "alice/upscaler", description="4x upscaler", paper_url=None
            )

        Raises:
            ValidationError: a value was rejected; see its ``errors``.
            NotFoundError, PermissionDeniedError: no such model / not yours.
        """
        owner, model_name = parse_model(model)
        body = patch_body(
            {
                "name": name,
                "visibility": visibility,
                "description": description,
                "overview": overview,
                "hardware_identifier": hardware_identifier,
                "source_url": source_url,
                "license_url": license_url,
                "paper_url": paper_url,
                "category_slugs": category_slugs,
            }
        )
        path = join_path("models", owner, model_name)
        result: ModelDetails = await self._send("PATCH", path, body, ModelDetails)
        return result

    async def delete(self, model: str) -> None:
        """Delete a model (``"owner/name"``)."""
        owner, name = parse_model(model)
        await self._session.request("DELETE", join_path("models", owner, name))

    async def list_page(
        self,
        owner: str,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
        category_slugs: Sequence[str] | None = None,
    ) -> Page[Model]:
        """One page of the public models of the user ``owner``.

        Sorting by ``predictions_count`` lists only models with at least one
        prediction: that is the service's rule, kept as is.

        Example::

            page = await client.models.list_page("alice", page_size=50)
            more = await client.models.list_page("alice", cursor=page.next_cursor)
        """
        path = join_path("models", parse_username(owner))
        params = _listing_query(
            cursor, page_size, sort_by, sort_direction, category_slugs
        )
        return await self._page(path, Model, params)

    def list_for_user(
        self,
        owner: str,
        *,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
        category_slugs: Sequence[str] | None = None,
    ) -> AsyncIterator[Model]:
        """Every public model of ``owner``, page after page, as they are needed.

        Example::

            async for model in client.models.list_for_user("alice"):
                print(model.name)
        """
        path = join_path("models", parse_username(owner))
        query = _listing_query(None, page_size, sort_by, sort_direction, category_slugs)
        return self._list(path, Model, query)

    def list_for_users(
        self,
        owners: Iterable[str],
        *,
        concurrency: int = 32,
        on_progress: ProgressCallback | None = None,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
        category_slugs: Sequence[str] | None = None,
    ) -> AsyncGenerator[BulkResult[list[Model]], None]:
        """Every model of many users, ``concurrency`` users at a time.

        Yields one :class:`BulkResult` per owner as soon as all of that
        owner's pages are in (not in input order): ``result.value`` is the
        list of models, or ``result.error`` says why that owner failed (an
        unknown user is a ``NotFoundError`` there; the batch goes on).
        ``on_progress(done, total)`` is called after each owner. Stopping the
        iteration early cancels the requests still running.

        Example::

            async for result in client.models.list_for_users(owners):
                if result.ok:
                    print(result.key, len(result.unwrap()))
        """
        _listing_query(None, page_size, sort_by, sort_direction, category_slugs)

        async def one(owner: str) -> list[Model]:
            return [
                model
                async for model in self.list_for_user(
                    owner,
                    page_size=page_size,
                    sort_by=sort_by,
                    sort_direction=sort_direction,
                    category_slugs=category_slugs,
                )
            ]

        return bounded_map(owners, one, concurrency, on_progress)

    async def list_all_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
        category_slugs: Sequence[str] | None = None,
    ) -> Page[Model]:
        """One page of every public model (``GET /models``)."""
        params = _listing_query(
            cursor, page_size, sort_by, sort_direction, category_slugs
        )
        return await self._page("/models", Model, params)

    def list_all(
        self,
        *,
        page_size: int | None = None,
        sort_by: SortBy | str | None = None,
        sort_direction: SortDirection | str | None = None,
        category_slugs: Sequence[str] | None = None,
    ) -> AsyncIterator[Model]:
        """Every public model on the service, page after page."""
        query = _listing_query(None, page_size, sort_by, sort_direction, category_slugs)
        return self._list("/models", Model, query)

    async def search_page(
        self, q: str, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[Model]:
        """One page of the models matching the search text ``q``."""
        params = search_query(cursor, page_size, q)
        return await self._page("/search/models", Model, params)

    def search(self, q: str, *, page_size: int | None = None) -> AsyncIterator[Model]:
        """Every model matching the search text ``q``, page after page.

        Example::

            async for model in client.models.search("upscale"):
                print(model.full_name)
        """
        return self._list("/search/models", Model, search_query(None, page_size, q))
