"""When to retry a request and how long to wait: the policy, with no I/O.

The retry middleware (``_middlewares.py``) asks :class:`RetryPolicy` after each
failed attempt; the answer is a delay in seconds or ``None`` (give up). Keeping
the decision here, apart from the sleeping and re-sending, lets the rules be
tested without a network.

**Which requests may be sent twice.** Re-sending must never duplicate work on
the server:

- Any method is retried when the connection could not be opened (nothing was
  sent), on 429 (the server refused the request unseen), and on 503 with an
  empty body (a proxy or load balancer answered; the service never saw it).
- Methods other than POST (GET, HEAD, OPTIONS, PUT, PATCH, DELETE) are also
  retried on other transient failures: 500, 502, 503, 504 and connections that
  broke after the request went out. Our PATCH bodies carry absolute values, so
  a second send leaves the same state as the first.
- POST (create a model, a version, a prediction; cancel) is *not* retried
  after it may have reached the service: a 500/502/504 or a dropped connection
  could mean the prediction was created.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs

__all__ = ["RetryPolicy", "parse_rate_limit_reset"]

_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


def _seconds(instance: Any, attribute: attrs.Attribute[float], value: Any) -> None:
    """A finite number of seconds >= 0; ``bool`` is not a number here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{attribute.name} must be a number of seconds, got {type(value).__name__}"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{attribute.name} must be finite and >= 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Timing of retries. The number of retries is ``max_retries`` on the client.

    Attributes:
        backoff_base: first backoff ceiling in seconds; attempt ``n`` waits a
            random time in ``[0, min(backoff_max, backoff_base * 2**n)]``
            ("full jitter", so many clients do not retry in lockstep).
        backoff_max: the largest backoff ceiling, in seconds.
        max_rate_limit_wait: the longest a 429 is waited out, in seconds. A
            reset further away than this raises ``RateLimitError`` at once.

    Each is a finite number >= 0 (``TypeError``/``ValueError`` otherwise).

    Example, for tests that must not sleep::

        AsyncClient(retry=RetryPolicy(backoff_base=0.001, backoff_max=0.01))
    """

    backoff_base: float = attrs.field(default=0.5, validator=_seconds)
    backoff_max: float = attrs.field(default=8.0, validator=_seconds)
    max_rate_limit_wait: float = attrs.field(default=60.0, validator=_seconds)

    def backoff(self, attempt: int) -> float:
        """The jittered delay before retry number ``attempt + 1``."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(0, ceiling)

    def after_response(
        self,
        method: str,
        attempt: int,
        status: int,
        headers: Mapping[str, str],
        body_empty: bool,
        now: float | None = None,
    ) -> float | None:
        """Delay before retrying after an error status, or ``None`` to give up."""
        if status == 429:
            wait = parse_rate_limit_reset(headers, now)
            if wait is None:
                return self.backoff(attempt)
            return wait if wait <= self.max_rate_limit_wait else None
        if status not in _TRANSIENT_STATUSES:
            return None
        if method == "POST" and not (status == 503 and body_empty):
            return None
        wait = parse_rate_limit_reset(headers, now) if status == 503 else None
        if wait is not None and wait <= self.max_rate_limit_wait:
            return wait
        return self.backoff(attempt)

    def after_exception(
        self, method: str, attempt: int, exc: BaseException
    ) -> float | None:
        """Delay before retrying after a transport error, or ``None``."""
        if isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
            exc, aiohttp.ClientSSLError
        ):
            return self.backoff(attempt)  # nothing was sent
        if method == "POST":
            return None
        if isinstance(
            exc,
            (
                aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError,
                aiohttp.ClientPayloadError,
                aiohttp.ServerTimeoutError,
            ),
        ):
            return self.backoff(attempt)
        return None


def parse_rate_limit_reset(
    headers: Mapping[str, str], now: float | None = None
) -> float | None:
    """Seconds until the rate-limit window resets, from the response headers.

    ``x-ratelimit-reset`` is a Unix time in seconds; ``Retry-After`` is either
    a number of seconds or an HTTP date. Values that cannot be read (not a
    number, ``nan``, infinite, a date or zone offset out of any calendar's
    range) are ignored, as if the header were not there.
    """
    now = time.time() if now is None else now
    reset = _number(headers.get("x-ratelimit-reset"))
    if reset is not None:
        return _wait(reset - now)
    retry_after = headers.get("retry-after")
    if retry_after is None:
        return None
    seconds = _number(retry_after)
    if seconds is not None:
        return _wait(seconds)
    try:
        when = email.utils.parsedate_to_datetime(retry_after).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        # A year of twenty digits, an offset of a billion hours: no date.
        return None
    return _wait(when - now)


def _number(value: str | None) -> float | None:
    """A finite number, or ``None`` (``float()`` takes "nan", "inf", "1_0")."""
    if value is None:
        return None
    try:
        number = float(value)
    except (ValueError, TypeError):
        return None
    return number if math.isfinite(number) else None


def _wait(seconds: float) -> float | None:
    return max(0.0, seconds) if math.isfinite(seconds) else None
