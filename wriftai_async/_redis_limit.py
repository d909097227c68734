"""One rate budget for a fleet: the pacing of ``_rate_limit`` kept in Redis.

Imported only when a client is given a store (``rate_limit_store=`` or
``WRIFTAI_RATE_LIMIT_STORE``); needs the ``wriftai-async[redis]`` extra.

What every process holding the same token (at the same API, with the same
store) shares, under keys named by a hash of both (never the token):

- **The schedule** (``rate_limit=N``): one number, the time of the next free
  slot, moved on atomically by a Lua script (:data:`ACQUIRE`). A process asks
  for as many slots as it has requests waiting (one round trip for all of
  them) and gets consecutive slots ``1/N`` apart on the shared timeline, at
  most :attr:`RedisLimiter.HORIZON` ahead. Times are Redis's own (``TIME``),
  so the machines' clocks do not matter, and so is the ordering: N per
  second across the fleet, spaced, never a burst at a window's edge.
- **The holds** (always): a 429's reset is written by :data:`HOLD` (a key that
  expires when the hold ends, and the schedule moved past it) and published;
  every process listens and stops sending at once, instead of each finding
  the 429 on its own. A process that starts during a hold reads the key
  before its first request.

Why this and not ``limits`` or ``pyrate-limiter`` (measured by
``benchmarks/rate_limit_backends.py``, figures in the README): both answer
yes/no for one request per round trip, with the client's own clock, so a
waiting request polls and machines whose clocks differ disagree on the
window; neither can share a 429's hold. A round trip costs about the same
client CPU in all of them (55-75 µs: it is redis-py's); what differs is how
many requests share one: 0.10 round trips per permit here against 1.0
(``pyrate-limiter``) and 2.2 (``limits``) for a fleet wanting 400 a second,
and 2 µs per permit against 55-75 µs for one caller (the lease).

**When Redis fails** (refused, reset, timed out, a script error, a reply
that is not RESP): one warning is logged, the process paces itself with the
same options (its own N per second and its own holds) and calls go on within
their deadlines; a probe every :attr:`RedisLimiter.PROBE_EVERY` seconds tries
again, and an info line says when the store is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from yarl import URL

from ._logging import log_safely
from ._rate_limit import Pacer, url_credentials

__all__ = ["ACQUIRE", "HOLD", "RedisLimiter"]

log = logging.getLogger("wriftai_async.rate_limit")

# Every failure of the store: redis-py's own errors, the socket's, a timeout
# raised as asyncio's (a distinct class before Python 3.11), and whatever
# redis-py's parser raises on a reply that is not RESP (``:abc`` is
# ``int(b"abc")``, a ValueError; ``$-5`` a negative read): anything but a
# cancel. Let through, one such reply killed the task handing out slots, and
# every call waiting for one hung until its own deadline.
_FAILURES = (Exception,)

#: Reserve up to ARGV[1] slots ARGV[2] µs apart, starting at the shared next
#: free slot (KEYS[1], µs of Redis time), none starting later than ARGV[3] µs
#: from now. KEYS[2] exists while a 429's hold lasts. Returns {slots granted,
#: µs from now to the first slot (or, none granted, to when to ask again),
#: ms of hold left}. ARGV[1] = 0 only reads the hold.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hold = redis.call('PTTL', KEYS[2])
if hold > 0 then return {0, 0, hold} end
local wanted = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
if wanted <= 0 or interval <= 0 then return {0, 0, 0} end
local horizon = tonumber(ARGV[3])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if next_free < now then next_free = now end
local room = math.ceil((now + horizon - next_free) / interval)
if room <= 0 then return {0, next_free - horizon - now + 1, 0} end
if room < wanted then wanted = room end
local last = next_free + wanted * interval
local ttl = math.ceil((last - now) / 1000) + tonumber(ARGV[4])
redis.call('SET', KEYS[1], string.format('%.0f', last), 'PX', ttl)
return {wanted, next_free - now, 0}
"""

#: Hold every process ARGV[1] ms from now (never shortening a hold): KEYS[2]
#: expires then, the schedule (KEYS[1]) restarts then, and the hold is
#: published on channel ARGV[2] for those already running. Returns 1 if the
#: hold was made longer, else 0.
HOLD = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[2]) >= ms then return 0 end
redis.call('SET', KEYS[2], '1', 'PX', ms)
local t = redis.call('TIME')
local resume = tonumber(t[1]) * 1000000 + tonumber(t[2]) + ms * 1000
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if next_free < resume then
  local ttl = ms + tonumber(ARGV[3])
  redis.call('SET', KEYS[1], string.format('%.0f', resume), 'PX', ttl)
end
redis.call('PUBLISH', ARGV[2], ARGV[1])
return 1
"""


def _shown(url: str) -> str:
    """The store's URL for a log line: no user, password or query."""
    try:
        parsed = URL(url)
        if parsed.scheme.lower() == "unix":  # no host: the socket's path
            return f"unix://{parsed.path}"
        return str(parsed.with_user(None).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return url.split("://", 1)[0] + "://..."


def _ints(reply: Any, count: int) -> list[int]:
    """A script's reply, checked: a store shared with others may hold anything."""
    if (
        not isinstance(reply, list)
        or len(reply) != count
        or not all(type(value) is int for value in reply)
    ):
        raise RedisError(f"unexpected reply from the rate-limit script: {reply!r:.80}")
    return reply


class RedisLimiter(Pacer):
    """A :class:`~wriftai_async._rate_limit.Pacer` whose slots and holds are shared.

    ``key`` is :func:`~wriftai_async._rate_limit.store_key` of the token and
    the API's origin; ``rate`` is N per second for the whole fleet, or
    ``None`` to share the holds only (no round trip per request then: the
    holds arrive by publish/subscribe). ``max_hold``: the longest hold taken
    from the store (the retry policy's ``max_rate_limit_wait``).
    """

    #: Seconds one Redis connect or command may take before the store counts
    #: as failed (Redis answers a local client in well under a millisecond).
    OP_TIMEOUT = 1.0
    #: Seconds between two attempts to reach a failed store.
    PROBE_EVERY = 1.0
    #: How far ahead (seconds) a process may reserve slots: bounds what a
    #: process that dies leaves unused.
    HORIZON = 1.0
    #: The most slots asked for in one round trip.
    BATCH = 64
    #: An idle schedule key expires this long (ms) after its last slot.
    IDLE_MS = 60_000

    def __init__(
        self,
        url: str,
        key: str,
        rate: float | None,
        *,
        max_hold: float,
        op_timeout: float | None = None,
        probe_every: float | None = None,
    ) -> None:
        super().__init__(rate)
        timeout = self.OP_TIMEOUT if op_timeout is None else op_timeout
        self.url = _shown(url)
        # To strike from the text of an error, wherever the URL carried it,
        # as written and percent-decoded (as redis-py uses it).
        parsed = URL(url)
        decoded = [parsed.user, parsed.password, parsed.query.get("password")]
        self._secrets = sorted(
            {s for s in [*decoded, *url_credentials(url)] if s}, key=len, reverse=True
        )
        # No retries inside redis-py (its default backs off for seconds): a
        # failure is handled here, at once, by pacing locally.
        self._redis = aredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self._acquire_script = self._redis.register_script(ACQUIRE)
        self._hold_script = self._redis.register_script(HOLD)
        self._keys = (f"wriftai:{{{key}}}:slots", f"wriftai:{{{key}}}:hold")
        self._channel = f"wriftai:{{{key}}}:holds"
        self._max_hold = max_hold
        self._probe_every = self.PROBE_EVERY if probe_every is None else probe_every
        self._interval_us = max(1, round(self._interval * 1e6))
        self.online = True
        # Set once the first subscription has read the current hold (or
        # failed): the first requests wait for it.
        self._ready: asyncio.Event | None = None
        self._listener: asyncio.Task[None] | None = None
        self._prober: asyncio.Task[None] | None = None
        self._reports: set[asyncio.Task[None]] = set()
        self._reported_until = -math.inf
        # For the lease: requests taken, and when the schedule was last asked.
        self._taken = self._taken_at_fill = 0
        self._last_fill = -math.inf

    def __repr__(self) -> str:
        return f"RedisLimiter({self.url!r}, rate={self.rate})"

    # -- the seam --------------------------------------------------------------

    async def acquire(self) -> None:
        if self._closed:
            raise RuntimeError("this client is closed; create a new one")
        ready = self._ready
        if ready is None:
            ready = self._start()
        if not ready.is_set():
            await ready.wait()
        self._taken += 1
        await super().acquire()

    def report_reset(self, seconds: float) -> None:
        super().report_reset(seconds)
        until = time.monotonic() + seconds
        # Many requests meet the same 429 at once: the store hears it once.
        if not self.online or self._closed or until <= self._reported_until + 0.01:
            return
        self._reported_until = until
        ms = max(1, math.ceil(seconds * 1000))
        self._spawn(self._report(ms), self._reports)

    async def aclose(self) -> None:
        await super().aclose()
        tasks = [t for t in (self._listener, self._prober, *self._reports) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(*_FAILURES):
            await self._redis.aclose()

    # -- the shared schedule ---------------------------------------------------

    def _local(self) -> bool:
        return not self.online

    async def _fill(self, wanted: int, now: float) -> float:
        if not self.online:
            return await super()._fill(wanted, now)
        # The lease: besides the requests waiting now, as many slots as this
        # process has been taking in a GRACE's time (after which a slot is
        # dropped unused), so that requests coming one after the other share
        # a round trip too.
        elapsed = max(now - self._last_fill, 0.001)
        demand = (self._taken - self._taken_at_fill) / elapsed
        self._last_fill, self._taken_at_fill = now, self._taken
        wanted = min(max(wanted, int(demand * self.GRACE)), self.BATCH)
        try:
            reply = await self._acquire_script(
                keys=self._keys,
                args=[
                    wanted,
                    self._interval_us,
                    round(self.HORIZON * 1e6),
                    self.IDLE_MS,
                ],
            )
            granted, delay_us, hold_ms = _ints(reply, 3)
        except _FAILURES as exc:
            self._failed(exc)
            return await super()._fill(wanted, now)
        # Redis's "now" fell somewhere in the round trip; counting from its
        # end errs late, never early.
        start = time.monotonic()
        if hold_ms > 0:
            self._take_hold(hold_ms)
            return 0.0
        delay = min(max(delay_us, 0) / 1e6, self.HORIZON + 1.0)
        if granted <= 0:
            return max(delay, 0.001)
        first = start + delay
        interval = self._interval
        count = min(granted, wanted)
        self._slots.extend(first + i * interval for i in range(count))
        return 0.0

    # -- holds -----------------------------------------------------------------

    def _take_hold(self, ms: int) -> None:
        if ms > 0:
            self._hold(min(ms / 1000, self._max_hold))

    async def _report(self, ms: int) -> None:
        try:
            await self._hold_script(
                keys=self._keys, args=[ms, self._channel, self.IDLE_MS]
            )
        except _FAILURES as exc:
            self._failed(exc)

    async def _peek(self) -> None:
        """Read the current hold (one round trip, reserves nothing)."""
        reply = await self._acquire_script(keys=self._keys, args=[0, 0, 0, 0])
        self._take_hold(_ints(reply, 3)[2])

    def _start(self) -> asyncio.Event:
        ready = self._ready = asyncio.Event()
        self._listener = self._spawn(self._listen(ready))
        return ready

    async def _listen(self, ready: asyncio.Event) -> None:
        """Subscribe to the holds, read the current one, then follow them."""
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._channel)
            await self._peek()  # after subscribing: no hold falls in between
            ready.set()
            while True:
                # A bounded wait: older redis-py applies the socket timeout
                # to a blocking read of a subscription.
                message = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=5.0
                )
                if message is not None and message.get("type") == "message":
                    try:
                        ms = int(message["data"])
                    except (TypeError, ValueError):
                        continue  # not ours: the channel is the only filter
                    self._take_hold(ms)
        except _FAILURES as exc:
            self._failed(exc)
        finally:
            ready.set()
            # Untyped in redis-py: named through a typed alias.
            close: Callable[[], Awaitable[None]] = pubsub.aclose
            with contextlib.suppress(*_FAILURES):
                await close()

    # -- failure and recovery --------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        """The store failed: warn once, pace locally, and probe until it is back."""
        if self._closed:
            return
        if self.online:
            self.online = False
            text = str(exc)
            for secret in self._secrets:
                text = text.replace(secret, "***")
            log_safely(
                log,
                logging.WARNING,
                "rate-limit store %s failed (%s: %.200s); this process paces "
                "itself until the store is back",
                self.url,
                type(exc).__name__,
                text,
            )
        if self._prober is None or self._prober.done():
            self._prober = self._spawn(self._probe())

    async def _probe(self) -> None:
        while True:
            await asyncio.sleep(self._probe_every)
            try:
                # Connections made before the failure may look open and
                # fail at their next use: none is kept (nothing else uses
                # the store while it is down).
                await self._redis.connection_pool.disconnect()
                await self._peek()
            except _FAILURES:
                continue
            self.online = True
            log_safely(
                log,
                logging.INFO,
                "rate-limit store %s is back; the fleet paces together",
                self.url,
            )
            if self._listener is None or self._listener.done():
                self._listener = self._spawn(self._listen(asyncio.Event()))
            return

    def _spawn(
        self, coro: Any, keep: set[asyncio.Task[None]] | None = None
    ) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        if keep is not None:
            keep.add(task)
            task.add_done_callback(keep.discard)
        return task
