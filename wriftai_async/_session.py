"""The transport core: one aiohttp session, one way to send a request.

:class:`AsyncSession` is the only code that touches ``aiohttp.ClientSession``,
created lazily inside the running event loop (aiohttp binds a session to the
loop that created it). Every request takes one path, :meth:`AsyncSession._send`:

1. the middleware chain, built once per session (``_middlewares.py``): the
   API's headers (the token only on its origin), then the retry loop, whose
   attempts wait for the rate limit and read the body under
   ``max_response_size``;
2. redirects, followed here and not by aiohttp: GET and HEAD only, within
   the API's origin (:meth:`AsyncSession._redirect_target`), each hop through
   the whole chain;
3. an answer that is not a 2xx raised as its ``APIStatusError``
   (``_errors.error_from_response``).

Around it each call has its deadline (``_timeouts.deadline``) and one mapping
of transport failures (``_errors.transport_errors``); it goes through the
proxy of its URL's origin, if any (``_proxy.py``: decided once per origin,
passed to aiohttp per request, never aiohttp's own ``trust_env``).
:meth:`request` decodes the JSON body; :meth:`stream` hands over a response
read as it arrives; :meth:`put_external` sends a body to a presigned URL on
another host, through a second session without the token, following no
redirect.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import os
import socket
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from ssl import SSLContext
from types import TracebackType
from typing import Any, NoReturn, cast

import aiohttp
from aiohttp import hdrs
from yarl import URL

from . import _json
from ._checks import (
    check_headers,
    check_int,
    check_limit,
    check_method,
    check_path,
    check_trace_configs,
    has_control_character,
)
from ._constants import (
    BYTES_PER_JSON_VALUE,
    DEFAULT_BASE_URL,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_LISTING_ITEMS,
    DEFAULT_MAX_RESPONSE_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    MAX_PART_ANSWER_SIZE,
    MAX_REDIRECTS,
    MAX_STREAM_TAIL_SIZE,
    STREAM_TAIL_WAIT,
    USER_AGENT,
)
from ._errors import (
    APIConnectionError,
    ResponseDecodeError,
    error_from_response,
    transport_errors,
)
from ._logging import redact_trace_urls
from ._middlewares import AuthMiddleware, Response, RetryMiddleware
from ._proxy import Proxies, ProxyRoute
from ._rate_limit import Limiter, make_limiter
from ._repr import display_url
from ._retry import RetryPolicy
from ._timeouts import deadline
from ._tls import check_ssl_context
from ._urls import origin_key, resolve_base_url, url_problem

__all__ = ["AsyncSession", "Params", "refuse_pickling"]

Params = Mapping[str, Any] | Sequence[tuple[str, str]] | None

_JSON_HEADERS: dict[str, str] = {"Content-Type": "application/json"}
# A compressed stream is buffered by the decompressor: events would arrive
# late, hence identity.
_STREAM_HEADERS: dict[str, str] = {hdrs.ACCEPT_ENCODING: "identity"}
_JSON_STREAM_HEADERS: dict[str, str] = {**_JSON_HEADERS, **_STREAM_HEADERS}
_TOKEN_VARIABLE = "WRIFTAI_ACCESS_TOKEN"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FOLLOWED_METHODS = frozenset({"GET", "HEAD"})


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


def _resolve_token(access_token: object) -> str | None:
    """The token: ``access_token``, else ``WRIFTAI_ACCESS_TOKEN``, else ``None``.

    Checked here, naming its source and never showing it: an int or bytes
    would be sent as ``Bearer 123`` or ``Bearer b'...'`` and refused as an
    invalid token, and a newline (a token read from a file) would fail
    every request deep in aiohttp as a "header injection". An empty or
    blank ``access_token`` is refused, not taken for "no token" (the
    official client falls back to the variable): it is almost always a
    variable that was not set, and the calls would go out without a token.
    The variable set to ``""`` is unset, as shells write it; blank, it is
    refused too.
    """
    if access_token is not None and not isinstance(access_token, str):
        raise TypeError(
            f"access_token must be a str or None, not {type(access_token).__name__}"
        )
    source = "access_token"
    token = access_token
    if token is None:
        source, token = "$WRIFTAI_ACCESS_TOKEN", os.environ.get(_TOKEN_VARIABLE)
        if not token:
            return None
    if not token.strip():
        empty = "empty" if not token else "only whitespace"
        advice = (
            "pass the token, or None to read $WRIFTAI_ACCESS_TOKEN"
            if source == "access_token"
            else "set it to the token, or unset it"
        )
        raise ValueError(f"{source} is {empty} (an unset variable?): {advice}")
    if has_control_character(token):
        raise ValueError(
            f"{source} holds a line break or another control character (a "
            "token read from a file with its newline?): strip it"
        )
    if token != token.strip():
        raise ValueError(
            f"{source} starts or ends with a space (no token does): strip it"
        )
    return token


# aiohttp warns (a ResourceWarning: an error under pytest's -W error) of a
# body over 1 MiB given as bytes; the same bytes in a BytesIO are sent in
# chunks and, on a retry, again from the start.
_LARGE_BODY = 1 << 20


def _json_body(value: Any) -> bytes | io.BytesIO | None:
    """A request's JSON body as sent: ``None`` for none."""
    if value is None:
        return None
    data = _json.dumps(value)
    return io.BytesIO(data) if len(data) > _LARGE_BODY else data


def _with(fixed: dict[str, str], call: Mapping[str, str] | None) -> dict[str, str]:
    """The headers of one request: ``fixed``, then the call's own over them."""
    return {**fixed, **call} if call else fixed


def _proxy_url(route: ProxyRoute | None) -> URL | None:
    """The proxy's URL (no credentials), for a failure's message to name."""
    return None if route is None else route.url


class AsyncSession:
    """Sends requests to the WriftAI API.

    Takes :class:`~wriftai_async.AsyncClient`'s arguments (documented
    there), each checked here before any request: a wrong type raises
    ``TypeError``, a value out of range (``nan``, 0, negative) ``ValueError``.

    Usable as ``async with AsyncSession() as session:``; otherwise call
    :meth:`aclose` when done.
    """

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
        token = _resolve_token(access_token)
        extra_headers = check_headers(headers, token=token is not None)
        # Checked once, naming its source; "" never means the default.
        self.base_url: str = resolve_base_url(base_url)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        self.retry: RetryPolicy = retry or RetryPolicy()
        self.max_retries: int = check_int(max_retries, "max_retries", 0)
        self._total = check_limit(timeout, "timeout")
        # The pool wait is not a connect: aiohttp's ``connect`` would count
        # it, so only ``sock_connect`` is set and the call's own deadline
        # bounds the wait for a free connection.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None,
            sock_connect=check_limit(connect_timeout, "connect_timeout"),
        )
        self._connection_limit = check_int(connection_limit, "connection_limit", 1)
        self._max_body = check_int(max_response_size, "max_response_size", 1)
        self.max_listing_items: int = check_int(
            max_listing_items, "max_listing_items", 1
        )
        self._trace_configs = check_trace_configs(trace_configs)
        self._ssl = check_ssl_context(ssl)
        base = URL(self.base_url)
        self._origin = origin = base.origin()
        # Every path of the API is under /v1: a 404 from a base URL without
        # it (an origin alone, a mistyped version) says so.
        self._not_found_hint: str | None = None
        if not base.path.rstrip("/").endswith("/v1"):
            self._not_found_hint = (
                f"base_url {display_url(self.base_url)} has no /v1, where every "
                f"path of the API starts; the service's is {DEFAULT_BASE_URL}"
            )
        self._origin_key = origin_key(origin)
        # Read (the environment too) and checked now; the API's route is
        # fixed (a request never leaves its origin), an upload host's is
        # decided on its first part (see _proxy).
        self._proxies = Proxies(proxy, trust_env)
        self._api_route = self._proxies.route(origin)
        self._api_proxy = _proxy_url(self._api_route)  # for failures' messages
        self.rate_limit: Limiter = make_limiter(
            rate_limit,
            rate_limit_store,
            token=token,
            origin=str(origin),
            max_hold=self.retry.max_rate_limit_wait,
        )
        self.has_token: bool = token is not None
        # The chains, each built once: an API call reads every body in its
        # attempts; a stream reads only an error's; a presigned PUT carries
        # no token and neither waits for the API's rate limit nor holds it.
        auth = AuthMiddleware(
            origin,
            token,
            extra_headers,
            USER_AGENT,
            proxy_credentials=self._api_route is not None
            and self._api_route.headers is not None,
        )
        retry_args = (self.retry, self.max_retries, self._max_body)
        self._call_chain = (
            auth,
            RetryMiddleware(
                *retry_args, limiter=self.rate_limit, limiter_origin=origin
            ),
        )
        self._stream_chain = (
            auth,
            RetryMiddleware(
                *retry_args,
                read_success=False,
                limiter=self.rate_limit,
                limiter_origin=origin,
            ),
        )
        # A part's answer matters by its headers (the ETag): its body is read
        # under a small bound, whatever max_response_size (16 parts at once,
        # of several files, each with a body of max_response_size, was GiBs).
        part_body = min(self._max_body, MAX_PART_ANSWER_SIZE)
        self._put_chain = (
            RetryMiddleware(
                self.retry,
                self.max_retries,
                part_body,
                redact=True,
                local_bodies=True,
            ),
        )
        self._session: aiohttp.ClientSession | None = None
        self._external: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Every socket the connector opened, until it is collected.
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._closed = False

    def __repr__(self) -> str:
        auth = "token=***" if self.has_token else "no token"
        route = self._api_route
        via = "" if route is None else f", proxy={route.shown!r}"
        return f"AsyncSession({self.base_url!r}, {auth}{via})"

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
    def origin(self) -> tuple[str, str | None, int | None]:
        """The API's scheme, host and port: ``("https", "api.wrift.ai", 443)``."""
        return self._origin_key

    @property
    def max_response_size(self) -> int:
        """The largest body (or event of an event stream) read, in bytes."""
        return self._max_body

    @property
    def max_json_values(self) -> int:
        """The most values one JSON body (or event) may decode to."""
        return max(1, self._max_body // BYTES_PER_JSON_VALUE)

    async def aclose(self) -> None:
        """Close the connections. Idempotent; the session cannot be reused."""
        self._closed = True
        external, self._external = self._external, None
        if external is not None and not external.closed:
            await external.close()  # does not own the shared connector
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
            await self._abort_sockets_left()
        await self.rate_limit.aclose()

    def _open_socket(self, addr_info: Any) -> socket.socket:
        """aiohttp's ``socket_factory``: a socket, remembered (see below)."""
        family, kind, proto, _, _ = addr_info
        sock = socket.socket(family=family, type=kind, proto=proto)
        self._sockets.add(sock)
        return sock

    async def _abort_sockets_left(self) -> None:
        """Abort the connections of this client that closing left open.

        A TLS connection the server ended (``Connection: close``) is not in
        the pool any more: asyncio shuts it down gracefully, waiting up to
        30 s for the server's close_notify. A loop closed before that
        (``asyncio.run`` returning) left its socket open, warned about as
        an "unclosed transport" when collected. aiohttp's own cleanup of
        such connections runs only on the Pythons it judges to need it, not
        on 3.12.8+ or 3.13.1+, where this case remains. The transport of a
        socket is found in the selector loop's table of its transports
        (private; another loop, such as uvloop's, is left as it was).
        """
        table = getattr(self._loop, "_transports", None)
        if not table:
            return
        aborted = False
        for sock in list(self._sockets):
            fd = sock.fileno()
            transport = table.get(fd) if fd != -1 else None
            if transport is not None:
                transport.abort()  # a no-op on one already closed
                aborted = True
        if aborted:
            await asyncio.sleep(0)  # abort() closes the socket in a callback

    def _checked_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        if self._session is None:
            self._loop = asyncio.get_running_loop()
            # One context for every connection: the API's and, through the
            # shared connector, the upload hosts' (True: aiohttp's default).
            connector = aiohttp.TCPConnector(
                limit=self._connection_limit,
                limit_per_host=self._connection_limit,
                ssl=True if self._ssl is None else self._ssl,
                socket_factory=self._open_socket,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                middlewares=self._call_chain,
                # AuthMiddleware sets both, after the client's own headers.
                skip_auto_headers=(hdrs.ACCEPT, hdrs.USER_AGENT),
                raise_for_status=False,
                response_class=Response,
                trace_configs=list(self._trace_configs),  # aiohttp keeps the list
            )
        elif self._loop is not asyncio.get_running_loop():
            raise RuntimeError(
                "this client was first used on another event loop; "
                "create one client per event loop"
            )
        return self._session

    def _external_session(self) -> aiohttp.ClientSession:
        api = self._checked_session()
        if self._external is None:
            # Shares the API session's connections (and their limit), but not
            # its headers or middlewares.
            self._external = aiohttp.ClientSession(
                connector=api.connector,
                connector_owner=False,
                timeout=self._timeout,
                headers={hdrs.USER_AGENT: USER_AGENT},
                middlewares=self._put_chain,
                raise_for_status=False,
                response_class=Response,
                trace_configs=list(self._trace_configs),  # aiohttp keeps the list
            )
            # The URLs it sends to are presigned: their query is a credential
            # no trace may record (an instrumentation adds its trace config
            # while the session is built, hence after).
            redact_trace_urls(self._external)
        return self._external

    async def _send(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str | URL,
        *,
        api: bool = True,
        route: ProxyRoute | None = None,
        **kwargs: Any,
    ) -> Response:
        """One call's exchange: its final 2xx answer, the body read as asked.

        ``api=False`` (a presigned PUT): no redirect is followed, and a 401
        says nothing of the token. Anything but a 2xx raises its
        ``APIStatusError``: a redirect not followed, a 1xx or a 399 is never
        taken for a success. ``route``: the proxy of ``url``'s origin, the
        same for every hop (a redirect never leaves the origin); the
        redirect policy and the origin checks look at ``url``, never at it.
        """
        if route is not None:
            kwargs.update(route.kwargs)
            if route.headers is not None:  # an http:// target's credentials
                kwargs["headers"] = _with(route.headers, kwargs.get("headers"))
        for _ in range(MAX_REDIRECTS + 1):
            response = cast(
                Response,
                await session.request(method, url, allow_redirects=False, **kwargs),
            )
            status = response.status
            if 200 <= status < 300:
                return response
            response.release()
            location = response.headers.get(hdrs.LOCATION)
            refused = None
            if status in _REDIRECTS and location is not None:
                refused, url = self._redirect_target(method, url, location, api)
            if status not in _REDIRECTS or location is None or refused is not None:
                raise error_from_response(
                    status,
                    response.body or b"",
                    response.headers,
                    method=method,
                    url=url,
                    token_given=self.has_token if api else None,
                    detail=refused,
                    hint=self._not_found_hint if api and status == 404 else None,
                )
            kwargs.pop("params", None)  # the Location is the whole new URL
        raise APIConnectionError(
            f"{method} {display_url(url)} failed: TooManyRedirects: more "
            f"than {MAX_REDIRECTS} redirects"
        )

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
        """The JSON value of ``body``."""
        try:
            return _json.loads_bounded(body, self.max_json_values)
        except ValueError as exc:  # JSONTooLargeError included
            shown = display_url(url)
            if isinstance(exc, _json.JSONTooLargeError):
                why = f"a body too large to decode: {exc}"
            else:
                why = f"a body that is not JSON ({str(exc)[:80]}): {body[:80]!r}"
            raise ResponseDecodeError(
                f"{method} {shown} answered {status} with {why}",
                method=method,
                url=shown,
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
            TypeError: ``method`` or ``path`` is not a str.
            ValueError: ``method`` is not one of GET, HEAD, POST, PUT, PATCH,
                DELETE, OPTIONS (in any case: it is sent in capitals), or
                ``path`` does not start with ``/``.
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed.
            ResponseDecodeError: a success whose body is not JSON.
        """
        method, path = check_method(method), check_path(path)
        limit = self._total if timeout is None else check_limit(timeout, "timeout")
        session = self._checked_session()
        url = self.base_url + path
        data = _json_body(json)
        fixed = _JSON_HEADERS if data is not None else {}
        loop = asyncio.get_running_loop()
        ends_at = math.inf if limit is None else loop.time() + limit
        with transport_errors(method, url, proxy=self._api_proxy):
            # A timeout context, not asyncio.wait_for: see _timeouts.
            async with deadline(limit):
                response = await self._send(
                    session,
                    method,
                    url,
                    route=self._api_route,
                    params=params,
                    data=data,
                    headers=_with(fixed, headers) or None,
                )
                status, body = response.status, response.body
                if body is None:
                    shown = display_url(url)
                    raise ResponseDecodeError(
                        f"{method} {shown} answered {status} with a body larger "
                        f"than max_response_size ({self._max_body} bytes)",
                        method=method,
                        url=shown,
                    )
                value = self._decode(method, url, status, body) if body else None
                # Decoding cannot be interrupted; a deadline it overran still
                # fails the call, as if the decoding had been cut short.
                if loop.time() > ends_at:
                    raise asyncio.TimeoutError
                return value

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
        payload). The answer's body is read under 64 KiB (or
        ``max_response_size`` if smaller): only its headers and an error's
        first lines are used; a larger success is not read further, a larger
        error keeps no detail. The query string, which holds the signature,
        is left out of error messages and
        out of what trace configs (OpenTelemetry's included) see: each query
        value reaches them as ``REDACTED``. A redirect is not followed (the
        body would go to yet another host): it raises ``APIStatusError``.
        The PUT goes through the proxy decided for the URL's own host (the
        ``proxy=`` given, else the variables', ``NO_PROXY`` included).

        Raises:
            ValueError: ``url`` is not an absolute http(s) URL with a valid
                host name.
            SourceChangedError: ``data`` (an upload part) failed to read its
                file; raised at once, without a retry.
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed.
        """
        target = _external_url(url)
        session = self._external_session()
        route = self._proxies.route(target)
        try:
            with transport_errors("PUT", target, proxy=_proxy_url(route)):
                async with deadline(self._total):
                    response = await self._send(
                        session,
                        "PUT",
                        target,
                        api=False,
                        route=route,
                        data=data,
                        headers=headers,
                    )
                    response.release()
                    return response.headers
        except APIConnectionError as exc:
            # A body that failed on this side (a file that changed: see
            # PartPayload) reached here as aiohttp's ClientOSError, once: the
            # retry middleware did not retry it. Raised as itself.
            failure = getattr(data, "failure", None)
            if isinstance(failure, Exception):
                raise failure from failure.__cause__ or exc
            raise

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
        connection. Left normally before the end of the body (an event
        stream, after its last event), it waits for that end a quarter
        second at most, reading and dropping 64 KiB at most, so that the
        connection is reused; if the end did not come, or the block was
        left by an exception, the connection is closed rather than reused.

        Example::

            async with client.session.stream("GET", path) as response:
                async for line in response.content:
                    ...

        Raises:
            APIStatusError: a subclass for each error status.
            APIConnectionError, APITimeoutError: the transport failed, before
                or while the body was read.
        """
        method, path = check_method(method), check_path(path)
        session = self._checked_session()
        url = self.base_url + path
        data = _json_body(json)
        fixed = _STREAM_HEADERS if data is None else _JSON_STREAM_HEADERS
        with transport_errors(method, url, proxy=self._api_proxy):
            async with deadline(self._total):
                response = await self._send(
                    session,
                    method,
                    url,
                    route=self._api_route,
                    middlewares=self._stream_chain,
                    params=params,
                    data=data,
                    headers=_with(fixed, headers),
                )
        try:
            with transport_errors(method, url, streaming=True):
                yield response
            # Left normally (an event stream: after its terminal event):
            # the body's end is usually in flight, a moment behind.
            await _await_end(response)
        finally:
            if response.content.at_eof():
                response.release()  # the connection can serve another request
            else:
                response.close()


async def _await_end(response: aiohttp.ClientResponse) -> None:
    """Read what is left of ``response``'s body, briefly and boundedly.

    So that a stream left just before its body's end (the last chunk
    follows an event stream's terminal event) pools its connection; what
    is read is dropped. A failure here is the connection's, closed anyway.
    """
    content = response.content
    left = MAX_STREAM_TAIL_SIZE
    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, OSError):
        async with deadline(STREAM_TAIL_WAIT):
            while left > 0 and (chunk := await content.readany()):
                left -= len(chunk)
