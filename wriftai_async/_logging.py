"""The library's log lines and per-attempt spans.

``WRIFTAI_LOG=debug|info`` turns on the ``wriftai_async`` logger without code
changes (read once, when the package is imported), as ``OPENAI_LOG`` does for
openai-python; applications that configure :mod:`logging` set its level.

The retry middleware reports each attempt through an :class:`Attempt`: a
line as it is sent (DEBUG), one when it ends (INFO; a cancel at DEBUG), one
before a retry's wait. A line holds the method, the path as sent,
percent-encoded (no id from the server can break a line; never the query,
which may be a presigned signature), the status or the exception's type,
the attempt, its time and the server's request id: never another header,
never a body, so never the token. When the program uses OpenTelemetry
(imports ``opentelemetry.trace``; we never do), each attempt is also a CLIENT
span of the global tracer provider, sending its own ``traceparent``: aiohttp's
``TraceConfig`` signals see one request per call, the retries inside it.

:func:`redact_trace_urls`: an upload part's presigned URL carries a
credential in its query (``X-Amz-Signature``...), and instrumentations record
the URL each signal carries, so the session sending those PUTs hands every
trace config each signal with every query value replaced by ``REDACTED``
(its attempt spans show the same URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import attrs
from aiohttp import ClientRequest, ClientResponse
from yarl import URL

from ._errors import _REQUEST_ID_HEADERS
from ._version import __version__

__all__ = [
    "LOGGER_NAME",
    "Attempt",
    "log_safely",
    "logger",
    "redact_trace_urls",
    "redacted_url",
    "retrying",
    "setup_from_env",
]

LOGGER_NAME = "wriftai_async"
logger = logging.getLogger(LOGGER_NAME)

_ENV = "WRIFTAI_LOG"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_FORMAT = "[%(asctime)s %(name)s %(levelname)s] %(message)s"


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``WRIFTAI_LOG`` installs (a class of its own: added once)."""


def setup_from_env(environ: dict[str, str] | None = None) -> int | None:
    """Turn on the library's logger as ``WRIFTAI_LOG`` asks; return the level.

    ``debug`` or ``info`` (any case) sends the ``wriftai_async`` logger's lines
    at that level to stderr; anything else, or nothing, leaves logging alone.
    Calling it again does not add a second handler.

    Example::

        $ WRIFTAI_LOG=info wriftai-async models get alice/image-gen -q >/dev/null
        [2026-11-30 06:46:08,599 wriftai_async INFO] GET /v1/models/alice/image-gen
        -> 200 (attempt 1, 0.004s)

    (one line, folded here).
    """
    value = (os.environ if environ is None else environ).get(_ENV, "")
    level = _LEVELS.get(value.strip().lower())
    if level is None:
        if value.strip():
            # A typo ("WRIFTAI_LOG=debgu") must not leave a user staring at
            # no lines: said once, through logging (stderr unless the
            # program configured it), never a Python warning (an import
            # under -W error would fail).
            log_safely(
                logger,
                logging.WARNING,
                "%s=%.20r is not debug or info; the library's log lines stay off",
                _ENV,
                value,
            )
        return None
    logger.setLevel(level)
    if not any(isinstance(h, _EnvHandler) for h in logger.handlers):
        handler = _EnvHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    return level


_handler_failed = False


def log_safely(target: logging.Logger, level: int, msg: str, *args: object) -> None:
    """``target.log(level, msg, *args)``, whatever the program's handlers do.

    logging's own handlers report their failures and go on
    (``Handler.handleError``); a handler of the program's whose ``emit``
    raises would raise here, in the middle of a request (failing the call
    with the handler's exception, or, in the rate-limit store's background
    task, leaving waiting calls to hang). The line is dropped instead, and the
    first such failure is said once on stderr, as ``handleError`` would.
    ``KeyboardInterrupt``, ``SystemExit`` and a cancellation go through, as
    logging's own handlers let them: a Ctrl-C that lands while a line is
    written is the program's, not a failure of its handler to hide.
    """
    global _handler_failed
    try:
        target.log(level, msg, *args, stacklevel=2)
    except Exception as exc:
        if not _handler_failed and logging.raiseExceptions:
            _handler_failed = True
            with contextlib.suppress(Exception):
                sys.stderr.write(
                    f"wriftai_async: a logging handler raised "
                    f"{type(exc).__name__} ({exc!s:.200}); the library's log "
                    "lines that fail so are dropped\n"
                )


def _request_id(response: ClientResponse) -> str | None:
    headers = response.headers
    for name in _REQUEST_ID_HEADERS:
        if name in headers:
            # A header from the network: bounded, and no control characters
            # that could forge or garble a log line.
            value = headers[name][:100]
            return "".join(c if c.isprintable() else "?" for c in value)
    return None


def _describe(outcome: ClientResponse | BaseException) -> str:
    if isinstance(outcome, BaseException):
        return type(outcome).__name__
    rid = _request_id(outcome)
    return f"status {outcome.status}" + (f", request id {rid}" if rid else "")


class Attempt:
    """One attempt of a request: its log lines and, with OpenTelemetry, its span.

    Begun by the retry middleware as it sends; ended once, by
    :meth:`answered` or :meth:`failed`. ``redact``: the URL's query values
    are shown as ``REDACTED`` in the span (a presigned URL).
    """

    __slots__ = ("_method", "_path", "_span", "_started", "number")

    def __init__(self, request: ClientRequest, number: int, *, redact: bool) -> None:
        self._method = request.method
        self._path = request.url.raw_path
        self.number = number
        self._started = time.perf_counter()
        if logger.isEnabledFor(logging.DEBUG):
            log_safely(
                logger,
                logging.DEBUG,
                "sending %s %s (attempt %d)",
                self._method,
                self._path,
                number,
            )
        otel = sys.modules.get("opentelemetry.trace")
        self._span = (
            None if otel is None else _start_span(otel, request, number, redact)
        )

    def answered(self, response: ClientResponse) -> None:
        """The attempt got ``response`` (its body read, when it is read)."""
        if logger.isEnabledFor(logging.INFO):
            rid = _request_id(response)
            log_safely(
                logger,
                logging.INFO,
                "%s %s -> %d (attempt %d, %.3fs%s)",
                self._method,
                self._path,
                response.status,
                self.number,
                time.perf_counter() - self._started,
                f", request id {rid}" if rid else "",
            )
        if self._span is not None:
            _end_span(self._span, response.status, None)

    def failed(self, exc: BaseException) -> None:
        """The attempt ended with ``exc`` (a cancel is not a failure)."""
        took = time.perf_counter() - self._started
        if isinstance(exc, asyncio.CancelledError):
            # The caller gave up (a task cancelled, a web client gone): one
            # DEBUG line, not an INFO "failed".
            if logger.isEnabledFor(logging.DEBUG):
                log_safely(
                    logger,
                    logging.DEBUG,
                    "%s %s cancelled (attempt %d, %.3fs)",
                    self._method,
                    self._path,
                    self.number,
                    took,
                )
        elif logger.isEnabledFor(logging.INFO):
            # The type only: an exception's text may hold a full (presigned) URL.
            log_safely(
                logger,
                logging.INFO,
                "%s %s failed: %s (attempt %d, %.3fs)",
                self._method,
                self._path,
                type(exc).__name__,
                self.number,
                took,
            )
        if self._span is not None:
            _end_span(self._span, None, exc)


def retrying(
    request: ClientRequest,
    failed: ClientResponse | BaseException,
    number: int,
    delay: float,
) -> None:
    """Log that attempt ``number`` of ``request`` is retried after ``delay``."""
    if logger.isEnabledFor(logging.INFO):
        log_safely(
            logger,
            logging.INFO,
            "retrying %s %s in %.3fs after %s (attempt %d)",
            request.method,
            request.url.raw_path,
            delay,
            _describe(failed),
            number,
        )


# -- OpenTelemetry, through the modules the program imported ----------------------

_tracer: Any = None
_propagate: Any = None


def _start_span(otel: Any, request: ClientRequest, number: int, redact: bool) -> Any:
    global _tracer, _propagate
    if isinstance(otel.get_tracer_provider(), otel.ProxyTracerProvider):
        return None  # no provider set yet: the span would do nothing
    if _tracer is None:
        # A proxy: it follows the provider the program sets, even later.
        _tracer = otel.get_tracer(LOGGER_NAME, __version__)
        _propagate = importlib.import_module("opentelemetry.propagate")
    url = redacted_url(request.url) if redact else request.url
    method = request.method
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.full": str(url),
        "server.address": url.host or "",
        "server.port": url.port or 0,
    }
    if number > 1:
        attributes["http.request.resend_count"] = number - 1
    span = _tracer.start_span(method, kind=otel.SpanKind.CLIENT, attributes=attributes)
    if span.get_span_context().is_valid:
        # This attempt's own traceparent, in place of any sent before.
        _propagate.inject(request.headers, context=otel.set_span_in_context(span))
    return span


def _end_span(span: Any, status: int | None, exc: BaseException | None) -> None:
    otel = sys.modules["opentelemetry.trace"]
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(otel.Status(otel.StatusCode.ERROR))
    elif exc is not None:
        span.set_attribute("error.type", type(exc).__name__)
        if not isinstance(exc, asyncio.CancelledError):
            span.record_exception(exc)
            span.set_status(otel.Status(otel.StatusCode.ERROR))
    span.end()


# The signals whose parameters carry the request's URL, and the others.
_URL_SIGNALS = (
    "on_request_start",
    "on_request_chunk_sent",
    "on_response_chunk_received",
    "on_request_end",
    "on_request_exception",
    "on_request_redirect",
    "on_request_headers_sent",
)
_OTHER_SIGNALS = (
    "on_connection_queued_start",
    "on_connection_queued_end",
    "on_connection_create_start",
    "on_connection_create_end",
    "on_connection_reuseconn",
    "on_dns_resolvehost_start",
    "on_dns_resolvehost_end",
    "on_dns_cache_hit",
    "on_dns_cache_miss",
)
REDACTED = "REDACTED"


def redacted_url(url: URL) -> URL:
    """``url`` without user info, each query value replaced by ``REDACTED``."""
    if url.raw_user is not None or url.raw_password is not None:
        url = url.with_user(None)
    if not url.raw_query_string:
        return url
    return url.with_query([(key, REDACTED) for key in url.query]).with_fragment(None)


class _RedactingTraceConfig(aiohttp.TraceConfig):
    """Sends each signal on to ``inner`` with its URL redacted."""

    def __init__(self, inner: aiohttp.TraceConfig) -> None:
        super().__init__()
        self._inner = inner
        for name in _URL_SIGNALS:
            getattr(self, name).append(_forward(getattr(inner, name), redact=True))
        for name in _OTHER_SIGNALS:
            getattr(self, name).append(_forward(getattr(inner, name), redact=False))

    def trace_config_ctx(self, trace_request_ctx: Any = None) -> SimpleNamespace:
        return self._inner.trace_config_ctx(trace_request_ctx)

    def freeze(self) -> None:
        super().freeze()
        self._inner.freeze()


def _forward(signal: Any, *, redact: bool) -> Callable[..., Awaitable[None]]:
    async def forward(session: Any, ctx: Any, params: Any) -> None:
        if redact:
            params = _with_url(params, redacted_url(params.url))
        await signal.send(session, ctx, params)

    return forward


def _with_url(params: Any, url: URL) -> Any:
    # aiohttp's parameter classes are frozen attrs classes (3.x); a later
    # version may make them dataclasses.
    if attrs.has(type(params)):
        return attrs.evolve(params, url=url)
    return dataclasses.replace(params, url=url)


def redact_trace_urls(session: aiohttp.ClientSession) -> None:
    """Make every trace config of ``session`` see URLs with redacted queries.

    Done after the session is built: an instrumentation (OpenTelemetry's)
    adds its own trace config while the session is constructed.
    """
    configs = session.trace_configs  # the session's own list
    for index, config in enumerate(configs):
        if not isinstance(config, _RedactingTraceConfig):
            configs[index] = wrapped = _RedactingTraceConfig(config)
            wrapped.freeze()


# Read once, when the package is imported: no code change needed to turn on.
setup_from_env()
