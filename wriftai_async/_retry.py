"""When to retry a request and how long to wait: the policy, with no I/O.

The retry middleware asks :class:`RetryPolicy` after each failed attempt for
a delay in seconds, or ``None`` (give up). Transient: 429, 500, 502, 503,
504, no connection, a broken one, a body cut short. A POST (create a
prediction, a model, a version; cancel) is re-sent only when the service
cannot have seen it (:func:`_may_resend`): no connection, a 429, a 503 with
an empty body (a proxy answered); after a 500 or a drop the prediction may
exist. Other methods always are: GET/HEAD change nothing, PUT and our
PATCHes carry absolute values, a DELETE removes one named thing. A 429's
reset is waited for up to ``max_rate_limit_wait``; else full-jitter backoff.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping

import aiohttp
import attrs

from ._checks import check_number
from ._constants import DEFAULT_BACKOFF_BASE as _BASE
from ._constants import DEFAULT_BACKOFF_MAX as _MAX
from ._constants import DEFAULT_MAX_RATE_LIMIT_WAIT as _RATE_LIMIT_WAIT
from ._tls import certificate_failure

__all__ = ["RetryPolicy", "parse_rate_limit_reset"]

_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
# Failures after which the request may have reached the service.
_BROKEN = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
    aiohttp.ServerTimeoutError,
)


def _seconds(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    check_number(value, attribute.name, zero=True)


def _may_resend(method: str, *, unseen: bool) -> bool:
    """The POST rule: a POST is re-sent only if the service cannot have seen it."""
    return unseen or method != "POST"


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

    backoff_base: float = attrs.field(default=_BASE, validator=_seconds)
    backoff_max: float = attrs.field(default=_MAX, validator=_seconds)
    max_rate_limit_wait: float = attrs.field(
        default=_RATE_LIMIT_WAIT, validator=_seconds
    )

    def backoff(self, attempt: int) -> float:
        """The jittered delay before retry number ``attempt + 1``."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return random.uniform(0, ceiling)

    def rate_limit_hold(
        self, headers: Mapping[str, str], now: float | None = None
    ) -> float | None:
        """How long a 429 holds every request to the API: its reset, or ``None``.

        ``None`` too for a reset beyond ``max_rate_limit_wait``.
        """
        reset = parse_rate_limit_reset(headers, now)
        return None if reset is None or reset > self.max_rate_limit_wait else reset

    def after_response(
        self,
        method: str,
        attempt: int,
        status: int,
        headers: Mapping[str, str],
        body_empty: bool,
        now: float | None = None,
    ) -> float | None:
        """Delay before retrying after an error status, or ``None`` to give up.

        ``body_empty``: the body was read whole and is blank (a proxy's 503).
        """
        unseen = status == 429 or (status == 503 and body_empty)
        if status not in _TRANSIENT_STATUSES or not _may_resend(method, unseen=unseen):
            return None
        reset = parse_rate_limit_reset(headers, now) if status in (429, 503) else None
        if reset is not None and reset <= self.max_rate_limit_wait:
            return reset
        # A 429 whose reset is too far away is raised now; else, back off.
        return None if status == 429 and reset is not None else self.backoff(attempt)

    def after_exception(
        self, method: str, attempt: int, exc: BaseException
    ) -> float | None:
        """Delay before retrying after a transport error, or ``None``."""
        if certificate_failure(exc) is not None:
            return None  # an untrusted or a missing certificate stays so
        unseen = isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
            exc, aiohttp.ClientSSLError
        )
        if (unseen or isinstance(exc, _BROKEN)) and _may_resend(method, unseen=unseen):
            return self.backoff(attempt)
        return None


def parse_rate_limit_reset(
    headers: Mapping[str, str], now: float | None = None
) -> float | None:
    """Seconds until the rate-limit window resets, from the response headers.

    ``x-ratelimit-reset`` is a Unix time; ``Retry-After`` seconds or an HTTP
    date. A value no clock can reach (``nan``, a year of twenty digits, a
    zone offset of a billion hours) is ignored, as if absent.
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
