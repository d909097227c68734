"""The transport core: one aiohttp session, one way to send a request.

:class:`AsyncSession` is the only code that touches ``aiohttp.ClientSession``.
It is created lazily inside the running event loop (aiohttp binds a session to
the loop that created it), sends every request through the middleware chain,
turns error statuses into exceptions (via ``_errors``) and transport failures
into :class:`APIConnectionError`/:class:`APITimeoutError`, and decodes JSON.
:meth:`AsyncSession.stream` is the same path for a response read as it
arrives (an event stream) instead of as one JSON document.
:meth:`AsyncSession.put_external` sends a body to an absolute URL on another
host (a presigned upload URL) through a second middleware chain without the
access token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import hdrs
from yarl import URL

from . import _json
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ResponseDecodeError,
    error_from_response,
)
from ._middlewares import (
    AuthMiddleware,
    RateLimitGate,
    RetryMiddleware,
    UserAgentMiddleware,
)
from ._retry import RetryPolicy
from ._timeouts import deadline
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "AsyncSession"]


def _timed_out(method: str, url: str, exc: BaseException) -> APITimeoutError:
    return APITimeoutError(f"{method} {url} timed out ({type(exc).__name__})")


def _failed(
    method: str, url: str, exc: BaseException, *, hide: str | None = None
) -> APIConnectionError:
    """The error for a broken transport; ``hide`` is replaced by ``url`` in it."""
    text = str(exc) if hide is None else str(exc).replace(hide, url)
    return APIConnectionError(f"{method} {url} failed: {type(exc).__name__}: {text}")


async def _read_body(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The whole body, or ``None`` when it is larger than ``limit`` bytes.

    A declared length is trusted for the fast path (one read); a chunked or
    undeclared body is read piece by piece and given up on past the limit, so
    a hostile server cannot make the client buffer without bound.
    """
    length = response.content_length
    if length is not None:
        return await response.read() if length <= limit else None
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


DEFAULT_BASE_URL = "https://api.wrift.ai/v1"
USER_AGENT = f"wriftai-async/{__version__}"

Params = Mapping[str, Any] | Sequence[tuple[str, str]] | None

_JSON_HEADERS: dict[str, str] = {"Content-Type": "application/json"}
# A compressed stream is buffered by the decompressor: events would arrive late.
_STREAM_HEADERS: dict[str, str] = {hdrs.ACCEPT_ENCODING: "identity"}


class AsyncSession:
    """Sends requests to the WriftAI API.

    Args:
        access_token: the API token; ``None`` reads ``WRIFTAI_ACCESS_TOKEN``.
            Without a token requests are sent unauthenticated.
        base_url: ``None`` reads ``WRIFTAI_API_BASE_URL``, then falls back to
            ``https://api.wrift.ai/v1``.
        max_retries: how many times a failed request may be re-sent (see
            ``RetryPolicy`` for which failures qualify).
        timeout: seconds one call may take in all, retries and their waits
            included; ``None`` for no limit.
        connect_timeout: seconds to open a connection.
        headers: extra headers sent with every request.
        retry: the backoff timing; tests shrink it.
        connection_limit: the most connections open at once.
        max_response_size: the largest response body read, in bytes; a
            larger one is refused rather than held in memory (a success
            raises ResponseDecodeError, an error keeps its status).

    Usable as ``async with AsyncSession() as session:``; otherwise call
    :meth:`aclose` when done.
    """

    def __init__(
        self,
        access_token: str | None = None,
        base_url: str | None = None,
        *,
        max_retries: int = 2,
        timeout: float | None = 60.0,
        connect_timeout: float | None = 10.0,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        connection_limit: int = 100,
        max_response_size: int = 64 * 1024 * 1024,
    ) -> None:
        token = access_token or os.environ.get("WRIFTAI_ACCESS_TOKEN") or None
        url = base_url or os.environ.get("WRIFTAI_API_BASE_URL") or DEFAULT_BASE_URL
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {url!r}")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = url.rstrip("/")
        self.max_retries = max_retries
        self.retry = retry or RetryPolicy()
        self.rate_limit = RateLimitGate()
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._headers = dict(headers or {})
        self._connection_limit = connection_limit
        if max_response_size < 1:
            raise ValueError("max_response_size must be >= 1")
        self._max_body = max_response_size
        self._middlewares: tuple[Any, ...] = (
            UserAgentMiddleware(USER_AGENT),
            *((AuthMiddleware(token),) if token else ()),
            RetryMiddleware(self.retry, max_retries, self.rate_limit),
        )
        # For URLs on other hosts (presigned upload URLs): no token, no extra
        # headers, and a 429 there does not hold the API's rate-limit gate.
        self._external_middlewares: tuple[Any, ...] = (
            UserAgentMiddleware(USER_AGENT),
            RetryMiddleware(self.retry, max_retries),
        )
        self._external: aiohttp.ClientSession | None = None
        self.has_token = token is not None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        auth = "token=***" if self.has_token else "no token"
        return f"AsyncSession({self.base_url!r}, {auth})"

    async def __aenter__(self) -> AsyncSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def aclose(self) -> None:
        """Close the connections. Idempotent; the session cannot be reused."""
        self._closed = True
        external, self._external = self._external, None
        if external is not None and not external.closed:
            await external.close()  # does not own the shared connector
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _client_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        session = self._session
        if session is not None:
            return session
        loop = asyncio.get_running_loop()
        self._loop = loop
        connector = aiohttp.TCPConnector(
            limit=self._connection_limit, limit_per_host=self._connection_limit
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={hdrs.ACCEPT: "application/json", **self._headers},
            skip_auto_headers=(hdrs.USER_AGENT,),
            middlewares=self._middlewares,
            raise_for_status=False,
        )
        self._session = session
        return session

    def _checked_session(self, path: str) -> aiohttp.ClientSession:
        session = self._client_session()
        if self._loop is not asyncio.get_running_loop():
            raise RuntimeError(
                "this client was first used on another event loop; "
                "create one client per event loop"
            )
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        return session

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
        """Send a request and return its decoded JSON body (``None`` if empty).

        The escape hatch for endpoints the library does not wrap: same auth,
        retries and errors as every wrapped method.

        Example::

            data = await client.session.request("GET", "/hardware")

        Raises:
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed.
            ResponseDecodeError: a success whose body is not JSON.
        """
        session = self._checked_session(path)
        url = self.base_url + path
        data = None
        if json is not None:
            data = _json.dumps(json)
            headers = {**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS
        kwargs: dict[str, Any] = {}
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(
                total=timeout, connect=self._timeout.connect
            )
        try:
            async with session.request(
                method, url, params=params, data=data, headers=headers, **kwargs
            ) as response:
                status = response.status
                body = await _read_body(response, self._max_body)
                if body is None:  # larger than max_response_size
                    if status < 400:
                        raise ResponseDecodeError(
                            f"{method} {url} answered {status} with a body larger "
                            f"than max_response_size ({self._max_body} bytes)",
                            method=method,
                            url=url,
                        )
                    body = b""
                if status >= 400:
                    raise error_from_response(
                        status,
                        body,
                        response.headers,
                        method=method,
                        url=url,
                    )
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise _timed_out(method, url, exc) from exc
        except aiohttp.ClientError as exc:
            raise _failed(method, url, exc) from exc
        if not body:
            return None
        try:
            return _json.loads(body)
        except ValueError as exc:
            raise ResponseDecodeError(
                f"{method} {url} answered {status} with a body that is not JSON: "
                f"{body[:80]!r}",
                method=method,
                url=url,
            ) from exc

    def _external_session(self) -> aiohttp.ClientSession:
        api = self._checked_session("/")
        session = self._external
        if session is None:
            # Shares the API session's connections (and their limit), but not
            # its default headers or middlewares.
            session = aiohttp.ClientSession(
                connector=api.connector,
                connector_owner=False,
                timeout=self._timeout,
                skip_auto_headers=(hdrs.USER_AGENT,),
                middlewares=self._external_middlewares,
                raise_for_status=False,
            )
            self._external = session
        return session

    async def put_external(
        self,
        url: str,
        data: Any,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> Mapping[str, str]:
        """PUT ``data`` to an absolute URL on another host; return the headers.

        For presigned URLs such as upload parts: the URL is sent exactly as
        given (its signature is not re-encoded), **without** the
        ``Authorization`` header or the client's extra ``headers``, with the
        same user agent, timeout and retries as :meth:`request` (a PUT is
        idempotent, so 5xx and broken connections are retried; ``data`` must
        be re-sendable: bytes or a re-readable payload). The query string,
        which holds the signature, is left out of error messages.

        Raises:
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed.
        """
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must be an absolute http(s) URL, got {url[:40]!r}")
        session = self._external_session()
        shown = url.split("?", 1)[0]
        try:
            async with session.put(
                URL(url, encoded=True), data=data, headers=headers
            ) as response:
                # Only an error's text is of use here; never hold more.
                body = await _read_body(response, self._max_body) or b""
                if response.status >= 400:
                    raise error_from_response(
                        response.status,
                        body,
                        response.headers,
                        method="PUT",
                        url=shown,
                    )
                return response.headers
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise _timed_out("PUT", shown, exc) from exc
        except aiohttp.ClientError as exc:
            raise _failed("PUT", shown, exc, hide=url) from exc  # no signature

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request and hold its response open to be read as it arrives.

        ``json`` is a request body (``POST /predictions`` with ``"stream":
        true`` answers with an event stream).

        The request goes through the same auth, user agent and retries as
        :meth:`request`; retries can only happen before the response starts,
        never once the body is being read. An error status raises the same
        typed errors. The session's ``timeout`` bounds getting the response
        (retries included), not reading it: a stream may stay open for as
        long as the server sends it. Leaving the block (normally, by an
        exception, or by cancellation) releases the connection; one left
        before the end of the body is closed rather than reused.

        Example::

            async with client.session.stream("GET", path) as response:
                async for line in response.content:
                    ...

        Raises:
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed, before
                or while the body was read.
        """
        session = self._checked_session(path)
        url = self.base_url + path
        merged = {**_STREAM_HEADERS, **headers} if headers else _STREAM_HEADERS
        data = None
        if json is not None:
            data = _json.dumps(json)
            merged = {**_JSON_HEADERS, **merged}
        # No total or read timeout on the body: events may be minutes apart.
        timeout = aiohttp.ClientTimeout(total=None, connect=self._timeout.connect)

        try:
            # A timeout context, not asyncio.wait_for: see _timeouts.
            async with deadline(self._timeout.total):
                response = await session.request(
                    method,
                    url,
                    params=params,
                    headers=merged,
                    timeout=timeout,
                    data=data,
                )
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise _timed_out(method, url, exc) from exc
        except aiohttp.ClientError as exc:
            raise _failed(method, url, exc) from exc
        try:
            if response.status >= 400:
                try:
                    body = await response.read()
                except aiohttp.ClientError:
                    body = b""
                raise error_from_response(
                    response.status,
                    body,
                    response.headers,
                    method=method,
                    url=url,
                )
            try:
                yield response
            except aiohttp.ServerTimeoutError as exc:
                raise APITimeoutError(
                    f"{method} {url} timed out while streaming ({type(exc).__name__})"
                ) from exc
            except aiohttp.ClientError as exc:
                raise APIConnectionError(
                    f"{method} {url} broke while streaming: {type(exc).__name__}: {exc}"
                ) from exc
        finally:
            if response.content.at_eof():
                response.release()  # the connection can serve another request
            else:
                response.close()
