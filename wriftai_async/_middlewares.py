"""aiohttp client middlewares: auth, user agent, and retry with a shared gate.

Each middleware is aiohttp's native ``(request, handler) -> response`` callable,
so the chain is folded by aiohttp itself (``ClientSession(middlewares=...)``).
The retry middleware owns the mechanics (sleep, count, re-send); whether and
how long to wait is :class:`~wriftai_async._retry.RetryPolicy`'s decision.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs

from ._logging import between_attempts
from ._retry import RetryPolicy, parse_rate_limit_reset

__all__ = [
    "AuthMiddleware",
    "RateLimitGate",
    "RetryMiddleware",
    "UserAgentMiddleware",
]


class AuthMiddleware:
    """Adds ``Authorization: Bearer <token>``; the token never shows in a repr."""

    __slots__ = ("_header",)

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "AuthMiddleware(token=***)"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        request.headers[hdrs.AUTHORIZATION] = self._header
        return await handler(request)


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

    When any request gets a 429 with a reset time, every request of the same
    client waits for that reset before it is sent, instead of each discovering
    the limit on its own and retrying in a herd.
    """

    __slots__ = ("_clock", "_resume_at", "_sleep")

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._resume_at = 0.0
        self._clock = clock
        self._sleep = sleep

    def close_for(self, seconds: float) -> None:
        """Hold every request until ``seconds`` from now (never shortens)."""
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    @property
    def remaining(self) -> float:
        """Seconds until requests may flow again (0 when open)."""
        return max(0.0, self._resume_at - self._clock())

    async def wait(self) -> None:
        """Return when the gate is open (at once in the common case)."""
        while (delay := self._resume_at - self._clock()) > 0:
            await self._sleep(delay)


class RetryMiddleware:
    """Re-sends a request as :class:`RetryPolicy` decides, at most N times."""

    __slots__ = ("gate", "max_retries", "policy", "sleep")

    def __init__(
        self,
        policy: RetryPolicy,
        max_retries: int,
        gate: RateLimitGate | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.policy = policy
        self.max_retries = max_retries
        self.gate = gate
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"RetryMiddleware({self.policy!r}, max_retries={self.max_retries})"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> ClientResponse:
        attempt = 0
        method = request.method
        while True:
            if self.gate is not None:
                await self.gate.wait()
            try:
                response = await handler(request)
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                if attempt >= self.max_retries:
                    raise
                delay = self.policy.after_exception(method, attempt, exc)
                if delay is None:
                    raise
                failed: ClientResponse | BaseException = exc
            else:
                status = response.status
                if status < 429 or (status > 429 and status < 500):
                    return response
                headers = response.headers
                if status == 429 and self.gate is not None:
                    reset = parse_rate_limit_reset(headers)
                    # A reset beyond the longest wait is not waited for by
                    # anyone: every request then fails fast with the 429.
                    if reset is not None and reset <= self.policy.max_rate_limit_wait:
                        self.gate.close_for(reset)
                if attempt >= self.max_retries:
                    return response
                body_empty = await _body_is_empty(response)
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


async def _body_is_empty(response: ClientResponse) -> bool:
    if response.content_length == 0:
        return True
    if response.content_length is not None and response.content_length > 65536:
        return False
    # Reading caches the body on the response, so the caller can still read it.
    return not (await response.read()).strip()
