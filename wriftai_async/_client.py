"""AsyncClient: the entry point, holding one session and the resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any, NoReturn

import aiohttp

from ._constants import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_LISTING_ITEMS,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
)
from ._resources.catalog import AsyncCategories, AsyncHardware
from ._resources.files import AsyncFiles, AsyncUploads
from ._resources.models import AsyncModels
from ._resources.predictions import AsyncPredictions
from ._resources.users import AsyncAuthenticatedUser, AsyncUsers
from ._resources.variables import AsyncVariables
from ._resources.versions import AsyncVersions
from ._retry import RetryPolicy
from ._session import AsyncSession, Params, refuse_pickling

__all__ = ["AsyncClient"]


class AsyncClient:
    """The async WriftAI client.

    Args:
        access_token: the API token; ``None`` reads ``WRIFTAI_ACCESS_TOKEN``
            (set to ``""``: no token). An empty or blank token (argument or
            variable), one with a line break or with spaces around it raise
            ``ValueError`` naming where it came from, never showing it.
        base_url: ``None`` reads ``WRIFTAI_API_BASE_URL``, unset: the default
            ``https://api.wrift.ai/v1``. An empty value (argument or variable),
            user info, a query or a fragment raise ``ValueError`` naming it.
        max_retries: re-sends of a failed request (429, 5xx, a broken
            connection or body; a POST only if it cannot create twice), >= 0.
        timeout: seconds one call may take in all: the wait for a pooled
            connection, connecting, retries and their waits, reading and
            decoding the body. ``None`` (or ``math.inf``): no limit.
        connect_timeout: seconds to open one connection (``None``: no limit).
        headers: extra headers for every request to the API's origin, like
            the token (a request never leaves it: see redirects in README).
            A mapping of str to str, checked now, naming the header and
            never showing its value: ``TypeError`` for another type,
            ``ValueError`` for a name that is not an HTTP token, a line break
            in a value, a name given twice, ``Content-Length`` or
            ``Transfer-Encoding``, and ``Authorization`` when there is a
            token (it would be replaced; without one it is sent as given).
        retry: backoff timing (:class:`RetryPolicy`).
        connection_limit: the most connections open at once (an int >= 1).
        max_response_size: the largest response body read, in bytes after
            decompression (64 MiB); a larger one is refused, never buffered.
            A JSON body may hold at most ``max_response_size // 64`` values.
        trace_configs: a list of ``aiohttp.TraceConfig`` objects, as aiohttp
            defines them: one request per call, retries inside (README, "Logs
            and traces"). Anything else (one config not in a list, another
            object in the list) raises ``TypeError``.
        ssl: an ``ssl.SSLContext`` for every connection, the API's and the
            upload hosts' (``None``: the default verification, which reads
            ``SSL_CERT_FILE``). To trust your own certificate authority as
            well as the public ones (the upload hosts need those), build it
            with ``ssl.create_default_context()`` then
            ``load_verify_locations(cafile=...)``; ``create_default_context(
            cafile=...)`` alone trusts only that file. ``load_cert_chain``
            adds a client certificate. ``False`` is refused (``TypeError``):
            verification is never turned off, as anyone on the path could
            then read the token; so is a context that verifies nothing.
        max_listing_items: the most items one listing yields (an int >= 1;
            1,000,000 by default): the next raises ``ListingLimitError``.
        rate_limit: at most this many requests per second (a number > 0),
            retries included: for this process alone, or with
            ``rate_limit_store`` for every process sharing it and the token.
        rate_limit_store: a ``redis://host:port/db`` URL (``None`` reads
            ``WRIFTAI_RATE_LIMIT_STORE``): every process with the same token
            holds when any meets a 429, and ``rate_limit`` counts for them
            all. Needs ``wriftai-async[redis]``; if Redis fails, one warning
            is logged and each process paces itself until it is back.
        proxy: an ``http://[user:password@]host:port`` proxy for every
            request, the API's and upload parts' (``None``: see
            ``trust_env``). A bad one, or SOCKS, raises ``ValueError``;
            the password never shows in a message or a repr.
        trust_env: without ``proxy``, send each request through the proxy
            ``HTTPS_PROXY``, ``HTTP_PROXY`` or ``ALL_PROXY`` names for its
            URL, unless ``NO_PROXY`` lists its host, as the official client
            (httpx) does (README, "Behind a proxy"); read once, now.
            ``False``: no proxy from the environment.

    Each number is checked before any request: ``TypeError`` for a wrong
    type (``bool`` is not a number), ``ValueError`` for ``nan``, 0, a negative.

    Example::

        async with AsyncClient() as client:
            async for model in client.models.list_for_user("alice"):
                print(model.name)
    """

    models: AsyncModels
    """Models: get, create, update, delete, listings, search."""
    versions: AsyncVersions
    """Model versions: list, get, create, delete, configuration."""
    predictions: AsyncPredictions
    """Predictions: create, get, list, cancel, wait."""
    users: AsyncUsers
    """Users: get, list, search."""
    user: AsyncAuthenticatedUser
    """The authenticated user: get, update, own models."""
    hardware: AsyncHardware
    """Hardware options."""
    categories: AsyncCategories
    """Model categories."""
    files: AsyncFiles
    """File uploads: upload a file, get its download URL."""
    uploads: AsyncUploads
    """The two API steps of an upload, for callers who send the parts."""
    variables: AsyncVariables
    """Your variables: create, update, delete, list."""

    def __init__(
        self,
        access_token: str | None = None,
        base_url: str | None = None,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        ssl: SSLContext | None = None,
        max_listing_items: int = DEFAULT_MAX_LISTING_ITEMS,
        rate_limit: float | None = None,
        rate_limit_store: str | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self.session: AsyncSession = AsyncSession(
            access_token,
            base_url,
            max_retries=max_retries,
            timeout=timeout,
            connect_timeout=connect_timeout,
            headers=headers,
            retry=retry,
            connection_limit=connection_limit,
            max_response_size=max_response_size,
            trace_configs=trace_configs,
            ssl=ssl,
            max_listing_items=max_listing_items,
            rate_limit=rate_limit,
            rate_limit_store=rate_limit_store,
            proxy=proxy,
            trust_env=trust_env,
        )
        self.models = AsyncModels(self.session)
        self.versions = AsyncVersions(self.session)
        self.predictions = AsyncPredictions(self.session)
        self.users = AsyncUsers(self.session)
        self.user = AsyncAuthenticatedUser(self.session)
        self.hardware = AsyncHardware(self.session)
        self.categories = AsyncCategories(self.session)
        self.files = AsyncFiles(self.session)
        self.uploads = AsyncUploads(self.session)
        self.variables = AsyncVariables(self.session)

    def __repr__(self) -> str:
        return f"AsyncClient({self.session!r})"

    def __reduce__(self) -> NoReturn:
        """Refuse pickling and copying (``TypeError``).

        A pickle would hold the access token in clear text, and the
        connections cannot cross to another process: create a client there.
        """
        refuse_pickling(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send a request to an endpoint the library does not wrap.

        Returns the decoded JSON body (``None`` if empty), with the same
        auth, retries and errors as every wrapped method (see
        :meth:`AsyncSession.request`). ``method`` is one of GET, HEAD, POST,
        PUT, PATCH, DELETE, OPTIONS (any case; sent in capitals) and ``path``
        a str starting with ``/``, joined to ``base_url``: anything else
        raises ``TypeError`` or ``ValueError`` before sending.

        Example::

            hardware = await client.request("GET", "/hardware")
        """
        return await self.session.request(
            method, path, params=params, json=json, headers=headers, timeout=timeout
        )

    async def aclose(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        await self.session.aclose()
