"""A prediction's event stream: every event once, in order, then the end.

One implementation behind ``predictions.stream()`` and
``predictions.create(..., stream=True)``: :class:`AsyncEventStream` reads
the first connection (the ``GET .../stream``, or the ``POST /predictions``
that creates the prediction), then resumes with ``GET
/predictions/{id}/stream?after_id=<last id>`` until a terminal event
(``done`` or ``error``, both yielded), or raises
:class:`~wriftai_async.StreamInterruptedError`. It never just stops.

The parsing of the byte stream is ``_sse.py``'s; :class:`_Seen` decides which
events are new. :class:`EventStream` is the sync facade's twin.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Generator,
    Iterator,
    Mapping,
)
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp

from .. import _json
from .._errors import (
    APIConnectionError,
    APITimeoutError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    StreamInterruptedError,
    WriftAIError,
)
from .._logging import log_safely, logger
from .._objects import StreamEvent
from .._params import join_path, query, server_segment, text_digest
from .._repr import bounded_repr, shorten
from .._session import AsyncSession
from .._sse import SSEDecoder, SSEMessage
from .._timeouts import deadline

if TYPE_CHECKING:
    from .._portal import Portal

__all__ = [
    "TERMINAL_EVENTS",
    "AsyncEventStream",
    "EventStream",
    "format_seconds",
]

#: The events after which a stream is over. The official wriftai 0.34
#: client ends at either (its ``_TERMINAL_STREAM_EVENT_TYPES``): a failed
#: prediction's stream ends at its ``error``, whether or not ``done`` follows.
TERMINAL_EVENTS = frozenset({"done", "error"})

_STREAM_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
# The longest wait before resuming, whatever the server's ``retry:`` hint or
# the retry policy's backoff.
_MAX_RESUME_DELAY = 5.0
# 2**attempt past ~1,000 overflows a float; the backoff reached backoff_max
# long before.
_MAX_BACKOFF_ATTEMPT = 32
# Without ``wait=`` the server's idle time is unknown: a connection that
# stayed this long without a new event before it ended is taken for an idle
# close (the real service's is tens of seconds); a quicker empty one is not.
_IDLE_FLOOR = 1.0
# A connection that brings no byte for this long beyond the idle time asked
# for (``wait=``, else none) is taken for dead and resumed, counted as a
# failed attempt: a server closes an idle stream itself (the real service
# after tens of seconds), so a longer silence is a connection lost without a
# FIN or RST (a NAT or proxy that dropped it), or a server that holds it
# open and sends nothing, on which a stream would otherwise wait forever.
STALL_MARGIN = 120.0
# Ids that are not integers are remembered by digest, the latest this many.
_ID_WINDOW = 1024


def format_seconds(seconds: float) -> str:
    """``2.5`` -> ``"2.5"``, ``5`` -> ``"5"``: fractions kept, no exponent."""
    if isinstance(seconds, int):
        return str(seconds)
    return f"{seconds:.6f}".rstrip("0").rstrip(".") or "0"


def _check_event_stream(response: aiohttp.ClientResponse) -> None:
    if response.content_type != "text/event-stream":
        raise ResponseDecodeError(
            f"{response.method} {response.url.path} answered {response.status} "
            f"with {bounded_repr(response.content_type, 100)} instead of an "
            "event stream",
            method=response.method,
            url=str(response.url.with_query(None)),
        )


class _Seen:
    """Which events were yielded already, in memory that does not grow.

    The service numbers its events 1, 2, 3...: an integer id not greater than
    the greatest integer id yielded is a replay. Other ids are remembered by
    a 16-byte digest, the latest :data:`_ID_WINDOW` of them. Integers are
    compared as digit strings (length, then text), so a 10,000-digit id costs
    no ``int()`` conversion.
    """

    __slots__ = ("_greatest", "_length", "_order", "_window")

    def __init__(self, after_id: str | None) -> None:
        self._greatest = ""  # the greatest integer id, without leading zeros
        self._length = -1  # its length; -1 while there is none
        self._window: set[bytes] = set()
        self._order: deque[bytes] = deque()
        if after_id:
            self.add(after_id)

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; ``False`` if it was seen already."""
        if event_id.isdigit() and event_id.isascii():
            number = event_id.lstrip("0") or "0" if event_id[0] == "0" else event_id
            length = len(number)
            if length < self._length or (
                length == self._length and number <= self._greatest
            ):
                return False
            self._greatest, self._length = number, length
            return True
        key = text_digest(event_id)
        if key in self._window:
            return False
        if len(self._order) >= _ID_WINDOW:
            self._window.discard(self._order.popleft())
        self._order.append(key)
        self._window.add(key)
        return True


class _Create:
    """The ``POST /predictions`` whose answer is the stream's first part."""

    __slots__ = ("body", "headers")

    def __init__(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> None:
        self.body: Mapping[str, Any] = body
        self.headers: Mapping[str, str] = headers


class _Follower:
    """The state and the loop of one stream.

    Kept apart from :class:`AsyncEventStream` so that its generator does not
    refer back to the stream object: a stream dropped mid-iteration is then
    freed at once, and its generator closed (hanging up), without waiting for
    the cycle collector.
    """

    __slots__ = (
        "after_id",
        "closed",
        "create",
        "idle",
        "misses",
        "prediction_id",
        "retry_ms",
        "session",
    )

    def __init__(
        self,
        session: AsyncSession,
        prediction_id: str | None,
        after_id: str | None,
        idle: float | None,
        create: _Create | None,
    ) -> None:
        self.session = session
        self.prediction_id = prediction_id
        self.after_id = after_id  # the last event yielded, what a resume asks
        self.idle = idle
        self.create = create
        self.closed = False
        self.misses = 0  # connections in a row that brought no new event
        self.retry_ms = 0  # the server's ``retry:`` hint

    def connect(self, first: bool) -> AbstractAsyncContextManager[Any]:
        session = self.session
        if first and self.create is not None:
            return session.stream(
                "POST",
                "/predictions",
                json=self.create.body,
                headers={**self.create.headers, **_STREAM_HEADERS},
            )
        headers = _STREAM_HEADERS
        if self.idle is not None:
            headers = {**headers, "Prefer": f"wait={format_seconds(self.idle)}"}
        assert self.prediction_id is not None
        path = join_path("predictions", self.prediction_id, "stream")
        params = query(after_id=self.after_id)
        return session.stream("GET", path, params=params, headers=headers)

    def to_event(self, message: SSEMessage) -> StreamEvent:
        data: Any
        try:
            data = _json.loads_bounded(message.raw, self.session.max_json_values)
        except _json.JSONTooLargeError as exc:
            raise ResponseDecodeError(
                f"an event of prediction {bounded_repr(self.prediction_id, 80)}'s "
                f"stream is too large to decode: {exc}"
            ) from exc
        except ValueError:  # not JSON: the text as it came
            data = message.raw.decode("utf-8", "replace")
        return StreamEvent(event=message.event, data=data, id=message.id)

    def learn_prediction_id(self, event: StreamEvent) -> None:
        # ``create``'s first event (``init``) is the prediction: its id
        # builds the resume path, so it is checked as one path segment.
        data = event.data
        if isinstance(data, dict) and "id" in data:
            url = self.session.base_url + "/predictions"
            self.prediction_id = server_segment(
                data["id"], "prediction id", method="POST", url=url
            )

    async def run(self) -> AsyncGenerator[StreamEvent, None]:
        session = self.session
        loop = asyncio.get_running_loop()
        seen = _Seen(self.after_id)
        threshold = self.idle or _IDLE_FLOOR  # wait=0 is no idle time
        stall_limit = (self.idle or 0.0) + STALL_MARGIN
        first = True
        try:
            while True:
                progressed = opened = stalled = False
                failure: WriftAIError | None = None
                quiet_since = loop.time()
                decoder = SSEDecoder(max_event_size=session.max_response_size)
                try:
                    async with self.connect(first) as response:
                        opened = True
                        _check_event_stream(response)
                        chunks = response.content.iter_any()
                        while True:
                            try:
                                async with deadline(stall_limit):
                                    chunk = await chunks.__anext__()
                            except StopAsyncIteration:
                                break
                            except asyncio.TimeoutError:
                                stalled = True
                                failure = APITimeoutError(
                                    f"no byte of the event stream for {stall_limit:g}s"
                                )
                                break
                            quiet_since = loop.time()  # bytes came: not idle
                            for message in decoder.messages(chunk):
                                event_id = message.id if message.own_id else None
                                if event_id and not seen.add(event_id):
                                    continue  # a replay: yielded already
                                event = self.to_event(message)
                                if self.prediction_id is None:
                                    self.learn_prediction_id(event)
                                if event_id:
                                    self.after_id = event_id
                                progressed = True
                                yield event
                                if event.event in TERMINAL_EVENTS:
                                    return
                except APIConnectionError as exc:  # a drop, or no connection
                    if first and not opened:
                        raise  # the session retried it already, as any call
                    failure = exc
                except (ServerError, RateLimitError) as exc:  # on a resume
                    if first:
                        raise
                    failure = exc
                first = False
                if decoder.retry is not None:
                    self.retry_ms = decoder.retry
                # A stall is no idle close: the server did not close it.
                idle = opened and not stalled and loop.time() - quiet_since >= threshold
                await asyncio.sleep(self._resume_delay(progressed, idle, failure))
        finally:
            self.closed = True

    def _resume_delay(
        self, progressed: bool, idle: bool, failure: WriftAIError | None
    ) -> float:
        """How long to wait before resuming; raises when it is time to give up.

        ``idle``: the connection stayed quiet at least the idle time before
        it ended.
        """
        if self.prediction_id is None:
            raise StreamInterruptedError(
                "the event stream of POST /predictions ended before it said "
                "which prediction it created: it cannot be resumed",
            ) from failure
        idle_close = idle and not progressed
        if progressed:
            self.misses = 0
        elif not idle_close:
            self.misses += 1
        if self.misses > self.session.max_retries:
            raise self._interrupted(failure) from failure
        delay = 0.0
        if not idle_close:
            attempt = min(self.misses, _MAX_BACKOFF_ATTEMPT)
            delay = self.session.retry.backoff(attempt)
        delay = min(max(delay, self.retry_ms / 1000), _MAX_RESUME_DELAY)
        # Through log_safely: a program's handler that raises must not end
        # a stream that can be resumed.
        log_safely(
            logger,
            logging.INFO,
            "stream of prediction %s ended before its terminal event (%s); "
            "resuming after event %s in %.3fs",
            bounded_repr(self.prediction_id, 80),
            "idle close" if idle_close else _reason(failure),
            bounded_repr(self.after_id, 80),
            delay,
        )
        return delay

    def _interrupted(self, failure: WriftAIError | None) -> StreamInterruptedError:
        last = self.after_id
        misses = self.misses
        return StreamInterruptedError(
            f"the event stream of prediction {bounded_repr(self.prediction_id, 80)} "
            f"was interrupted after event {bounded_repr(last, 80)}: "
            f"{misses} connections in a row brought no new event "
            f"(max_retries={self.session.max_retries}; last: {_reason(failure)}). "
            "Resume with stream(prediction_id, after_id=last_event_id).",
            prediction_id=self.prediction_id,
            last_event_id=last,
        )


class AsyncEventStream:
    """A prediction's events, as :class:`StreamEvent` objects, each once.

    Returned by ``predictions.stream()`` and ``predictions.create(...,
    stream=True)``. Iterate it with ``async for``; it ends after the
    terminal event (``done``, or ``error`` for a failed prediction), which
    it yields, or raises :class:`~wriftai_async.StreamInterruptedError`. It
    holds a connection while iterated: leave it with ``async with`` (or call
    :meth:`aclose`) to hang up at once.

    ``prediction_id`` and ``last_event_id`` say where it stands, for
    ``stream(prediction_id, after_id=last_event_id)`` later.

    Example::

        async with client.predictions.stream(pid) as events:
            async for event in events:
                print(event.event, event.data)
    """

    __slots__ = ("_events", "_follower")

    def __init__(
        self,
        session: AsyncSession,
        *,
        prediction_id: str | None = None,
        after_id: str | None = None,
        idle: float | None = None,
        create: _Create | None = None,
    ) -> None:
        self._follower = _Follower(session, prediction_id, after_id, idle, create)
        self._events: AsyncGenerator[StreamEvent, None] = self._follower.run()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        where = bounded_repr(self.prediction_id, 80)
        return f"<{type(self).__name__} of prediction {where} ({state})>"

    @property
    def prediction_id(self) -> str | None:
        """The prediction streamed (``None`` until ``create``'s first event)."""
        return self._follower.prediction_id

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event yielded (or the ``after_id`` given)."""
        return self._follower.after_id

    @property
    def closed(self) -> bool:
        """Whether the stream ended or was closed."""
        return self._follower.closed

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        # The generator itself: ``async for`` then skips a call per event.
        return self._events

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Hang up (idempotent); the iteration then ends."""
        self._follower.closed = True
        await self._events.aclose()

    async def close(self) -> None:
        """The same as :meth:`aclose`."""
        await self.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _reason(failure: WriftAIError | None) -> str:
    if failure is None:
        return "closed by the server"
    return shorten(f"{type(failure).__name__}: {failure}", 300)


class EventStream:
    """The sync ``Client``'s :class:`AsyncEventStream`: an iterator of events.

    Iterate it with ``for``; leave it with ``with`` (or call :meth:`close`)
    to hang up at once.

    Example::

        with client.predictions.stream(pid) as events:
            for event in events:
                print(event.event, event.data)
    """

    __slots__ = ("_async", "_events", "_portal")

    def __init__(self, portal: Portal, stream: AsyncEventStream) -> None:
        self._portal = portal
        self._async = stream
        self._events: Generator[StreamEvent, None, None] = portal.iterate(stream)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncEventStream", "EventStream", 1)

    @property
    def prediction_id(self) -> str | None:
        """The prediction streamed (``None`` until ``create``'s first event)."""
        return self._async.prediction_id

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event yielded (or the ``after_id`` given)."""
        return self._async.last_event_id

    @property
    def closed(self) -> bool:
        """Whether the stream ended or was closed."""
        return self._async.closed

    def __iter__(self) -> Iterator[StreamEvent]:
        return self

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def close(self) -> None:
        """Hang up (idempotent); the iteration then ends."""
        self._events.close()  # a started iteration closes the async stream
        if not self._async.closed and not self._portal.closed:
            self._portal.call(self._async.aclose)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
