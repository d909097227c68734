"""The exception hierarchy, and the only two ways into it from the wire.

Every failure reported is a :class:`WriftAIError`: a status becomes one in
:func:`error_from_response`, an aiohttp failure or the call's deadline in
:func:`transport_errors`. No message holds a request header (the token).
"""

from __future__ import annotations

import asyncio
import errno
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _json
from ._constants import MAX_ERROR_BODY_SIZE, MAX_ERROR_BODY_VALUES
from ._repr import bounded_repr, display_url, one_line
from ._retry import parse_rate_limit_reset
from ._tls import certificate_failure
from ._urls import scrub_text

if TYPE_CHECKING:  # _objects imports this module (through _onread)
    from ._objects import PredictionDetails

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ListingLimitError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "SourceChangedError",
    "StreamInterruptedError",
    "ValidationError",
    "WaitTimeoutError",
    "WriftAIError",
    "error_from_response",
    "transport_errors",
]

# The first one present is kept, to be quoted in a support ticket.
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "cf-ray")

# A hostile server may send megabytes of error text, a ``detail`` nested a
# thousand deep, an 8 KiB request id; aiohttp's own text may quote a header.
_MAX_DETAIL_CHARS = 500
_MAX_DETAIL_DEPTH = 6
_MAX_REQUEST_ID_CHARS = 200
_MAX_CAUSE_CHARS = 300


class WriftAIError(Exception):
    """Base class of every error raised by wriftai_async."""


class APIConnectionError(WriftAIError):
    """The server could not be reached, or the connection broke mid-request."""


class APITimeoutError(APIConnectionError):
    """The request did not complete within its timeout."""


class WaitTimeoutError(WriftAIError, TimeoutError):
    """Waiting for a prediction took longer than the ``timeout`` given.

    Also a ``TimeoutError``. ``prediction``: the last state seen, or ``None``.
    """

    def __init__(
        self, message: str, *, prediction: PredictionDetails | None = None
    ) -> None:
        super().__init__(message)
        self.prediction: PredictionDetails | None = prediction


class StreamInterruptedError(WriftAIError):
    """A prediction's event stream ended before its terminal event, for good.

    Raised when the client gives up resuming (see ``predictions.stream``):
    every event before it was delivered once, in order. Resume later with
    ``stream(error.prediction_id, after_id=error.last_event_id)``. The error
    that ended the last attempt, if any, is the ``__cause__``.

    Attributes:
        prediction_id: the prediction, or ``None`` when ``create(stream=True)``
            broke before the server said which prediction it created.
        last_event_id: the id of the last event delivered (or the
            ``after_id`` the stream started from), ``None`` if none.
    """

    def __init__(
        self,
        message: str,
        *,
        prediction_id: str | None = None,
        last_event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.prediction_id = prediction_id
        self.last_event_id = last_event_id


class SourceChangedError(WriftAIError, OSError):
    """A file being uploaded changed, vanished or failed to read mid-upload.

    Also an ``OSError``. Raised at once, never retried: the failure is on
    this machine, not the network's, and re-sending would read the same
    changed file. ``filename``: the path, or the file object's ``name`` (a
    placeholder such as ``<BufferedReader>`` when it has none); ``errno``:
    the read's, if an ``OSError`` caused it (its ``__cause__``), else
    ``None``. The message names the file, what changed and the part.
    """

    def __init__(
        self, message: str, *, filename: str | None = None, errno: int | None = None
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.errno = errno

    def __str__(self) -> str:
        # OSError's own would be "[Errno None] None: 'name'".
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        state = {"filename": self.filename, "errno": self.errno}
        return (type(self), self.args, state)


class ResponseDecodeError(WriftAIError):
    """A successful response whose body is not the JSON the API promises."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class ListingLimitError(WriftAIError):
    """A listing went on past ``limit`` items, the client's ``max_listing_items``.

    Every listing ends by this bound, whatever the server's cursors, after
    the items up to it; set it higher on the client for a longer listing.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the listing went on past {limit} items, the most one listing may "
            "yield (max_listing_items; set it higher on the client for a "
            "longer listing)"
        )
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.limit,))


class APIStatusError(WriftAIError):
    """The server answered with an error status (4xx or 5xx).

    Attributes:
        status: the HTTP status code.
        detail: the ``detail`` of the JSON error body (else its ``error``):
            a string, a list of validation errors, or ``None`` when the body
            was empty or not JSON.
        method: the HTTP method of the request.
        url: the URL of the request.
        request_id: the server's request id header, when it sent one.
        headers: the response headers.
        body: the response body as text (truncated), for debugging.
        hint: the client's own advice, also in the message (such as a 404
            from a ``base_url`` without the API's ``/v1``), or ``None``.
    """

    hint: str | None = None

    def __init__(
        self,
        status: int,
        detail: Any = None,
        *,
        method: str = "",
        url: str = "",
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: str = "",
        hint: str | None = None,
    ) -> None:
        if hint is not None:
            self.hint = hint
        self.status = status
        self.detail = detail
        self.method = method
        self.url = url
        self.request_id = request_id
        self.headers: Mapping[str, str] = dict(headers or {})
        self.body = body
        super().__init__(self._message())

    def _message(self) -> str:
        # Bounded in length and depth (a detail 1,000 deep broke repr()), and
        # one line: the server's text may hold line breaks that would forge
        # lines of the log the message goes to, or a terminal's escapes.
        detail = self.detail
        if isinstance(detail, str) and detail:
            text = one_line(detail, _MAX_DETAIL_CHARS)
        elif detail is not None:
            text = bounded_repr(detail, _MAX_DETAIL_CHARS, _MAX_DETAIL_DEPTH)
        else:
            body = self.body[: _MAX_DETAIL_CHARS * 4].strip()
            text = one_line(body.splitlines()[0], _MAX_DETAIL_CHARS) if body else ""
        where, rid, hint = self._parts()
        return f"{self.status}{where}: {text or 'no detail'}{rid}{hint}"

    def _parts(self) -> tuple[str, str, str]:
        """The message's request, request id and hint, each bounded."""
        where = rid = ""
        if self.method:
            where = f" ({self.method} {one_line(self.url, _MAX_DETAIL_CHARS)})"
        if self.request_id:
            rid = f" [request id {one_line(self.request_id, _MAX_REQUEST_ID_CHARS)}]"
        hint = f" ({self.hint})" if self.hint else ""
        return where, rid, hint

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments do not survive the default pickling protocol.
        return (_rebuild_status_error, (type(self), self.__dict__))


def _rebuild_status_error(cls: type[APIStatusError], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._message())
    return error


class BadRequestError(APIStatusError):
    """400: the request was malformed or not allowed in the resource's state."""


class AuthenticationError(APIStatusError):
    """401: the access token is missing or invalid.

    The message says how to give a token and, when the client had none at
    all, that none was given (``token_given``: ``False``; ``True`` when one
    was sent and refused; ``None`` when unknown, as for another host's 401).
    """

    def __init__(
        self,
        status: int,
        detail: Any = None,
        *,
        token_given: bool | None = None,
        **kwargs: Any,
    ) -> None:
        self.token_given = token_given
        super().__init__(status, detail, **kwargs)

    def _message(self) -> str:
        message = super()._message()
        given = self.__dict__.get("token_given")
        if given is None:
            return message
        where = "$WRIFTAI_ACCESS_TOKEN, access_token= or --token"
        if given:
            return f"{message} (the access token was refused; check {where})"
        return (
            f"{message} (no access token was given: set $WRIFTAI_ACCESS_TOKEN, "
            "pass access_token= or use --token)"
        )


class PermissionDeniedError(APIStatusError):
    """403: the token's user may not do this (for example, not the owner)."""


class NotFoundError(APIStatusError):
    """404: the user, model, version or prediction does not exist."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's current state."""


class ValidationError(APIStatusError):
    """422: the server rejected a parameter.

    ``errors`` is a list of ``{"loc": [...], "msg": str, "type": str}`` dicts,
    one per rejected field (empty when the server sent a plain message).

    Its message is a first line (status, request, how many errors), then
    one line per field error, ``  body.visibility: Input should be ...``:
    at most 10 of them, each at most 200 characters, each the server's text
    made one line (see :func:`_repr.one_line`), then ``  ... and N more``.
    """

    @property
    def errors(self) -> list[dict[str, Any]]:
        detail = self.detail if isinstance(self.detail, list) else []
        return [item for item in detail if isinstance(item, dict)]

    def _message(self) -> str:
        detail = self.detail
        if not isinstance(detail, list) or not detail:
            return super()._message()
        count = len(detail)
        lines = [_field_error(item) for item in detail[:_MAX_FIELD_LINES]]
        if count > _MAX_FIELD_LINES:
            lines.append(f"... and {count - _MAX_FIELD_LINES} more")
        where, rid, hint = self._parts()
        plural = "" if count == 1 else "s"
        head = f"{self.status}{where}: {count} validation error{plural}{rid}{hint}"
        return "\n".join([head, *(f"  {line}" for line in lines)])


#: The field errors a ValidationError's message lists, and each line's length.
_MAX_FIELD_LINES = 10
_MAX_FIELD_CHARS = 200


def _field_error(item: object) -> str:
    """One field error as ``loc: msg``, one line, bounded."""
    if not isinstance(item, dict):
        return bounded_repr(item, _MAX_FIELD_CHARS, 2)
    loc, msg = item.get("loc"), item.get("msg")
    if isinstance(loc, (list, tuple)):
        where = ".".join(
            str(part) if isinstance(part, (str, int)) else bounded_repr(part, 40, 1)
            for part in loc[:20]
        )
    elif isinstance(loc, (str, int)):
        where = str(loc)
    else:
        where = "(no loc)" if loc is None else bounded_repr(loc, 40, 1)
    if not isinstance(msg, str):
        msg = "(no msg)" if msg is None else bounded_repr(msg, _MAX_FIELD_CHARS, 2)
    where = one_line(where, _MAX_FIELD_CHARS // 2)
    return one_line(f"{where}: {msg}", _MAX_FIELD_CHARS)


class RateLimitError(APIStatusError):
    """429: too many requests, still refused after the retries ran out.

    ``reset_at``: the Unix time the server's rate-limit window resets (from
    ``x-ratelimit-reset`` or ``Retry-After``), ``None`` if it did not say.
    """

    reset_at: float | None = None


class ServerError(APIStatusError):
    """5xx: the service (or a proxy in front of it) failed."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimitError,
}


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    method: str,
    url: object,
    token_given: bool | None = None,
    detail: str | None = None,
    hint: str | None = None,
) -> APIStatusError:
    """Build the ``APIStatusError`` for an error response, whatever its body.

    ``token_given``: whether the API call carried a token (``None``: not an
    API call), for a 401's advice. ``detail`` replaces the body's (the
    client's own reason, such as a redirect it did not follow). ``hint``:
    the client's advice, said after the server's words. ``url`` is kept as
    messages show URLs (``display_url``).
    """
    if detail is None:
        # A body too large is not decoded: the exception keeps its text only
        # (a detail of 60 MB, kept by each of a bulk call's failures, was).
        fits = 0 < len(body) <= MAX_ERROR_BODY_SIZE
        try:
            decoded = _json.loads_bounded(body, MAX_ERROR_BODY_VALUES) if fits else None
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            detail = decoded.get("detail")
            if detail is None:
                # The service's recordings answer errors as {"error": "..."}.
                detail = decoded.get("error")
        elif isinstance(decoded, str):
            detail = decoded
    text = body[: _MAX_DETAIL_CHARS * 4].decode("utf-8", "replace")
    request_id = next((headers[n] for n in _REQUEST_ID_HEADERS if n in headers), None)
    cls = ServerError if status >= 500 else _STATUS_CLASSES.get(status, APIStatusError)
    extra: dict[str, Any] = {}
    if cls is AuthenticationError:
        extra["token_given"] = token_given
    wait = parse_rate_limit_reset(headers, now := time.time())  # before a copy
    if "location" in (name.lower() for name in headers):
        # A redirect's target, as messages show URLs: its user info or query
        # (a password, a signature) is nobody's business in an exception.
        headers = {
            name: display_url(value) if name.lower() == "location" else value
            for name, value in headers.items()
        }
    if hint is not None:
        extra["hint"] = hint
    error = cls(
        status,
        detail,
        method=method,
        url=display_url(str(url)),
        request_id=request_id,
        headers=headers,
        body=text,
        **extra,
    )
    if isinstance(error, RateLimitError) and wait is not None:
        error.reset_at = now + wait
    return error


class transport_errors(AbstractContextManager[None]):  # on every call: no generator
    """Raise aiohttp's failures and the call's deadline as WriftAIErrors.

    The one mapping (as httpcore's ``map_exceptions``): a timeout becomes
    :class:`APITimeoutError`, any other aiohttp error :class:`APIConnectionError`,
    its message without any URL's query or user info. ``streaming``: around
    the caller's reading of a stream, where a plain ``TimeoutError`` is theirs.
    ``proxy``: the request's proxy (without its credentials), so that a
    certificate failure of the TLS to an ``https://`` proxy names the proxy.
    """

    __slots__ = ("method", "proxy", "streaming", "url")

    def __init__(
        self,
        method: str,
        url: str | URL,
        *,
        streaming: bool = False,
        proxy: URL | None = None,
    ):
        self.method, self.url, self.streaming = method, url, streaming
        self.proxy = proxy

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        timeout = isinstance(exc, asyncio.TimeoutError)  # TimeoutError from 3.11 on
        if not isinstance(exc, aiohttp.ClientError) and (self.streaming or not timeout):
            return  # nothing raised, or not ours to map
        where, name = f"{self.method} {display_url(self.url)}", type(exc).__name__
        _forget_proxy_credentials(exc)  # a timeout's context may hold one
        if timeout:
            during = " while streaming" if self.streaming else ""
            raise APITimeoutError(f"{where} timed out{during} ({name})") from exc
        text = _connector_text(exc) or scrub_text(str(exc))
        text = one_line(text, _MAX_CAUSE_CHARS)
        what = "broke while streaming" if self.streaming else "failed"
        # OpenSSL's codes, said plainly (and whose certificate it was).
        text = certificate_failure(exc, _failed_proxy(exc, self.proxy)) or text
        raise APIConnectionError(f"{where} {what}: {name}: {text}") from exc


def _connector_text(exc: BaseException | None) -> str | None:
    """A connect failure said without aiohttp's ``ssl:default`` (or a context's
    repr) and with a refusal named, else ``None``."""
    if not isinstance(exc, aiohttp.ClientConnectorError) or isinstance(
        exc, aiohttp.ClientProxyConnectionError
    ):
        return None
    cause = exc.os_error
    if cause.errno == errno.ECONNREFUSED:
        why = "connection refused: nothing listens there"
    else:
        why = scrub_text(cause.strerror or str(cause))
    return f"cannot connect to {exc.host}:{exc.port} ({why})"


def _failed_proxy(error: BaseException | None, proxy: URL | None) -> str | None:
    """The ``https://`` proxy's origin, shown, if ``error`` is a failure to
    connect to that proxy itself (its TLS), not to the server behind it.

    aiohttp names the connection that failed in the error's connection key:
    the proxy's host and port when its own handshake failed, the target's
    when the TLS inside the tunnel did.
    """
    if proxy is None or proxy.scheme != "https":
        return None
    seen: set[int] = set()
    current = error
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientConnectorError):
            if (current.host, current.port) == (proxy.raw_host, proxy.port):
                return display_url(proxy.origin())
            return None
        current = current.__cause__ or current.__context__
    return None


def _forget_proxy_credentials(error: BaseException | None) -> None:
    """Drop the proxy's credentials from the ``request_info`` of ``error``
    and of every aiohttp error it was raised from (an earlier attempt's).

    aiohttp keeps a request's headers in its errors' ``request_info``,
    which their repr shows, and ours keeps them as a cause: the
    ``CONNECT``'s, with its ``Proxy-Authorization``, when a proxy refuses
    the tunnel (``ClientHttpProxyError``) or answers it with something
    that is not HTTP (a plain ``ClientResponseError``); an ``http://``
    request's own when its answer is not HTTP. (The token needs no such
    care: the auth middleware removes it from the live headers.)
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 16:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientResponseError):
            _strip_proxy_authorization(current)
        current = current.__cause__ or current.__context__


def _strip_proxy_authorization(exc: aiohttp.ClientResponseError) -> None:
    info = exc.request_info
    if hdrs.PROXY_AUTHORIZATION not in info.headers:
        return
    headers = CIMultiDict(info.headers)
    headers.popall(hdrs.PROXY_AUTHORIZATION)
    clean = info._replace(headers=CIMultiDictProxy(headers))
    exc.request_info = clean
    if exc.args and exc.args[0] is info:
        exc.args = (clean, *exc.args[1:])
