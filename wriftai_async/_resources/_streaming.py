"""Following a prediction's Server-Sent Events, resumed after a drop.

The parsing of the byte stream is ``_sse.py``'s; this module opens the
stream through the session, turns messages into :class:`StreamEvent` objects
and decides when a broken or closed stream is resumed with ``after_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from .. import _json
from .._errors import APIConnectionError, ResponseDecodeError
from .._objects import StreamEvent
from .._params import query
from .._session import AsyncSession
from .._sse import SSEDecoder, SSEMessage

__all__ = ["follow_stream"]

_STREAM_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
# A server's ``retry:`` hint is honoured before resuming, up to this long.
_MAX_RESUME_DELAY = 5.0


def _check_event_stream(response: aiohttp.ClientResponse) -> None:
    if response.content_type != "text/event-stream":
        raise ResponseDecodeError(
            f"{response.method} {response.url} answered {response.status} with "
            f"{response.content_type!r} instead of an event stream",
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
    """
    headers = _STREAM_HEADERS
    if idle is not None:
        headers = {**_STREAM_HEADERS, "Prefer": f"wait={format_seconds(idle)}"}
    loop = asyncio.get_running_loop()
    last_id = after_id
    retry_ms: int | None = None  # the server's ``retry:`` hint
    may_resume = True
    yielded = False
    while True:
        opened = False
        decoder = SSEDecoder(last_id=last_id)
        connected_at = loop.time()
        try:
            async with session.stream(
                "GET", path, params=query(after_id=last_id), headers=headers
            ) as response:
                opened = True
                _check_event_stream(response)
                async for chunk in response.content.iter_any():
                    for message in decoder.feed(chunk):
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
            idle_close = bool(idle) and loop.time() - connected_at >= (idle or 0)
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
        if retry_ms:
            await asyncio.sleep(min(retry_ms / 1000, _MAX_RESUME_DELAY))
