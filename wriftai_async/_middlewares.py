"""aiohttp client middlewares: the API's headers, and retry.

Each is aiohttp's native ``(request, handler) -> response`` callable, built
once per session (``AsyncSession`` holds its chains) and folded by aiohttp.
The retry middleware owns the mechanics (the bounded loop, each attempt's
body, the wait); whether and how long to wait is :class:`RetryPolicy`'s
decision (``_retry.py``); a 429's hold goes to the client's limiter
(``_rate_limit.py``), which every attempt to the API waits for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import cast

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, hdrs
from yarl import URL

from ._logging import Attempt, retrying
from ._rate_limit import Limiter
from ._retry import RetryPolicy
from ._urls import origin_key

__all__ = ["AuthMiddleware", "Response", "RetryMiddleware"]


class Response(aiohttp.ClientResponse):
    """aiohttp's response, holding the body the retry middleware read.

    The ``response_class`` of the client's sessions: the session gets the
    body through the response the chain returns, nothing else.
    """

    #: The body, decompressed; ``None`` when not read (a stream's success)
    #: or past the limit (the response is then closed).
    body: bytes | None = None

    async def read_within(self, limit: int) -> None:
        """Read the body to its end into :attr:`body`, at most ``limit`` bytes.

        Counted after decompression, so ``limit`` bounds the memory a gzip or
        deflate bomb can take; past it the read stops and the answer is closed.
        """
        chunks: list[bytes] = []
        size = 0
        async for chunk in self.content.iter_any():
            size += len(chunk)
            if size > limit:
                self.close()
                return
            chunks.append(chunk)
        self.body = b"".join(chunks)


class AuthMiddleware:
    """The headers of an API request; the token and ``headers=`` only on its origin.

    The session follows redirects itself, only within the API's origin (see
    ``AsyncSession._redirect_target``), each hop through the whole chain.
    This middleware checks the origin (scheme, host, port) of every request
    anyway, as ``requests``' ``should_strip_auth`` and httpx do: the token and
    the client's ``headers=`` go only there, and are removed from a request
    anywhere else. A header the call set itself is kept (the token always
    wins). Once the exchange is over they are removed again: aiohttp's errors
    and responses show the request's headers (``request_info``), so a cause
    chain or a returned response never holds them. The token never shows in
    a repr. So is a proxy's ``Proxy-Authorization``, which the session puts
    on an ``http://`` request for the proxy to read.
    """

    __slots__ = ("_after", "_defaults", "_headers", "_names", "_origin", "_token")

    def __init__(
        self,
        origin: URL,
        token: str | None,
        headers: Mapping[str, str],
        user_agent: str,
        *,
        proxy_credentials: bool = False,
    ) -> None:
        self._origin = origin_key(origin)
        self._headers = dict(headers)
        self._token = f"Bearer {token}" if token else None
        self._names = (*self._headers, hdrs.AUTHORIZATION)
        # Only a client whose API requests carry a proxy's credentials
        # (an http:// API through a proxy with a password) has one to drop.
        extra = (hdrs.PROXY_AUTHORIZATION,) if proxy_credentials else ()
        self._after = (*self._names, *extra)
        self._defaults = {hdrs.ACCEPT: "application/json", hdrs.USER_AGENT: user_agent}

    def __repr__(self) -> str:
        auth = "token=***" if self._token else "no token"
        scheme, host, port = self._origin
        return f"AuthMiddleware('{scheme}://{host}:{port}', {auth})"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        headers = request.headers
        if origin_key(request.url) == self._origin:
            for name, value in self._headers.items():
                if name not in headers:
                    headers[name] = value
            if self._token is not None:
                headers[hdrs.AUTHORIZATION] = self._token
        else:
            self._remove(request, self._names)
        for name, value in self._defaults.items():
            if name not in headers:
                headers[name] = value
        try:
            return await handler(request)
        finally:
            self._remove(request, self._after)

    @staticmethod
    def _remove(request: ClientRequest, names: tuple[str, ...]) -> None:
        for name in names:
            request.headers.popall(name, None)


class RetryMiddleware:
    """Re-sends a request as :class:`RetryPolicy` decides, at most N times.

    An attempt is the whole exchange: status, headers and the body, read to
    its end under ``max_body`` into :attr:`Response.body` (every body; with
    ``read_success=False`` only a non-2xx one, a stream's success being read
    as it arrives), so a body that breaks off is a failed attempt like a
    dropped connection, decided by the same policy. With a ``limiter``, each
    attempt to ``limiter_origin`` first waits for its turn, and a 429 from
    that origin holds every request there; a 429 from any other host holds
    nothing. ``redact``: spans show the URL's query values as ``REDACTED``.
    ``local_bodies``: the bodies are read from local files
    (``PartPayload``): a body that failed to read itself (its ``failure``)
    is raised at once, never retried, though aiohttp reports it as a
    broken connection (and turns any ``OSError`` out of the chain into
    ``ClientOSError``: ``AsyncSession.put_external`` raises the body's
    ``failure`` in its place).
    """

    __slots__ = (
        "_limiter_origin",
        "limiter",
        "local_bodies",
        "max_body",
        "max_retries",
        "policy",
        "read_success",
        "redact",
    )

    def __init__(
        self,
        policy: RetryPolicy,
        max_retries: int,
        max_body: int,
        *,
        read_success: bool = True,
        limiter: Limiter | None = None,
        limiter_origin: URL | None = None,
        redact: bool = False,
        local_bodies: bool = False,
    ) -> None:
        self.policy = policy
        self.local_bodies = local_bodies
        self.max_retries = max_retries
        self.max_body = max_body
        self.read_success = read_success
        self.limiter = limiter
        self._limiter_origin = (
            None if limiter_origin is None else origin_key(limiter_origin)
        )
        self.redact = redact

    def __repr__(self) -> str:
        return f"RetryMiddleware({self.policy!r}, max_retries={self.max_retries})"

    async def __call__(
        self, request: ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        # Another host's answers neither wait for the API's limit nor hold it.
        own = origin_key(request.url) == self._limiter_origin
        limiter = self.limiter if own else None
        response: Response | None = None
        error: Exception | None = None
        for number in range(1, self.max_retries + 2):  # bounded: attempts
            if limiter is not None:
                await limiter.acquire()
            if request.session.closed:
                # The client was closed while this call waited between two
                # attempts: aiohttp would fail an assert (AssertionError).
                # Said as to a call made after the close, and to one waiting
                # for the rate limit then.
                raise RuntimeError("this client is closed; create a new one")
            response, error = await self._attempt(request, handler, number)
            if limiter is not None and response is not None and response.status == 429:
                hold = self.policy.rate_limit_hold(response.headers)
                if hold is not None:
                    limiter.report_reset(hold)
            if number > self.max_retries:
                break
            delay = self._delay(request.method, number - 1, response, error)
            if delay is None:
                break
            failed = error or cast(Response, response)
            if failed is response:
                response.release()
            retrying(request, failed, number, delay)
            await asyncio.sleep(delay)
        if error is None:
            return cast(Response, response)
        if response is None or response.status < 400:
            raise error
        response.body = b""  # an error whose body broke off: its status says enough
        return response

    async def _attempt(
        self, request: ClientRequest, handler: ClientHandlerType, number: int
    ) -> tuple[Response | None, Exception | None]:
        """One exchange: the response (its body read), or the transport error."""
        attempt = Attempt(request, number, redact=self.redact)
        response: Response | None = None
        try:
            response = cast(Response, await handler(request))
            if self.read_success or not 200 <= response.status < 300:
                await response.read_within(self.max_body)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            if response is not None:
                response.close()
            failure = self._body_failure(request)
            if failure is None:
                attempt.failed(exc)
                return response, exc
        except BaseException as exc:
            if response is not None:
                response.close()  # cancelled mid-body: no half-read reuse
            attempt.failed(exc)
            raise
        else:
            failure = self._body_failure(request)
            if failure is None:
                attempt.answered(response)
                return response, None
            response.close()  # answered before the body was all sent
        # The body failed on this side (a file that changed): aiohttp said
        # "Can not write request body", but no retry would read it better.
        attempt.failed(failure)
        raise failure  # its cause is the read's own error

    def _body_failure(self, request: ClientRequest) -> BaseException | None:
        """Why the request's body failed to read itself, if it did."""
        if not self.local_bodies:
            return None
        failure: BaseException | None = getattr(request.body, "failure", None)
        return failure

    def _delay(
        self,
        method: str,
        attempt: int,
        response: Response | None,
        error: Exception | None,
    ) -> float | None:
        if response is not None and (error is None or response.status >= 429):
            # An error status whose body broke off is decided as that status,
            # its body not empty (for a POST only an empty 503 is safe).
            body = response.body if error is None else None
            empty = body is not None and not body.strip()
            return self.policy.after_response(
                method, attempt, response.status, response.headers, empty
            )
        assert error is not None
        return self.policy.after_exception(method, attempt, error)
