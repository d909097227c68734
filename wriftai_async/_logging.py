"""The library's log lines and per-attempt trace signals.

``WRIFTAI_LOG=debug|info`` turns on the ``wriftai_async`` logger without code
changes (read once, when the package is imported), the way ``OPENAI_LOG`` does
for openai-python. Applications that configure :mod:`logging` themselves just
set the level of the ``"wriftai_async"`` logger.

The lines come from an aiohttp ``TraceConfig`` (:func:`log_trace_config`), so
they see every attempt the client makes, and from :func:`between_attempts`,
which the retry middleware calls before it re-sends. What a line holds: the
method, the URL path as sent, percent-encoded (so an id from the server
cannot break a line or send a terminal escape; never the query, which may
carry a presigned signature), the status or the exception's type, the
attempt number, the wait before the next attempt and the server's request
id. Never a header value other than the request id, never a body, so never
the access token.

Why :func:`between_attempts` also sends trace signals: aiohttp fires
``on_request_start``/``on_request_end`` once per ``session.request()`` call,
outside the client middlewares, so retries made by a middleware would be
invisible to every ``TraceConfig`` (OpenTelemetry's aiohttp instrumentation
included): one span for three attempts, with the last status only. Closing
the attempt that failed and opening the next one on the request's own traces
makes each attempt a span of its own, with its own status.

Why :func:`redact_trace_urls`: an upload part goes to a presigned URL whose
query string is a credential (``X-Amz-Signature``, ``X-Amz-Credential``,
``X-Amz-Security-Token``). Tracing instrumentations record the URL each
signal carries (OpenTelemetry redacts only a few names, not these), so the
session that sends those PUTs hands every trace config a copy of each signal
whose URL has every query value replaced by ``REDACTED``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import attr
from aiohttp import ClientRequest, ClientResponse
from yarl import URL

from ._errors import _REQUEST_ID_HEADERS

__all__ = [
    "LOGGER_NAME",
    "between_attempts",
    "log_trace_config",
    "logger",
    "redact_trace_urls",
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
        return None
    logger.setLevel(level)
    if not any(isinstance(h, _EnvHandler) for h in logger.handlers):
        handler = _EnvHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
    return level


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


class _AttemptContext(SimpleNamespace):
    """Per-request state of the logging trace config, across its attempts."""

    def __init__(self, trace_request_ctx: Any = None) -> None:
        super().__init__()
        self.trace_request_ctx = trace_request_ctx
        self.attempt = 0
        self.started = 0.0


async def _on_start(
    session: aiohttp.ClientSession,
    ctx: Any,
    params: aiohttp.TraceRequestStartParams,
) -> None:
    ctx.attempt += 1
    ctx.started = time.perf_counter()
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "sending %s %s (attempt %d)",
            params.method,
            params.url.raw_path,
            ctx.attempt,
        )


async def _on_end(
    session: aiohttp.ClientSession,
    ctx: Any,
    params: aiohttp.TraceRequestEndParams,
) -> None:
    if logger.isEnabledFor(logging.INFO):
        response = params.response
        rid = _request_id(response)
        logger.info(
            "%s %s -> %d (attempt %d, %.3fs%s)",
            params.method,
            params.url.raw_path,
            response.status,
            ctx.attempt,
            time.perf_counter() - ctx.started,
            f", request id {rid}" if rid else "",
        )


async def _on_exception(
    session: aiohttp.ClientSession,
    ctx: Any,
    params: aiohttp.TraceRequestExceptionParams,
) -> None:
    if isinstance(params.exception, asyncio.CancelledError):
        # The caller gave up (a task cancelled, a web client gone): not a
        # failure of the request, so one DEBUG line, not an INFO "failed".
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s cancelled (attempt %d, %.3fs)",
                params.method,
                params.url.raw_path,
                ctx.attempt,
                time.perf_counter() - ctx.started,
            )
        return
    if logger.isEnabledFor(logging.INFO):
        # The type only: an exception's text may hold a full (presigned) URL.
        logger.info(
            "%s %s failed: %s (attempt %d, %.3fs)",
            params.method,
            params.url.raw_path,
            type(params.exception).__name__,
            ctx.attempt,
            time.perf_counter() - ctx.started,
        )


def log_trace_config() -> aiohttp.TraceConfig:
    """A ``TraceConfig`` writing one log line per attempt to the library logger."""
    config = aiohttp.TraceConfig(trace_config_ctx_factory=_AttemptContext)
    config.on_request_start.append(_on_start)
    config.on_request_end.append(_on_end)
    config.on_request_exception.append(_on_exception)
    return config


def wanted_trace_configs(
    extra: tuple[aiohttp.TraceConfig, ...],
) -> list[aiohttp.TraceConfig]:
    """The caller's trace configs, plus the logging one when logging is on.

    Checked when the aiohttp session is built (at the first request): a
    disabled logger costs nothing per request.
    """
    configs = list(extra)
    if logger.isEnabledFor(logging.INFO):
        configs.append(log_trace_config())
    return configs


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
    if attr.has(type(params)):
        return attr.evolve(params, url=url)
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


async def between_attempts(
    request: ClientRequest,
    failed: ClientResponse | BaseException,
    attempt: int,
    delay: float,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    """Wait ``delay`` seconds before attempt ``attempt + 2`` of ``request``.

    Called by the retry middleware in place of its plain sleep: it logs the
    retry, closes the failed attempt on the request's traces (its span ends
    with that attempt's status or exception) and opens the next attempt's
    after the wait, so the wait belongs to neither.
    """
    method, url = request.method, request.url
    # ``_traces`` is aiohttp's own list for this request (private, present
    # since aiohttp 3.0); without it the retries are only invisible to traces.
    traces = getattr(request, "_traces", None) or ()
    headers = request.headers
    for trace in traces:
        if isinstance(failed, ClientResponse):
            await trace.send_request_end(method, url, headers, failed)
        else:
            await trace.send_request_exception(method, url, headers, failed)
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "retrying %s %s in %.3fs after %s (attempt %d)",
            method,
            url.raw_path,
            delay,
            _describe(failed),
            attempt + 1,
        )
    try:
        await sleep(delay)
    finally:
        # Also when the wait is cancelled: aiohttp then ends the request on
        # these traces with the CancelledError, which needs an open attempt.
        for trace in traces:
            await trace.send_request_start(method, url, headers)


# Read once, when the package is imported: no code change needed to turn on.
setup_from_env()
