"""Server-Sent Events: an incremental parser of a ``text/event-stream`` body.

:class:`SSEDecoder` follows the WHATWG "event stream interpretation" rules:
lines end with CRLF, LF or a lone CR (even when a CRLF is split between two
chunks); a line starting with ``:`` is a comment (a heartbeat); ``field:
value`` loses one space after the colon; ``data`` lines of one event are joined
with ``\\n``; a blank line dispatches the event, and an event without data is
dropped; the last event id persists from event to event; a leading BOM is
skipped; an unfinished event at the end of the stream is discarded.

Memory stays bounded whatever the stream's length: the decoder holds one
unfinished line and one unfinished event, each limited to ``max_event_size``
bytes (a server that never ends a line gets a :class:`ResponseDecodeError`,
not an ever-growing buffer).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

import attrs

from ._errors import ResponseDecodeError
from ._repr import install_bounded_repr

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "MAX_RETRY_MS",
    "SSEDecoder",
    "SSEMessage",
    "iter_messages",
]

#: Outputs can be large (a base64 image, a long text): generous, but finite.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

#: The largest ``retry:`` kept, in milliseconds (one day). A longer value is
#: cut to this: ``int()`` of 4,300 digits or more raises ``ValueError``, and
#: no reconnection should wait longer anyway (the stream caps its own wait
#: further).
MAX_RETRY_MS = 24 * 3600 * 1000
_MAX_RETRY_DIGITS = len(str(MAX_RETRY_MS))

_BOM = "\ufeff"


@install_bounded_repr
@attrs.frozen
class SSEMessage:
    """One dispatched event, before its data is interpreted.

    ``event`` is ``"message"`` when the server named none; ``id`` is the last
    event id seen on the stream so far (``None`` if there was none);
    ``own_id`` tells whether this event had an ``id:`` line of its own (the
    real service sends one with every event); ``retry`` is the reconnection
    time in milliseconds the server last asked for (at most
    :data:`MAX_RETRY_MS`).
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None
    own_id: bool = False


class SSEDecoder:
    """Turns the chunks of one event stream into :class:`SSEMessage` objects.

    Feed it bytes as they arrive (any chunking); use one decoder per
    connection, but carry ``last_id`` over when resuming.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_has_id",
        "_line",
        "_max",
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
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._has_id = False  # the unfinished event had an id line
        self._skip_lf = False  # the previous chunk ended with a CR
        self._started = False  # whether the BOM check was done

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
        lines = chunk.splitlines(keepends=True)
        last = lines[-1]
        if last.endswith((b"\n", b"\r")):
            self._line = bytearray()
            if last.endswith(b"\r"):
                self._skip_lf = True  # its LF may come with the next chunk
        else:
            self._line = bytearray(lines.pop())
            self._check_size(len(self._line))
        messages: list[SSEMessage] = []
        for raw in lines:
            message = self._process(_strip_eol(raw))
            if message is not None:
                messages.append(message)
        return messages

    def _check_size(self, size: int) -> None:
        if size + self._data_size > self._max:
            raise ResponseDecodeError(
                f"an event stream event exceeded {self._max} bytes"
            )

    def _process(self, raw: bytes) -> SSEMessage | None:
        line = raw.decode("utf-8", "replace")
        if not self._started:
            self._started = True
            if line.startswith(_BOM):
                line = line[1:]
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None  # a comment, typically a keep-alive
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(raw)
            self._check_size(0)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
                self._has_id = True
        elif name == "retry" and value.isascii() and value.isdigit():
            # Leading zeros aside, more digits than the cap's is over it.
            digits = value.lstrip("0") or "0"
            if len(digits) > _MAX_RETRY_DIGITS:
                self.retry = MAX_RETRY_MS
            else:
                self.retry = min(int(digits), MAX_RETRY_MS)
        # Any other field is ignored, as the specification says.
        return None

    def _dispatch(self) -> SSEMessage | None:
        data, event, own_id = self._data, self._event, self._has_id
        self._data, self._data_size, self._event = [], 0, ""
        self._has_id = False
        if not data:
            return None
        return SSEMessage(
            event or "message", "\n".join(data), self.last_id, self.retry, own_id
        )


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line[-1:] in (b"\n", b"\r"):
        return line[:-1]
    return line


async def iter_messages(
    chunks: AsyncIterable[bytes], decoder: SSEDecoder | None = None
) -> AsyncIterator[SSEMessage]:
    """Yield the events of a byte stream as its chunks arrive."""
    decoder = decoder or SSEDecoder()
    async for chunk in chunks:
        for message in decoder.feed(chunk):
            yield message
