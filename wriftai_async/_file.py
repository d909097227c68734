"""``File``: local content to upload, and how its bytes are read for the upload.

A :class:`File` wraps ``bytes``, a binary file object or a path. An upload
sends it in parts (the server chooses their size), several at once; each part
reads only its own byte range, a chunk at a time, so memory stays flat however
large the file is. Disk and file-object reads run in a worker thread
(``asyncio.to_thread``) so the event loop never blocks on them.

:class:`PartPayload` is the body of one part's ``PUT``: an aiohttp payload
that reads its range again each time it is written, so the retry middleware
can re-send a part after a 503 or a dropped connection. A read that fails
(the file deleted, truncated, replaced, closed) is not a network failure: the
payload keeps it as :attr:`PartPayload.failure`, a
:class:`SourceChangedError`, which the middleware raises at once instead of
retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mimetypes
import os
from collections.abc import AsyncGenerator, Callable
from errno import EISDIR
from pathlib import Path
from stat import S_ISDIR, S_ISREG
from typing import IO

from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from ._errors import SourceChangedError
from ._repr import quoted

__all__ = [
    "DEFAULT_MIME_TYPE",
    "File",
    "FileContent",
    "PartPayload",
    "Source",
    "SourceChangedError",
]

DEFAULT_MIME_TYPE = "application/octet-stream"
#: Bytes read (and written to the socket) at a time within one part.
CHUNK_SIZE = 256 * 1024

FileContent = bytes | IO[bytes] | os.PathLike[str]
"""What a :class:`File` can hold."""


class File:
    """A file to upload: ``bytes``, a binary file object, or a path.

    Passed to ``files.upload``, or anywhere in a prediction's ``input``
    (``predictions.create`` uploads it first and sends its URL instead).

    Args:
        content: ``bytes``, a file opened in binary mode (read from its start;
            one that cannot seek is read whole to learn its size), or an
            ``os.PathLike`` such as ``pathlib.Path`` (a plain ``str`` is not
            taken as a path).
        mime_type: the MIME type; ``None`` guesses it from the path's or the
            file object's ``name`` (``mimetypes``), else
            ``application/octet-stream``.

    Example::

        File(Path("cat.png"))                 # image/png
        File(b"...", mime_type="audio/wav")
        File(open("notes.txt", "rb"))         # text/plain
    """

    __slots__ = ("content", "mime_type")

    content: FileContent
    mime_type: str

    def __init__(self, content: FileContent, mime_type: str | None = None) -> None:
        if isinstance(content, str):
            raise TypeError(
                "File content must be bytes, a binary file object or a path; "
                "wrap a path string in pathlib.Path"
            )
        if isinstance(content, io.TextIOBase):
            raise TypeError("File needs a file opened in binary mode ('rb')")
        if not isinstance(content, (bytes, bytearray, memoryview, os.PathLike)) and (
            not callable(getattr(content, "read", None))
        ):
            raise TypeError(
                "File content must be bytes, a binary file object or a path, "
                f"not {type(content).__name__}"
            )
        self.content = content
        self.mime_type = mime_type or guess_mime_type(content)

    def __repr__(self) -> str:
        content = self.content
        if isinstance(content, (bytes, bytearray, memoryview)):
            shown = f"<{len(content)} bytes>"
        elif isinstance(content, os.PathLike):
            shown = repr(content)
        else:
            shown = f"<{type(content).__name__}>"
        return f"File({shown}, mime_type={self.mime_type!r})"


def guess_mime_type(content: object) -> str:
    """The MIME type of a path or named file object, as ``mimetypes`` guesses."""
    if isinstance(content, os.PathLike):
        name = Path(content).name
    else:
        # ``name`` may be missing, or an int for a file opened from a descriptor.
        raw = getattr(content, "name", None)
        if not isinstance(raw, str):
            return DEFAULT_MIME_TYPE
        name = os.path.basename(raw)
    guessed, _ = mimetypes.guess_type(name)
    return guessed or DEFAULT_MIME_TYPE


# -- reading the content -------------------------------------------------------


class Source:
    """The content of one upload: its size, and a reader of any byte range.

    ``name``: what messages call it (the path, the file object's ``name``,
    else a placeholder such as ``<bytes>``).
    """

    __slots__ = ("_read", "name", "size")

    def __init__(
        self,
        size: int,
        read: Callable[[int, int], AsyncGenerator[bytes, None]],
        name: str = "<bytes>",
    ) -> None:
        self.size = size
        self._read = read
        self.name = name

    def read_range(self, offset: int, length: int) -> AsyncGenerator[bytes, None]:
        """``length`` bytes from ``offset`` in chunks (fewer if it shrank)."""
        return self._read(offset, length)

    @classmethod
    async def open(cls, content: FileContent) -> Source:
        """A source for ``content``; a file object that cannot seek is read whole."""
        if isinstance(content, os.PathLike):
            path = Path(content)
            stat = await asyncio.to_thread(path.stat)
            # A directory's or a pipe's st_size is not what it reads: refused
            # before the upload is planned, not as a part's failed PUT.
            if S_ISDIR(stat.st_mode):
                raise IsADirectoryError(
                    EISDIR, "a File's path is a directory", str(path)
                )
            if not S_ISREG(stat.st_mode):
                raise ValueError(
                    f"File path {str(path)!r} is not a regular file (a pipe or "
                    "a device?): pass it opened in binary mode instead"
                )
            # Each part's open compares the file with this: one deleted,
            # replaced, grown, shrunk or rewritten since is not uploaded.
            seen = _identity(stat)
            return cls(
                stat.st_size, lambda o, n: _read_path(path, seen, o, n), str(path)
            )
        if isinstance(content, (bytes, bytearray, memoryview)):
            view = memoryview(content).cast("B")
            return cls(len(view), lambda o, n: _read_memory(view, o, n))
        stream: IO[bytes] = content
        name = _stream_name(stream)
        if not await asyncio.to_thread(_seekable, stream):
            data = await asyncio.to_thread(stream.read)
            if not isinstance(data, bytes):
                raise TypeError("File needs a file opened in binary mode ('rb')")
            view = memoryview(data)
            return cls(len(view), lambda o, n: _read_memory(view, o, n), name)
        size = await asyncio.to_thread(_stream_size, stream)
        lock = asyncio.Lock()  # every part shares the stream's position
        return cls(size, lambda o, n: _read_stream(stream, lock, o, n), name)


def _stream_name(stream: object) -> str:
    raw = getattr(stream, "name", None)
    return raw if isinstance(raw, str) else f"<{type(stream).__name__}>"


_Identity = tuple[int, int, int, int]


def _identity(stat: os.stat_result) -> _Identity:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _change(before: _Identity, now: _Identity) -> str | None:
    """How the file changed between two stats, or ``None``."""
    if before[:2] != now[:2]:
        return "it was replaced by another file"
    if before[2] != now[2]:
        return f"its size is now {now[2]} bytes, not {before[2]}"
    if before[3] != now[3]:
        return "it was modified"
    return None


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _stream_size(stream: IO[bytes]) -> int:
    size = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return size


async def _read_memory(
    view: memoryview, offset: int, length: int
) -> AsyncGenerator[bytes, None]:
    end = min(offset + length, len(view))
    for start in range(offset, end, CHUNK_SIZE):
        yield bytes(view[start : min(start + CHUNK_SIZE, end)])


def _open_at(path: Path, seen: _Identity, offset: int) -> IO[bytes]:
    handle = path.open("rb")
    try:
        change = _change(seen, _identity(os.fstat(handle.fileno())))
        if change is not None:
            raise SourceChangedError(
                f"{quoted(str(path), 200)} changed during the upload: {change}",
                filename=str(path),
            )
        handle.seek(offset)
    except BaseException:
        handle.close()
        raise
    return handle


def _close_opened(opening: asyncio.Future[IO[bytes]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()


async def _open_in_thread(path: Path, seen: _Identity, offset: int) -> IO[bytes]:
    # A cancel landing while the worker thread opens the file cannot stop
    # that thread: the handle it returns would be dropped unclosed (a
    # ResourceWarning, an fd held until the collector runs). So the open is
    # shielded, and a cancelled caller leaves it to be closed on arrival.
    loop = asyncio.get_running_loop()
    opening = loop.run_in_executor(None, _open_at, path, seen, offset)
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)
        raise


async def _read_path(
    path: Path, seen: _Identity, offset: int, length: int
) -> AsyncGenerator[bytes, None]:
    # One handle per part attempt: parts read in parallel without sharing a
    # position, and a retried part starts over from its own offset.
    handle = await _open_in_thread(path, seen, offset)
    try:
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(CHUNK_SIZE, remaining))
            if not chunk:
                return  # the file shrank since its size was taken
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()  # synchronous: must also run when cancelled


def _seek_read(stream: IO[bytes], position: int, size: int) -> bytes:
    stream.seek(position)
    data = stream.read(size)
    if not isinstance(data, bytes):
        raise TypeError("File needs a file opened in binary mode ('rb')")
    return data


async def _read_stream(
    stream: IO[bytes], lock: asyncio.Lock, offset: int, length: int
) -> AsyncGenerator[bytes, None]:
    position, remaining = offset, length
    while remaining > 0:
        async with lock:
            chunk = await asyncio.to_thread(
                _seek_read, stream, position, min(CHUNK_SIZE, remaining)
            )
        if not chunk:
            return
        position += len(chunk)
        remaining -= len(chunk)
        yield chunk


# -- one part's body -----------------------------------------------------------


class PartPayload(Payload):
    """The body of one part's ``PUT``: ``length`` bytes of ``source`` at ``offset``.

    Re-readable: every write (a retry is another write) reads the range again
    from the source, chunk by chunk. ``on_sent(n)`` reports the most bytes of
    this part written so far, so a retried part does not count twice.

    A read that fails, or comes up short, is kept in :attr:`failure` before
    it is raised: aiohttp reports any failure of a body as a broken
    connection (``ClientOSError``), which the retry middleware would retry;
    it raises ``failure`` instead (see ``RetryMiddleware``). An ``OSError``
    or ``ValueError`` (a closed file) becomes a :class:`SourceChangedError`
    naming the file.
    """

    #: Why the last write failed on this side (the source), if it did.
    failure: BaseException | None = None

    def __init__(
        self,
        source: Source,
        offset: int,
        length: int,
        mime_type: str,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(source, content_type=mime_type)
        self._source = source
        self._offset = offset
        self._size = length
        self._on_sent = on_sent

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("an upload part is binary; it has no text form")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        length = self._size or 0
        if content_length is not None:
            length = min(length, content_length)
        sent = 0
        # aclosing: a write cut short (cancelled, connection lost) still
        # closes the reader, and with it the file handle, right away.
        chunks = self._source.read_range(self._offset, length)
        async with contextlib.aclosing(chunks):
            while True:
                # Only the read is the source's: a failed writer.write is
                # the connection's, and stays aiohttp's to report.
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    error = self._failed(exc)
                    if error is exc:
                        raise
                    raise error from exc
                await writer.write(chunk)
                sent += len(chunk)
                if self._on_sent is not None:
                    self._on_sent(sent)
        if sent != length:
            why = (
                f"{sent} bytes were read where {length} were announced "
                f"(truncated after its size was taken?)"
            )
            raise self._failed(SourceChangedError(self._message(why)))

    def _message(self, why: str) -> str:
        end = self._offset + (self._size or 0)
        return (
            f"{quoted(self._source.name, 200)} changed during the upload: {why}, "
            f"in the part of bytes {self._offset}-{end}"
        )

    def _failed(self, exc: Exception) -> Exception:
        """``exc`` as raised, kept in :attr:`failure` for the middleware."""
        error: Exception = exc
        if isinstance(exc, SourceChangedError):
            if exc.filename is None:
                exc.filename = self._source.name
        elif isinstance(exc, (OSError, ValueError)):
            detail = exc.strerror if isinstance(exc, OSError) else None
            why = f"reading it failed ({type(exc).__name__}: {detail or exc})"
            error = SourceChangedError(
                self._message(why),
                filename=self._source.name,
                errno=exc.errno if isinstance(exc, OSError) else None,
            )
        self.failure = error
        return error

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        chunks = self._source.read_range(self._offset, self._size or 0)
        async with contextlib.aclosing(chunks):
            return b"".join([chunk async for chunk in chunks])
