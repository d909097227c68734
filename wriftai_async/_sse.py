"""Server-Sent Events: an incremental parser of a ``text/event-stream`` body.

:class:`SSEDecoder` follows the WHATWG "event stream interpretation" rules:
lines end with CRLF, LF or a lone CR (even when a CRLF is split between two
chunks); a line starting with ``:`` is a comment (a heartbeat); ``field:
value`` loses one space after the colon; ``data`` lines of one event are joined
with ``\\n``; a blank line dispatches the event, and an event without data is
dropped; the last event id persists from event to event; a leading BOM is
skipped; an unfinished event at the end of the stream is discarded.

The parser works on bytes: a line is split on its first colon as bytes, and
an event's data stays bytes (:attr:`SSEMessage.raw`), which the JSON decoder
reads as they are; only the short ``event`` and ``id`` values are decoded.

Memory stays bounded whatever the stream's length: the decoder holds one
unfinished line and one unfinished event, each limited to ``max_event_size``
bytes (a server that never ends a line gets a :class:`ResponseDecodeError`,
not an ever-growing buffer).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator

from ._errors import ResponseDecodeError
from ._repr import bounded_repr

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "MAX_RETRY_MS",
    "SSEDecoder",
    "SSEMessage",
    "iter_messages",
]

#: Outputs can be large (a base64 image, a long text): generous, but finite.
#: The client passes its ``max_response_size`` instead.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

#: The largest ``retry:`` kept, in milliseconds (one day). A longer value is
#: cut to this: ``int()`` of 4,300 digits or more raises ``ValueError``, and
#: no reconnection should wait longer anyway (the stream caps its own wait
#: further).
MAX_RETRY_MS = 24 * 3600 * 1000
_MAX_RETRY_DIGITS = len(str(MAX_RETRY_MS))

_BOM = b"\xef\xbb\xbf"
# :meth:`SSEDecoder.messages` parses a chunk this much at a time.
_PIECE = 16 * 1024
_COLON = 0x3A  # b":"[0]
_SPACE = 0x20
# Event names decoded once each, up to this many distinct ones.
_MAX_NAMES = 64
_EOL = (b"\n", b"\r")


class SSEMessage:
    """One dispatched event, before its data is interpreted.

    ``event`` is ``"message"`` when the server named none; ``raw`` is the
    event's data as bytes (``data`` decodes it, invalid UTF-8 replaced);
    ``id`` is the last event id seen on the stream so far (``None`` if there
    was none); ``own_id`` tells whether this event had an ``id:`` line of its
    own (the real service sends one with every event); ``retry`` is the
    reconnection time in milliseconds the server last asked for (at most
    :data:`MAX_RETRY_MS`).
    """

    __slots__ = ("event", "id", "own_id", "raw", "retry")

    def __init__(
        self,
        event: str,
        raw: bytes,
        id: str | None = None,
        retry: int | None = None,
        own_id: bool = False,
    ) -> None:
        self.event = event
        self.raw = raw
        self.id = id
        self.retry = retry
        self.own_id = own_id

    @property
    def data(self) -> str:
        """The data as text."""
        return self.raw.decode("utf-8", "replace")

    def __repr__(self) -> str:
        fields = (self.event, self.raw, self.id, self.retry, self.own_id)
        return "SSEMessage" + bounded_repr(fields, 300)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SSEMessage):
            return NotImplemented
        mine = (self.event, self.raw, self.id, self.retry, self.own_id)
        return mine == (other.event, other.raw, other.id, other.retry, other.own_id)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value


class SSEDecoder:
    """Turns the chunks of one event stream into :class:`SSEMessage` objects.

    Feed it bytes as they arrive (any chunking); use one decoder per
    connection.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_has_id",
        "_line",
        "_max",
        "_names",
        "_skip_lf",
        "_started",
        "last_id",
        "retry",
    )

    def __init__(
        self,
        *,
        last_id: str | None = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    ) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be >= 1")
        self.last_id = last_id
        self.retry: int | None = None
        self._max = max_event_size
        self._line = bytearray()  # the unfinished line, without its end
        self._data: list[bytes] = []
        self._data_size = 0
        self._event = ""
        self._has_id = False  # the unfinished event had an id line
        self._skip_lf = False  # the previous chunk ended with a CR
        self._started = False  # whether the BOM check was done
        self._names: dict[bytes, str] = {}

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        """Consume ``chunk``; return the events it completed, in order."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
                if not chunk:
                    return []
        if b"\n" not in chunk and b"\r" not in chunk:
            # The common "line arrives in pieces" case: no scanning needed.
            self._line += chunk
            self._check_size(len(self._line))
            return []
        # bytes.splitlines breaks on exactly \r\n, \r and \n (unlike str's,
        # which also breaks on \x85, \u2028... that may appear inside data).
        # Splitting bytes is safe for UTF-8: no multi-byte sequence contains
        # a CR or LF byte.
        if self._line:
            self._line += chunk
            chunk = bytes(self._line)
        if not self._started:
            # The first line is whole now: a byte order mark before it goes.
            self._started = True
            if chunk.startswith(_BOM):
                chunk = chunk[3:]  # an end of line follows: never empty
        lines = chunk.splitlines()
        last = chunk[-1:]
        if last in _EOL:
            self._line = bytearray()
            if last == b"\r":
                self._skip_lf = True  # its LF may come with the next chunk
        else:
            self._line = bytearray(lines.pop())
            self._check_size(len(self._line))
        # The field handling is inline (not a method per line): it is the
        # parser's hot loop, three or four lines per event.
        messages: list[SSEMessage] = []
        for line in lines:
            if not line:  # a blank line: dispatch the event
                if self._data:
                    messages.append(self._dispatch())
                else:
                    self._event, self._has_id = "", False
                continue
            if line[0] == _COLON:  # a comment, typically a keep-alive
                continue
            name, colon, value = line.partition(b":")
            if colon and value and value[0] == _SPACE:
                value = value[1:]
            if name == b"data":
                self._data.append(value)
                self._data_size += len(value) + 1
                if self._data_size > self._max:
                    self._check_size(0)
            elif name == b"id":
                if len(value) > self._max:
                    self._check_size(len(value))
                if b"\0" not in value:
                    self.last_id = value.decode("utf-8", "replace")
                    self._has_id = True
            elif name == b"event":
                self._event = self._name(value)
            elif name == b"retry":
                self._retry(value)
            # Any other field is ignored, as the specification says.
        return messages

    def messages(self, chunk: bytes) -> Iterator[SSEMessage]:
        """The events ``chunk`` completes, parsed a piece at a time.

        Like :meth:`feed`, but the events parsed ahead of the consumer stay
        few (those of 16 KiB), however large the chunk aiohttp buffered: a
        256 KiB chunk of tiny events would otherwise be thousands of objects
        at once.
        """
        if len(chunk) <= _PIECE:
            yield from self.feed(chunk)
            return
        for start in range(0, len(chunk), _PIECE):
            yield from self.feed(chunk[start : start + _PIECE])

    def _check_size(self, size: int) -> None:
        if size + self._data_size > self._max:
            raise ResponseDecodeError(
                f"an event stream event exceeded {self._max} bytes"
            )

    def _name(self, value: bytes) -> str:
        # Event names repeat ("output" thousands of times): decoded once.
        name = self._names.get(value)
        if name is None:
            if len(value) > self._max:
                self._check_size(len(value))
            name = value.decode("utf-8", "replace")
            if len(self._names) < _MAX_NAMES:
                self._names[value] = name
        return name

    def _retry(self, value: bytes) -> None:
        if not value.isdigit():  # bytes: ASCII digits only
            return
        # Leading zeros aside, more digits than the cap's is over it.
        digits = value.lstrip(b"0") or b"0"
        if len(digits) > _MAX_RETRY_DIGITS:
            self.retry = MAX_RETRY_MS
        else:
            self.retry = min(int(digits), MAX_RETRY_MS)

    def _dispatch(self) -> SSEMessage:
        data, event, own_id = self._data, self._event, self._has_id
        self._data, self._data_size, self._event = [], 0, ""
        self._has_id = False
        raw = data[0] if len(data) == 1 else b"\n".join(data)
        return SSEMessage(event or "message", raw, self.last_id, self.retry, own_id)


async def iter_messages(
    chunks: AsyncIterable[bytes], decoder: SSEDecoder | None = None
) -> AsyncIterator[SSEMessage]:
    """Yield the events of a byte stream as its chunks arrive."""
    decoder = decoder or SSEDecoder()
    async for chunk in chunks:
        for message in decoder.feed(chunk):
            yield message
