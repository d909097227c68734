"""The transport core: one aiohttp session, one way to send a request.

:class:`AsyncSession` is the only code that touches ``aiohttp.ClientSession``.
It is created lazily inside the running event loop (aiohttp binds a session to
the loop that created it), sends every request through the middleware chain,
turns error statuses into exceptions (via ``_errors``) and transport failures
into :class:`APIConnectionError`/:class:`APITimeoutError`, and decodes JSON.
:meth:`AsyncSession.stream` is the same path for a response read as it
arrives (an event stream) instead of as one JSON document. Redirects are
followed here, not by aiohttp, and only GET/HEAD within the API's origin
(see :meth:`AsyncSession._redirect_target`).
:meth:`AsyncSession.put_external` sends a body to an absolute URL on another
host (a presigned upload URL) through a second middleware chain without the
access token, following no redirect, its URL redacted for trace configs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, NoReturn

import aiohttp
from aiohttp import hdrs
from aiohttp.client_reqrep import RequestInfo
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _json
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ResponseDecodeError,
    error_from_response,
)
from ._logging import redact_trace_urls, wanted_trace_configs
from ._middlewares import (
    AuthMiddleware,
    BodyReader,
    RateLimitGate,
    RetryMiddleware,
    UserAgentMiddleware,
)
from ._pagination import DEFAULT_MAX_LISTING_ITEMS, check_max_items
from ._rate_limit import make_limiter
from ._repr import display_url, shorten
from ._retry import RetryPolicy
from ._timeouts import deadline
from ._urls import (
    DEFAULT_BASE_URL,
    origin_key,
    resolve_base_url,
    scrub_text,
    url_problem,
)
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "AsyncSession", "refuse_pickling"]


def _timed_out(
    method: str, url: str | URL, exc: BaseException | None
) -> APITimeoutError:
    why = f" ({type(exc).__name__})" if exc is not None else ""
    return APITimeoutError(f"{method} {display_url(url)} timed out{why}")


# The most characters of a transport error's own text a message keeps (an
# aiohttp error may quote a whole header).
_MAX_CAUSE_TEXT = 300


def _failed(method: str, url: str | URL, exc: BaseException) -> APIConnectionError:
    """The error for a broken transport, its text bounded and scrubbed.

    No URL's query string or user info is shown, whatever the cause's text
    holds (a presigned URL's query is a credential).
    """
    text = shorten(scrub_text(str(exc)), _MAX_CAUSE_TEXT)
    return APIConnectionError(
        f"{method} {display_url(url)} failed: {type(exc).__name__}: {text}"
    )


def _scrub(exc: BaseException) -> BaseException:
    """Remove request headers from an aiohttp error kept as a cause.

    ``ClientResponseError`` and its kin (``TooManyRedirects``...) hold the
    ``request_info`` of the request, whose headers carry ``Authorization``,
    and a ``history`` of responses holding the same. The error stays the
    ``__cause__`` (its type and message help debugging), without those.
    """
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        info = getattr(error, "request_info", None)
        if isinstance(info, RequestInfo):
            error.request_info = RequestInfo(  # type: ignore[attr-defined]
                info.url, info.method, CIMultiDictProxy(CIMultiDict()), info.real_url
            )
        if isinstance(getattr(error, "history", None), tuple):
            error.history = ()  # type: ignore[attr-defined]
        error = error.__cause__ or error.__context__
    return exc


def _external_url(url: object) -> URL:
    """``url`` as sent, exactly (a signature must not be re-encoded), checked."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    try:
        target = URL(url, encoded=True)
    except (ValueError, TypeError):
        target = None
    problem = (
        "it is not a URL" if target is None else url_problem(target, user_info=True)
    )
    if target is None or problem is not None:
        raise ValueError(f"url {display_url(url, 60)!r} cannot be used: {problem}")
    return target


def refuse_pickling(obj: object) -> NoReturn:
    """Raise the ``TypeError`` that a client or session is not picklable.

    A pickle of one would hold the access token in clear text, and its
    connections and event loop cannot cross to another process anyway.
    """
    name = type(obj).__name__
    raise TypeError(
        f"a {name} cannot be pickled or copied: it holds an access token "
        f"and open connections; create a new {name} where it is needed"
    )


def _seconds(name: str, value: object) -> float | None:
    """A timeout in seconds: ``None`` or ``inf`` mean no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None")
    if math.isnan(value) or value <= 0:
        raise ValueError(f"{name} must be > 0 (None for no limit), got {value!r}")
    return None if math.isinf(value) else float(value)


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


USER_AGENT = f"wriftai-async/{__version__}"

Params = Mapping[str, Any] | Sequence[tuple[str, str]] | None

_JSON_HEADERS: dict[str, str] = {"Content-Type": "application/json"}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FOLLOWED_METHODS = frozenset({"GET", "HEAD"})
#: The most redirects one request follows (each within the API's origin).
MAX_REDIRECTS = 10
_STREAM_HEADERS: dict[str, str] = {hdrs.ACCEPT_ENCODING: "identity"}
_JSON_STREAM_HEADERS: dict[str, str] = {**_JSON_HEADERS, **_STREAM_HEADERS}


class AsyncSession:
    """Sends requests to the WriftAI API.

    Args:
        access_token: the API token; ``None`` reads ``WRIFTAI_ACCESS_TOKEN``.
            Without a token requests are sent unauthenticated.
        base_url: ``None`` reads ``WRIFTAI_API_BASE_URL``; only when that is
            unset is it ``https://api.wrift.ai/v1``. An empty value (argument
            or variable), user info, a query or a fragment raise
            ``ValueError`` naming where the value came from.
        max_retries: how many times a failed request may be re-sent (see
            ``RetryPolicy`` for which failures qualify); an int >= 0.
        timeout: seconds one call may take in all: waiting for a pooled
            connection, connecting, retries and their waits, reading the
            body and decoding it. ``None`` (or ``math.inf``) for no limit.
        connect_timeout: seconds to open one TCP connection (``None``: no
            limit of its own; ``timeout`` still applies).
        headers: extra headers sent with every request to the API's origin
            (no request leaves it: see :meth:`_redirect_target`).
        retry: the backoff timing; tests shrink it.
        connection_limit: the most connections open at once (an int >= 1).
        max_response_size: the largest response body read, in bytes after
            decompression; a larger one is refused rather than held in
            memory (a success raises ResponseDecodeError, an error keeps its
            status). A JSON body may also hold at most
            ``max_response_size // 64`` values.
        trace_configs: ``aiohttp.TraceConfig`` objects for aiohttp's own
            tracing; every attempt (retries included) is reported as its
            own request start and end.
        max_listing_items: the most items one listing yields (an int >= 1;
            1,000,000 by default); the next raises ``ListingLimitError``.
        rate_limit: at most this many requests per second (a number > 0):
            for this process alone, or with a store for every process that
            shares it and the token. ``None``: no pacing.
        rate_limit_store: a ``redis://host:port/db`` URL (``None`` reads
            ``WRIFTAI_RATE_LIMIT_STORE``): a 429's reset and ``rate_limit``
            are shared through it. Needs ``wriftai-async[redis]``.

    Every number is checked here: a wrong type raises ``TypeError``, a value
    out of range (``nan``, 0, negative) ``ValueError``, before any request.

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
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        max_listing_items: int = DEFAULT_MAX_LISTING_ITEMS,
        rate_limit: float | None = None,
        rate_limit_store: str | None = None,
    ) -> None:
        token = access_token or os.environ.get("WRIFTAI_ACCESS_TOKEN") or None
        # Checked once, naming its source; "" never means the default.
        url = resolve_base_url(base_url)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self.base_url = url
        self._origin = URL(self.base_url).origin()
        self._origin_key = origin_key(self._origin)
        self.max_retries = _count("max_retries", max_retries, 0)
        self._total = _seconds("timeout", timeout)
        # The pool wait is not a connect: aiohttp's ``connect`` would count
        # it, so only ``sock_connect`` is set and the call's own deadline
        # bounds the wait for a free connection.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None,
            sock_connect=_seconds("connect_timeout", connect_timeout),
        )
        self._connection_limit = _count("connection_limit", connection_limit, 1)
        self._max_body = _count("max_response_size", max_response_size, 1)
        self._max_values = max(1, self._max_body // 64)
        self.max_listing_items = check_max_items(max_listing_items)
        self.retry = retry or RetryPolicy()
        self._limiter = make_limiter(
            rate_limit,
            rate_limit_store,
            token=token,
            origin=str(self._origin),
            max_hold=self.retry.max_rate_limit_wait,
        )
        self.rate_limit = RateLimitGate(limiter=self._limiter)
        self._token = token
        self._headers = dict(headers or {})
        self._trace_configs = tuple(trace_configs)
        if not all(isinstance(c, aiohttp.TraceConfig) for c in self._trace_configs):
            raise TypeError("trace_configs must be aiohttp.TraceConfig objects")
        self._user_agent = UserAgentMiddleware(USER_AGENT)
        self._external: aiohttp.ClientSession | None = None
        self.has_token = token is not None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def __repr__(self) -> str:
        auth = "token=***" if self.has_token else "no token"
        return f"AsyncSession({self.base_url!r}, {auth})"

    def __reduce__(self) -> NoReturn:
        refuse_pickling(self)

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

    @property
    def max_response_size(self) -> int:
        """The largest body (or event of an event stream) read, in bytes."""
        return self._max_body

    @property
    def max_json_values(self) -> int:
        """The most values one JSON body (or event) may decode to."""
        return self._max_values

    async def aclose(self) -> None:
        """Close the connections. Idempotent; the session cannot be reused."""
        self._closed = True
        external, self._external = self._external, None
        if external is not None and not external.closed:
            await external.close()  # does not own the shared connector
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
        if self._limiter is not None:
            await self._limiter.aclose()

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
        # No session-wide middlewares or caller headers: each call builds its
        # chain (see _chain), so the token follows the origin rule per hop.
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={hdrs.ACCEPT: "application/json"},
            skip_auto_headers=(hdrs.USER_AGENT,),
            raise_for_status=False,
            trace_configs=wanted_trace_configs(self._trace_configs),
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

    def _chain(
        self, reader: BodyReader, headers: Mapping[str, str] | None
    ) -> tuple[Any, ...]:
        """The middlewares of one API call: agent, origin-bound auth, retry."""
        own = {**self._headers, **headers} if headers else self._headers
        return (
            self._user_agent,
            AuthMiddleware(self._origin, self._token, own),
            RetryMiddleware(
                self.retry,
                self.max_retries,
                self.rate_limit,
                reader=reader,
                gate_origin=self._origin,
            ),
        )

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str | URL,
        middlewares: tuple[Any, ...],
        reader: BodyReader,
        *,
        follow: bool = True,
        **kwargs: Any,
    ) -> tuple[aiohttp.ClientResponse, bytes | None]:
        """One exchange, retried as a whole by the retry middleware.

        Returns the final answer and its body (``None`` when larger than
        ``max_response_size``, or a 2xx that ``reader`` leaves unread). An
        answer that is not a 2xx raises its ``APIStatusError``: a redirect
        not followed (see :meth:`_redirect_target`), a 1xx or a 399 is never
        taken for a success.

        Redirects are followed here, not by aiohttp: each hop is a request
        of its own through the whole middleware chain, sent only where
        :meth:`_redirect_target` allows (``follow=False``: nowhere).
        """
        # Only an API call (the chain with auth) can say whether a token was
        # given: a 401's message then says how to give one.
        api = any(isinstance(m, AuthMiddleware) for m in middlewares)
        token_given = self.has_token if api else None
        hops = 0
        while True:
            response = await session.request(
                method, url, middlewares=middlewares, allow_redirects=False, **kwargs
            )
            body = reader.body if reader.response is response else None
            status = response.status
            if 200 <= status < 300:
                return response, body
            response.release()
            location = response.headers.get(hdrs.LOCATION)
            if status not in _REDIRECTS or location is None:
                raise error_from_response(
                    status,
                    body or b"",
                    response.headers,
                    method=method,
                    url=url,
                    token_given=token_given,
                )
            refused, target = self._redirect_target(method, url, location, follow)
            if refused is not None:
                raise error_from_response(
                    status,
                    body or b"",
                    response.headers,
                    method=method,
                    url=url,
                    token_given=token_given,
                    detail=refused,
                )
            hops += 1
            if hops > MAX_REDIRECTS:
                raise APIConnectionError(
                    f"{method} {display_url(url)} failed: TooManyRedirects: more "
                    f"than {MAX_REDIRECTS} redirects"
                )
            url = target
            kwargs.pop("params", None)  # the Location is the whole new URL

    def _redirect_target(
        self, method: str, url: str | URL, location: str, follow: bool
    ) -> tuple[str | None, URL]:
        """``(None, where)`` to follow a redirect, or ``(why not, url)``.

        The policy: only GET and HEAD follow redirects, and only within the
        API's origin (scheme, host and port of ``base_url``). A request with
        a body (variables, webhook secrets) is never re-sent anywhere, and
        no request ever leaves the origin, so the token and ``headers=``
        never reach another host, nor come back on a path another host
        chose. The official client (httpx) follows no redirect at all.
        """
        current = URL(url) if isinstance(url, str) else url
        target: URL | None
        try:
            target = current.join(URL(location)).with_fragment(None)
        except (ValueError, TypeError):  # UnicodeError is a ValueError
            target = None
        if target is None:
            problem: str | None = "its Location is not a URL"
        elif not follow:
            problem = "this request follows no redirect"
        elif method not in _FOLLOWED_METHODS:
            problem = (
                f"only GET and HEAD follow redirects, not {method} (a request "
                "is never re-sent elsewhere, nor its body)"
            )
        else:
            problem = url_problem(target)
            if problem is None and origin_key(target) != self._origin_key:
                problem = f"it leaves the API's origin ({self._origin})"
        if target is None or problem is not None:
            where = "" if target is None else f" to {display_url(target)}"
            return f"redirect{where} not followed: {problem}", current
        return None, target

    def _decode(self, method: str, url: str, status: int, body: bytes) -> Any:
        """The JSON value of ``body`` (``url`` is as messages show it)."""
        try:
            return _json.loads_bounded(body, self._max_values)
        except _json.JSONTooLargeError as exc:
            raise ResponseDecodeError(
                f"{method} {url} answered {status} with a body too large to "
                f"decode: {exc}",
                method=method,
                url=url,
            ) from exc
        except ValueError as exc:
            raise ResponseDecodeError(
                f"{method} {url} answered {status} with a body that is not JSON "
                f"({str(exc)[:80]}): {body[:80]!r}",
                method=method,
                url=url,
            ) from exc

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
        retries and errors as every wrapped method. ``timeout`` replaces the
        session's for this call (``None``: the session's).

        Example::

            data = await client.session.request("GET", "/hardware")

        Raises:
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed.
            ResponseDecodeError: a success whose body is not JSON.
        """
        limit = self._total if timeout is None else _seconds("timeout", timeout)
        session = self._checked_session(path)
        url = self.base_url + path
        shown = display_url(url)
        data = None if json is None else _json.dumps(json)
        reader = BodyReader(self._max_body, whole=True)
        loop = asyncio.get_running_loop()
        ends_at = math.inf if limit is None else loop.time() + limit
        try:
            # A timeout context, not asyncio.wait_for: see _timeouts.
            async with deadline(limit):
                response, body = await self._exchange(
                    session,
                    method,
                    url,
                    self._chain(reader, headers),
                    reader,
                    params=params,
                    data=data,
                    headers=_JSON_HEADERS if data is not None else None,
                )
                status = response.status
                if body is None:
                    raise ResponseDecodeError(
                        f"{method} {shown} answered {status} with a body larger "
                        f"than max_response_size ({self._max_body} bytes)",
                        method=method,
                        url=shown,
                    )
                value = self._decode(method, shown, status, body) if body else None
                # Decoding cannot be interrupted; a deadline it overran still
                # fails the call, as if the decoding had been cut short.
                if loop.time() > ends_at:
                    raise asyncio.TimeoutError
                return value
        except asyncio.TimeoutError as exc:  # TimeoutError from 3.11 on
            raise _timed_out(method, url, exc) from _scrub(exc)
        except aiohttp.ClientError as exc:
            raise _failed(method, url, exc) from _scrub(exc)

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
                raise_for_status=False,
                trace_configs=wanted_trace_configs(self._trace_configs),
            )
            # The URLs it sends to are presigned: their query is a credential
            # no trace may record (an instrumentation adds its trace config
            # while the session is built, hence after).
            redact_trace_urls(session)
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
        idempotent, so 5xx, broken connections and answers that break off
        are retried; ``data`` must be re-sendable: bytes or a re-readable
        payload). The answer is read under ``max_response_size``. The query
        string, which holds the signature, is left out of error messages and
        out of what trace configs (OpenTelemetry's included) see: each query
        value reaches them as ``REDACTED``. A redirect is not followed (the
        body would go to yet another host): it raises ``APIStatusError``.

        Raises:
            ValueError: ``url`` is not an absolute http(s) URL with a valid
                host name.
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed.
        """
        target = _external_url(url)
        session = self._external_session()
        shown = display_url(target)
        reader = BodyReader(self._max_body, whole=True)
        # No token, no extra headers, and a 429 there does not hold the API's
        # rate-limit gate.
        chain = (
            self._user_agent,
            RetryMiddleware(self.retry, self.max_retries, reader=reader),
        )
        try:
            async with deadline(self._total):
                response, _ = await self._exchange(
                    session,
                    "PUT",
                    target,
                    chain,
                    reader,
                    follow=False,
                    data=data,
                    headers=headers,
                )
                response.release()
                return response.headers
        except asyncio.TimeoutError as exc:  # TimeoutError from 3.11 on
            raise _timed_out("PUT", shown, exc) from _scrub(exc)
        except aiohttp.ClientError as exc:
            raise _failed("PUT", shown, exc) from _scrub(exc)

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
        typed errors, its body read under ``max_response_size``. The
        session's ``timeout`` bounds getting the response and reading an
        error's body (retries included), not reading a success: a stream may
        stay open for as long as the server sends it. Leaving the block
        (normally, by an exception, or by cancellation) releases the
        connection; one left before the end of the body is closed rather
        than reused.

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
        shown = display_url(url)
        reader = BodyReader(self._max_body, whole=False)
        data = None if json is None else _json.dumps(json)
        # A compressed stream is buffered by the decompressor: events would
        # arrive late, hence identity.
        fixed = _STREAM_HEADERS if data is None else _JSON_STREAM_HEADERS
        try:
            async with deadline(self._total):
                response, _ = await self._exchange(
                    session,
                    method,
                    url,
                    self._chain(reader, headers),
                    reader,
                    params=params,
                    data=data,
                    headers=fixed,
                )
        except asyncio.TimeoutError as exc:  # TimeoutError from 3.11 on
            raise _timed_out(method, url, exc) from _scrub(exc)
        except aiohttp.ClientError as exc:
            raise _failed(method, url, exc) from _scrub(exc)
        try:
            yield response
        except aiohttp.ServerTimeoutError as exc:
            raise APITimeoutError(
                f"{method} {shown} timed out while streaming ({type(exc).__name__})"
            ) from _scrub(exc)
        except aiohttp.ClientError as exc:
            text = shorten(scrub_text(str(exc)), _MAX_CAUSE_TEXT)
            raise APIConnectionError(
                f"{method} {shown} broke while streaming: {type(exc).__name__}: {text}"
            ) from _scrub(exc)
        finally:
            if response.content.at_eof():
                response.release()  # the connection can serve another request
            else:
                response.close()
