"""Following a prediction's Server-Sent Events, resumed after a drop.

The parsing of the byte stream is ``_sse.py``'s; this module opens the
stream through the session, turns messages into :class:`StreamEvent` objects
and decides when a broken or closed stream is resumed with ``after_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .. import _json
from .._errors import APIConnectionError, ResponseDecodeError
from .._objects import StreamEvent
from .._params import query
from .._repr import bounded_repr
from .._session import AsyncSession
from .._sse import SSEDecoder, SSEMessage

__all__ = ["follow_stream"]

_STREAM_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
# The longest wait before resuming, whatever the server's ``retry:`` hint or
# the retry policy's backoff.
_MAX_RESUME_DELAY = 5.0
_MAX_BACKOFF_ATTEMPT = 32


def _check_event_stream(response: aiohttp.ClientResponse) -> None:
    if response.content_type != "text/event-stream":
        raise ResponseDecodeError(
            f"{response.method} {response.url} answered {response.status} with "
            f"{bounded_repr(response.content_type, 100)} instead of an event stream",
            method=response.method,
            url=str(response.url),
        )


def _to_event(message: SSEMessage) -> StreamEvent:
    data: Any = message.data
    with contextlib.suppress(ValueError):  # not JSON: keep the text as it came
        data = _json.loads(data)
    return StreamEvent(event=message.event, data=data, id=message.id)


def format_seconds(seconds: float) -> str:
    """``2.5`` -> ``"2.5"``, ``5`` -> ``"5"``: fractions kept, no exponent."""
    if isinstance(seconds, int):
        return str(seconds)
    return f"{seconds:.6f}".rstrip("0").rstrip(".") or "0"


async def follow_stream(
    session: AsyncSession, path: str, after_id: str | None, idle: float | None = None
) -> AsyncIterator[StreamEvent]:
    """Yield a prediction's events until ``done``, resuming after a drop.

    The rules are in :meth:`AsyncPredictions.stream`'s docstring. ``idle``
    is sent as ``Prefer: wait=N``, the longest the server stays idle between
    events: a connection it closes with no event after at least that long is
    an idle close, resumed like the official client's ``stream`` does.

    What keeps a misbehaving server from making this loop forever or repeat
    itself:

    - an event whose id was already yielded (or is ``after_id``) is skipped,
      so a server that ignores ``after_id`` and replays the stream from the
      start repeats nothing; a connection that brought no new event is not
      resumed (once, for the first), unless it was an idle close;
    - every reconnection waits the session's retry backoff (attempt ``n``
      waits up to ``backoff_base * 2**n``, at most ``backoff_max``; a
      connection that stayed open longer than ``backoff_max`` starts the
      count again), or the server's ``retry:`` hint if longer, up to
      ``_MAX_RESUME_DELAY``.
    """
    headers = _STREAM_HEADERS
    if idle is not None:
        headers = {**_STREAM_HEADERS, "Prefer": f"wait={format_seconds(idle)}"}
    loop = asyncio.get_running_loop()
    policy = session.retry
    last_id = after_id
    retry_ms: int | None = None  # the server's ``retry:`` hint
    may_resume = True
    yielded = False
    # Digests of the event ids yielded: ~100 bytes per event, whatever the
    # ids' length.
    seen: set[bytes] = set() if after_id is None else {_digest(after_id)}
    attempt = 0  # reconnections in a row, for the backoff
    while True:
        opened = False
        decoder = SSEDecoder(last_id=last_id)
        opened_at = loop.time()
        try:
            async with session.stream(
                "GET", path, params=query(after_id=last_id), headers=headers
            ) as response:
                opened = True
                _check_event_stream(response)
                async for chunk in response.content.iter_any():
                    for message in decoder.feed(chunk):
                        if message.own_id and message.id:
                            key = _digest(message.id)
                            if key in seen:
                                continue  # a replay: already yielded
                            seen.add(key)
                        may_resume = True  # this connection made progress
                        last_id = message.id
                        yielded = True
                        event = _to_event(message)
                        yield event
                        if event.event == "done":
                            return
            # The server closed before "done" (an idle timeout, a
            # restart): resume like after a drop, once per connection
            # that made progress; a connection that gave nothing ends it.
            if last_id is None and yielded:
                return
            # (wait=0 is no idle close: resuming it would be a busy loop.)
            idle_close = bool(idle) and loop.time() - opened_at >= (idle or 0)
            if not (may_resume or idle_close):
                return
            may_resume = idle_close
        except APIConnectionError:
            # A failed open was already retried by the session; a second
            # drop in a row is not resumed; without an event id the new
            # connection would repeat the events already yielded.
            if not (opened and may_resume) or (last_id is None and yielded):
                raise
            may_resume = False
        if decoder.retry is not None:
            retry_ms = decoder.retry
        if loop.time() - opened_at > policy.backoff_max:
            attempt = 0  # a connection that lasted: not a reconnection loop
        # Capped: 2**attempt past ~1,000 overflows a float, and the backoff
        # reached backoff_max long before.
        delay = policy.backoff(min(attempt, _MAX_BACKOFF_ATTEMPT))
        attempt += 1
        if retry_ms:
            delay = max(delay, retry_ms / 1000)
        await asyncio.sleep(min(delay, _MAX_RESUME_DELAY))


def _digest(event_id: str) -> bytes:
    data = event_id.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=16).digest()
