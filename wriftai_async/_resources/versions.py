"""Model versions: list, get, create, delete, configuration."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from .._checks import check_mapping
from .._objects import ModelVersion, ModelVersionDetails, Page, VersionConfiguration
from .._params import (
    UNSET,
    UnsetType,
    join_path,
    page_query,
    parse_model,
    parse_version,
    patch_body,
)
from ._base import AsyncResource

__all__ = ["AsyncVersions"]


def _versions_path(model: str) -> str:
    owner, name = parse_model(model)
    return join_path("models", owner, name, "versions")


class AsyncVersions(AsyncResource):
    """Operations on model versions, as ``client.versions``."""

    __slots__ = ()

    async def list_page(
        self, model: str, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[ModelVersion]:
        """One page of the versions of ``model`` (``"owner/name"``)."""
        params = page_query(cursor, page_size)
        return await self._page(_versions_path(model), ModelVersion, params)

    def list(
        self, model: str, *, page_size: int | None = None
    ) -> AsyncIterator[ModelVersion]:
        """Every version of ``model``, page after page.

        Example::

            async for version in client.versions.list("alice/upscaler"):
                print(version.number, version.release_notes)
        """
        path = _versions_path(model)
        return self._list(path, ModelVersion, page_query(None, page_size))

    async def get(self, version: str) -> ModelVersionDetails:
        """Get a version with its schemas: ``"owner/name:number"``.

        Example::

            v = await client.versions.get("alice/upscaler:2")
            print(v.input_schema)
        """
        owner, name, number = parse_version(version)
        path = join_path("models", owner, name, "versions", str(number))
        result: ModelVersionDetails = await self._get(path, ModelVersionDetails)
        return result

    async def create(
        self,
        model: str,
        *,
        release_notes: str,
        container_image_digest: str,
        schemas: Mapping[str, Any],
        configuration: Mapping[str, Any] | UnsetType = UNSET,
        compatibilities: Mapping[str, bool] | UnsetType = UNSET,
    ) -> ModelVersionDetails:
        """Publish a new version of ``model`` (``"owner/name"``).

        Args:
            release_notes: what changed.
            container_image_digest: ``"sha256:..."`` of the image to run.
            schemas: ``{"prediction": {"input": {...}, "output": {...}}}``.
            configuration: newer servers: ``{"hardware_identifier": ...}``.
            compatibilities: newer servers: API compatibility flags.
        """
        body = patch_body(
            {
                "release_notes": release_notes,
                "container_image_digest": container_image_digest,
                "schemas": dict(check_mapping(schemas, "schemas")),
                "configuration": configuration,
                "compatibilities": compatibilities,
            }
        )
        result: ModelVersionDetails = await self._send(
            "POST", _versions_path(model), body, ModelVersionDetails
        )
        return result

    async def delete(self, version: str) -> None:
        """Delete a version: ``"owner/name:number"``."""
        owner, name, number = parse_version(version)
        path = join_path("models", owner, name, "versions", str(number))
        await self._session.request("DELETE", path)

    async def get_configuration(self, version: str) -> VersionConfiguration:
        """How a version runs: its hardware and the variables it gets.

        Example::

            config = await client.versions.get_configuration("alice/upscaler:2")
            print(config.hardware_identifier, config.variable_names)
        """
        owner, name, number = parse_version(version)
        path = join_path(
            "models", owner, name, "versions", str(number), "configuration"
        )
        result: VersionConfiguration = await self._get(path, VersionConfiguration)
        return result

    async def update_configuration(
        self,
        version: str,
        *,
        hardware_identifier: str | UnsetType = UNSET,
        variable_names: Sequence[str] | UnsetType = UNSET,
    ) -> VersionConfiguration:
        """Change a version's hardware or variables (PATCH); yours only.

        Only the keywords you pass are sent. ``variable_names`` replaces the
        whole list: pass every variable the version should get (``[]`` for
        none).

        Example::

            config = await client.versions.update_configuration(
                "alice/upscaler:2", variable_names=["openai"]
            )
        """
        owner, name, number = parse_version(version)
        if isinstance(variable_names, str):
            raise TypeError("variable_names must be a sequence of names, not a str")
        if not isinstance(variable_names, UnsetType):
            variable_names = list(variable_names)
        body = patch_body(
            {
                "hardware_identifier": hardware_identifier,
                "variable_names": variable_names,
            }
        )
        path = join_path(
            "models", owner, name, "versions", str(number), "configuration"
        )
        result: VersionConfiguration = await self._send(
            "PATCH", path, body, VersionConfiguration
        )
        return result
