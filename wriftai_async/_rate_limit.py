"""Pacing the requests of one access token: a rate, and the holds 429s ask for.

The retry middleware consults the client's :class:`Limiter` before every
attempt to the API (``await acquire()``) and tells it of every 429's reset
(``report_reset(seconds)``), so that every request of the client waits for
that reset instead of each discovering the limit on its own and retrying in
a herd. That is the whole seam: what stands behind it is chosen here, from
the client's options.

- neither option: a :class:`Pacer` that paces nothing and only keeps holds
  (one clock read per request while none holds).
- ``rate_limit=N`` without a store: a :class:`Pacer`, this process alone sends
  at most N requests per second.
- ``rate_limit_store="redis://..."`` (or ``WRIFTAI_RATE_LIMIT_STORE``): a
  ``RedisLimiter`` (``_redis_limit.py``, imported only then), which shares the
  holds and, with ``rate_limit=N``, the N per second with every process that
  uses the same token, API and store.

**Why slots, not a counter.** A limiter that answers "yes/no" makes a waiting
request ask again and again, and many waiting requests ask in a herd when the
window turns. A :class:`Pacer` instead hands out *slots*: times, ``1/N``
apart, at which one request may go. Requests wait in a queue, first come
first served, and one task per client (the pump) releases the head of the
queue at each slot. A request cancelled while it waits (its call's deadline)
leaves the queue without taking a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import re
import time
from collections import deque
from typing import Protocol

from ._checks import check_number

__all__ = [
    "ENV_STORE",
    "Limiter",
    "Pacer",
    "make_limiter",
    "scrubbed",
    "store_key",
    "url_credentials",
]

#: The environment variable read when ``rate_limit_store`` is not given.
ENV_STORE = "WRIFTAI_RATE_LIMIT_STORE"
_SCHEMES = ("redis://", "rediss://", "unix://")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


class Limiter(Protocol):
    """What the rate-limit gate consults; see the module docstring."""

    async def acquire(self) -> None:
        """Return when one request may be sent (at once when nothing holds it)."""

    def report_reset(self, seconds: float) -> None:
        """A 429 said: send nothing for ``seconds``."""

    async def aclose(self) -> None:
        """Stop background work and release connections. Idempotent."""


class Pacer:
    """At most ``rate`` requests per second from this process, and the holds.

    ``rate=None`` paces nothing and only keeps holds. The schedule is a
    "generic cell rate" one: ``next_slot`` is the earliest time the next
    request may go, and each request taken moves it one interval on, so a
    client that was idle may send at once but never two requests closer
    than an interval apart (a burst of one). The interval is ``(1 +
    GRACE) / rate``: a slot may be used up to ``GRACE`` late (the loop was
    busy), and even then no second holds more than ``rate`` requests, the
    bound a server that counts per second enforces. The price is ``GRACE``
    (2%) of the rate.

    Subclasses replace :meth:`_fill` to get slots from elsewhere (Redis).
    """

    #: A slot found this late (the loop was busy) is dropped, not used: sent
    #: late it would go out together with the next ones, a burst.
    GRACE = 0.02

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._interval = 0.0 if rate is None else (1.0 + self.GRACE) / rate
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Times (time.monotonic) at which one request each may go, in order.
        self._slots: deque[float] = deque()
        self._next_slot = -math.inf
        self._hold_until = -math.inf
        self._pump: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate={self.rate})"

    # -- the seam --------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for a slot (and for any hold to end); cancellable."""
        now = time.monotonic()
        if not self._waiters and now >= self._hold_until and self._take_now(now):
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if self._pump is None or self._pump.done():
            if self._closed:
                waiter.cancel()
                raise RuntimeError("this client is closed; create a new one")
            self._pump = loop.create_task(self._run(), name="wriftai-rate-limit")
        await waiter

    def report_reset(self, seconds: float) -> None:
        """Hold every request ``seconds`` from now (never shortens a hold)."""
        self._hold(seconds)

    async def aclose(self) -> None:
        self._closed = True
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    RuntimeError("this client is closed; create a new one")
                )

    @property
    def remaining(self) -> float:
        """Seconds until a hold ends (0 when nothing holds requests)."""
        return max(0.0, self._hold_until - time.monotonic())

    # -- for subclasses --------------------------------------------------------

    def _hold(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        if until > self._hold_until:
            self._hold_until = until
            # Slots inside the hold are void; the schedule restarts after it,
            # one slot at a time (no burst when the hold ends).
            self._slots.clear()
            self._next_slot = max(self._next_slot, until)

    def _take_now(self, now: float) -> bool:
        """Take a slot that is due now without queueing, if there is one."""
        if self._interval == 0.0:
            return True
        slots = self._slots
        while slots and slots[0] < now - self.GRACE:
            slots.popleft()
        if slots and slots[0] <= now:
            slots.popleft()
            return True
        if not slots and self._next_slot <= now and self._local():
            self._next_slot = now + self._interval
            return True
        return False

    def _local(self) -> bool:
        """Whether slots come from this process's own schedule (here: always)."""
        return True

    async def _fill(self, wanted: int, now: float) -> float:
        """Add up to ``wanted`` slots; return how long to wait before asking again.

        Here: the next slot of this process's own schedule.
        """
        slot = max(self._next_slot, now)
        self._slots.append(slot)
        self._next_slot = slot + self._interval
        return 0.0

    # -- the pump --------------------------------------------------------------

    async def _run(self) -> None:
        """Release the waiters, in order, one per slot; end when none is left."""
        waiters, slots = self._waiters, self._slots
        while True:
            while waiters and waiters[0].done():  # cancelled while waiting
                waiters.popleft()
            if not waiters:
                return
            now = time.monotonic()
            if now < self._hold_until:
                await asyncio.sleep(self._hold_until - now)
                continue
            if self._interval == 0.0:  # holds only: the hold is over
                while waiters:
                    waiter = waiters.popleft()
                    if not waiter.done():
                        waiter.set_result(None)
                return
            while slots and slots[0] < now - self.GRACE:
                slots.popleft()
            if not slots:
                wait = await self._fill(len(waiters), now)
                if wait > 0:
                    await asyncio.sleep(wait)
                continue
            if slots[0] > now:
                await asyncio.sleep(slots[0] - now)
                continue
            slots.popleft()
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


def _check_store(value: object, source: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{source} must be a redis:// URL, got {type(value).__name__}")
    if not value.strip():
        # Never a silent "no store": a fleet with an unset variable in its
        # configuration would each pace alone, unnoticed.
        raise ValueError(
            f"{source} is empty; give a redis://host:port/db URL, or leave it "
            "unset for no store"
        )
    if not value.lower().startswith(_SCHEMES):
        # Only what is surely a scheme is shown: a value without one may
        # begin with a password ("s3cret@redis:6379").
        scheme = _SCHEME.match(value)
        shown = f"not {scheme.group(1)[:20]!r}..." if scheme else "no scheme given"
        raise ValueError(
            f"{source} must be a redis://, rediss:// or unix:// URL ({shown})"
        )
    return value


def url_credentials(url: str) -> list[str]:
    """What of ``url`` may be a credential: its user info (whole, and each
    part), and a ``password=`` in its query; read without a URL parser (the
    URL may not parse)."""
    rest = url.split("://", 1)[-1]
    found: list[str] = []
    head = rest.split("/", 1)[0]
    if "@" in head:
        userinfo = head.rsplit("@", 1)[0]
        found += [userinfo, *userinfo.split(":")]
    for part in rest.partition("?")[2].split("&"):
        name, _, value = part.partition("=")
        if name.lower() == "password":
            found.append(value)
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrubbed(text: str, url: str) -> str:
    """``text`` with every credential of ``url`` in it replaced by ``***``."""
    for secret in url_credentials(url):
        text = text.replace(secret, "***")
    return text


def store_key(token: str | None, origin: str) -> str:
    """The store's name for one token at one API: a hash, never the token."""
    digest = hashlib.sha256(f"{origin}\n{token or ''}".encode()).hexdigest()
    return digest[:32]


def make_limiter(
    rate_limit: object,
    rate_limit_store: object,
    *,
    token: str | None,
    origin: str,
    max_hold: float,
) -> Limiter:
    """The limiter a client's options ask for.

    ``rate_limit_store=None`` reads ``WRIFTAI_RATE_LIMIT_STORE``. Only a store
    imports ``redis`` (the ``wriftai-async[redis]`` extra); without it, a
    clear ``ImportError`` says what to install.
    """
    rate = None if rate_limit is None else check_number(rate_limit, "rate_limit")
    if rate_limit_store is None:
        store = os.environ.get(ENV_STORE)
        if store is None:
            return Pacer(rate)
        url = _check_store(store, ENV_STORE)
        source = ENV_STORE
    else:
        source = "rate_limit_store"
        url = _check_store(rate_limit_store, source)
    try:
        from ._redis_limit import RedisLimiter
    except ImportError as exc:
        raise ImportError(
            "a rate-limit store needs the redis client: "
            "pip install 'wriftai-async[redis]'"
        ) from exc
    try:
        return RedisLimiter(url, store_key(token, origin), rate, max_hold=max_hold)
    except ValueError as exc:
        # yarl's or redis-py's words ("Port out of range 0-65535"), said of
        # the option; never chained: the URL holds the store's password.
        reason = scrubbed(f"{exc}", url)[:200]
        raise ValueError(f"{source} is not a usable Redis URL: {reason}") from None
