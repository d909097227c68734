"""aiohttp client middlewares: auth, user agent, and retry with a shared gate.

Each middleware is aiohttp's native ``(request, handler) -> response`` callable,
so the chain is folded by aiohttp itself (``ClientSession(middlewares=...)``).
The retry middleware owns the mechanics (sleep, count, re-send); whether and
how long to wait is :class:`~wriftai_async._retry.RetryPolicy`'s decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs
from yarl import URL

from ._logging import between_attempts
from ._rate_limit import Limiter
from ._retry import RetryPolicy, parse_rate_limit_reset
from ._urls import origin_key

__all__ = [
    "AuthMiddleware",
    "BodyReader",
    "RateLimitGate",
    "RetryMiddleware",
    "UserAgentMiddleware",
]

_DEFAULT_LIMIT = 64 * 1024 * 1024


class AuthMiddleware:
    """Adds the token and the caller's headers, only on the API's own origin.

    The session follows redirects itself, only within the API's origin (see
    ``AsyncSession._redirect_target``), each hop through the whole chain.
    This middleware checks the origin (scheme, host, port) of every request
    anyway, as ``requests``' ``should_strip_auth`` and httpx do: the token
    and ``headers`` (the client's ``headers=`` and the call's own) go only
    there, and are removed from a request anywhere else. The token never
    shows in a repr.
    """

    __slots__ = ("_headers", "_origin")

    def __init__(
        self,
        origin: URL,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._origin = _origin_key(origin)
        self._headers = dict(headers or {})
        if token:
            self._headers[hdrs.AUTHORIZATION] = f"Bearer {token}"

    def __repr__(self) -> str:
        auth = "token=***" if hdrs.AUTHORIZATION in self._headers else "no token"
        scheme, host, port = self._origin
        return f"AuthMiddleware('{scheme}://{host}:{port}', {auth})"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        if _origin_key(request.url) == self._origin:
            request.headers.update(self._headers)
        else:
            for name in (*self._headers, hdrs.AUTHORIZATION):
                request.headers.popall(name, None)
        return await handler(request)


_origin_key = origin_key


class UserAgentMiddleware:
    """Sets the ``User-Agent`` unless the caller set one for this request."""

    __slots__ = ("user_agent",)

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent

    def __repr__(self) -> str:
        return f"UserAgentMiddleware({self.user_agent!r})"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        # The session skips aiohttp's own default agent, so a header present
        # here was set by the caller on purpose.
        if hdrs.USER_AGENT not in request.headers:
            request.headers[hdrs.USER_AGENT] = self.user_agent
        return await handler(request)


class RateLimitGate:
    """One client's shared knowledge of the rate limit.

    When any request to the API's origin gets a 429 with a reset time, every
    request of the same client to that origin waits for that reset before it
    is sent, instead of each discovering the limit on its own and retrying in
    a herd. Answers from other hosts never feed it (see ``RetryMiddleware``'s
    ``gate_origin``).

    With a ``limiter`` (``rate_limit=``, ``rate_limit_store=``: see
    ``_rate_limit.py``), each request also waits for its turn there, and the
    limiter hears of every reset, to share it with other processes.
    """

    __slots__ = ("_clock", "_resume_at", "_sleep", "limiter")

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        limiter: Limiter | None = None,
    ) -> None:
        self._resume_at = 0.0
        self._clock = clock
        self._sleep = sleep
        self.limiter = limiter

    def close_for(self, seconds: float) -> None:
        """Hold every request until ``seconds`` from now (never shortens)."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)
        if self.limiter is not None:
            self.limiter.report_reset(seconds)

    @property
    def remaining(self) -> float:
        """Seconds until requests may flow again (0 when open)."""
        return max(0.0, self._resume_at - self._clock())

    async def wait(self) -> None:
        """Return when the gate is open (at once in the common case)."""
        while (delay := self._resume_at - self._clock()) > 0:
            await self._sleep(delay)
        if self.limiter is not None:
            await self.limiter.acquire()


class BodyReader:
    """What one call reads of each answer, and what it read of the last.

    ``whole``: read every body to its end (``request``, upload PUTs); else
    only the body of an answer that is not a 2xx (``stream``: a success is
    handed over at the headers and read as it arrives). A body is counted
    after decompression, so ``limit`` bounds the memory a gzip or deflate
    bomb can take; past it the read stops and the answer is closed.
    """

    __slots__ = ("body", "limit", "response", "whole")

    def __init__(self, limit: int, *, whole: bool) -> None:
        self.limit = limit
        self.whole = whole
        self.response: ClientResponse | None = None
        # The body of ``response``: ``None`` if not read or past ``limit``.
        self.body: bytes | None = None

    def wants(self, status: int) -> bool:
        return self.whole or not 200 <= status < 300

    async def read(self, response: ClientResponse) -> bytes | None:
        """The decoded body, or ``None`` (answer closed) past the limit."""
        self.response, self.body = response, None
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > self.limit:
                response.close()
                return None
            chunks.append(chunk)
        self.body = b"".join(chunks)
        return self.body


class RetryMiddleware:
    """Re-sends a request as :class:`RetryPolicy` decides, at most N times.

    With a :class:`BodyReader` an attempt is the whole exchange: status,
    headers and the body read to its end, so a body that breaks off is a
    failed attempt like a dropped connection, decided by the same policy.
    Without one, an attempt ends at the headers of a success and an error
    body is read up to 64 MiB.
    """

    __slots__ = ("_gate_origin", "gate", "max_retries", "policy", "reader", "sleep")

    def __init__(
        self,
        policy: RetryPolicy,
        max_retries: int,
        gate: RateLimitGate | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        reader: BodyReader | None = None,
        *,
        gate_origin: URL | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if gate is not None and gate_origin is None:
            raise ValueError("a gate needs the origin whose answers feed it")
        self.policy = policy
        self.max_retries = max_retries
        self.gate = gate
        # Only the API's own answers speak for its rate limit: a 429 from
        # any other host must not hold every request of the client.
        self._gate_origin = None if gate_origin is None else origin_key(gate_origin)
        self.sleep = sleep
        # Without a reader of its own, error bodies are still read bounded.
        self.reader = reader or BodyReader(_DEFAULT_LIMIT, whole=False)

    def __repr__(self) -> str:
        return f"RetryMiddleware({self.policy!r}, max_retries={self.max_retries})"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        attempt = 0
        method = request.method
        gate = self.gate
        if gate is not None and origin_key(request.url) != self._gate_origin:
            gate = None  # another host: neither held by the gate nor feeding it
        while True:
            if gate is not None:
                await gate.wait()
            response: ClientResponse | None = None
            try:
                response = await handler(request)
                try:
                    body = await self._read(response)
                except BaseException:
                    response.close()  # cancelled mid-body: no half-read reuse
                    raise
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if response is not None:
                    response.close()
                delay = self._after_broken(method, attempt, response, exc)
                if delay is None:
                    if response is None or response.status < 400:
                        raise
                    # An error whose body broke off: its status still says
                    # what happened, with an empty body.
                    self._note(response, b"")
                    return response
                failed: ClientResponse | BaseException = exc
            else:
                status = response.status
                if status < 429 or (status > 429 and status < 500):
                    return response
                headers = response.headers
                if status == 429 and gate is not None:
                    reset = parse_rate_limit_reset(headers)
                    # A reset beyond the longest wait is not waited for by
                    # anyone: every request then fails fast with the 429.
                    if reset is not None and reset <= self.policy.max_rate_limit_wait:
                        gate.close_for(reset)
                if attempt >= self.max_retries:
                    return response
                body_empty = body is not None and not body.strip()
                delay = self.policy.after_response(
                    method, attempt, status, headers, body_empty
                )
                if delay is None:
                    return response
                response.release()
                failed = response
            # Logs the retry; each attempt is its own span for TraceConfigs.
            await between_attempts(request, failed, attempt, delay, self.sleep)
            attempt += 1

    def _after_broken(
        self,
        method: str,
        attempt: int,
        response: ClientResponse | None,
        exc: BaseException,
    ) -> float | None:
        """The delay before re-sending after ``exc``, or ``None`` to give up.

        Per case, why a re-send is (not) safe:

        - nothing sent (connection refused): any method, the server saw
          nothing;
        - the connection broke, or a 2xx/3xx/4xx body broke off: GET, HEAD
          and OPTIONS change nothing; PUT and our PATCHes carry absolute
          values and DELETE removes one named thing, so a second send ends in
          the same state (a DELETE re-sent after its answer broke off may
          then say 404). A POST is *not* re-sent: the service may have
          created the prediction, model or version already, and a second
          send would create another;
        - a 429 whose body broke off: the server refused the request unseen,
          so any method is re-sent, as for a whole 429;
        - a 5xx whose body broke off: as for that 5xx with a body that is not
          empty (for a POST only a 503 with an empty body is safe, and this
          one had a body).
        """
        if attempt >= self.max_retries:
            return None
        if response is not None and response.status >= 429:
            return self.policy.after_response(
                method, attempt, response.status, response.headers, False
            )
        return self.policy.after_exception(method, attempt, exc)

    async def _read(self, response: ClientResponse) -> bytes | None:
        if self.reader.wants(response.status):
            return await self.reader.read(response)
        self._note(response, None)
        return None

    def _note(self, response: ClientResponse, body: bytes | None) -> None:
        self.reader.response, self.reader.body = response, body
