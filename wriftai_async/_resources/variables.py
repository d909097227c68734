"""Variables: named key/value pairs of your account, for model versions."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .._objects import Page, Variable
from .._params import (
    UNSET,
    UnsetType,
    join_path,
    page_query,
    parse_id,
    patch_body,
)
from ._base import AsyncResource

__all__ = ["AsyncVariables"]


def _parse_name(name: str) -> str:
    return parse_id(name, "variable name")


class AsyncVariables(AsyncResource):
    """The authenticated user's variables, as ``client.variables``.

    A version uses variables by name (see
    :meth:`AsyncVersions.update_configuration`); the model sees each one as
    the environment variable ``key``. The value of a secret is never sent
    back: it arrives as an empty string.
    """

    __slots__ = ()

    async def create(
        self, name: str, key: str, value: str, *, secret: bool = False
    ) -> Variable:
        """Create the variable ``name``; ``secret=True`` hides its value.

        Example::

            var = await client.variables.create(
                "openai", "OPENAI_API_KEY", "sk-...", secret=True
            )
            assert var.value == ""  # a secret's value never comes back
        """
        body = {
            "name": _parse_name(name),
            "key": key,
            "value": value,
            "secret": secret,
        }
        result: Variable = await self._send("POST", "/variables", body, Variable)
        return result

    async def update(
        self,
        name: str,
        *,
        key: str | UnsetType = UNSET,
        value: str | UnsetType = UNSET,
    ) -> Variable:
        """Change the key or value of the variable ``name`` (PATCH).

        Only the keywords you pass are sent.

        Example::

            var = await client.variables.update("openai", value="sk-new")
        """
        path = join_path("variables", _parse_name(name))
        body = patch_body({"key": key, "value": value})
        result: Variable = await self._send("PATCH", path, body, Variable)
        return result

    async def delete(self, name: str) -> None:
        """Delete the variable ``name``."""
        path = join_path("variables", _parse_name(name))
        await self._session.request("DELETE", path)

    async def list_page(
        self, *, cursor: str | None = None, page_size: int | None = None
    ) -> Page[Variable]:
        """One page of your variables."""
        return await self._page("/variables", Variable, page_query(cursor, page_size))

    def list(self, *, page_size: int | None = None) -> AsyncIterator[Variable]:
        """Every variable of yours, page after page.

        Example::

            async for var in client.variables.list():
                print(var.name, var.key, "(secret)" if var.secret else var.value)
        """
        return self._list("/variables", Variable, page_query(None, page_size))
