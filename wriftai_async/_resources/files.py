"""Files: upload local content, get back a URL to use as a model input.

An upload is three steps (the official client's, on the same wire):
``POST /uploads`` with ``{"size", "mime_type"}`` answers ``{"id", "urls",
"part_size"}``; each part is ``PUT`` to its presigned URL (on the storage
host: without the access token, see :meth:`AsyncSession.put_external`) and
answers an ``ETag``; ``POST /uploads/{id}/complete`` with the ETags in URL
order answers ``{"download_url"}``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from yarl import URL

from .. import _json
from .._checks import check_callback, check_int
from .._errors import ResponseDecodeError
from .._file import File, PartPayload, Source
from .._objects import Upload, UploadCompletion
from .._params import join_path, server_segment
from .._repr import bounded_repr, display_url
from .._urls import url_problem
from ._base import AsyncResource

__all__ = [
    "DEFAULT_FILE_CONCURRENCY",
    "DEFAULT_PART_CONCURRENCY",
    "AsyncFiles",
    "AsyncUploads",
    "UploadProgress",
    "upload_files_in",
]

#: Parts of one file sent at once by ``files.upload``: the official client's
#: ``Files._MAX_CONCURRENT_PARTS``.
DEFAULT_PART_CONCURRENCY = 16

T = TypeVar("T")

UploadProgress = Callable[[int, int], None]
"""``on_progress(bytes_done, bytes_total)``, called as parts are sent."""


class AsyncFiles(AsyncResource):
    """File uploads, as ``client.files``."""

    __slots__ = ()

    async def upload(
        self,
        file: File | bytes | os.PathLike[str],
        *,
        mime_type: str | None = None,
        concurrency: int = DEFAULT_PART_CONCURRENCY,
        on_progress: UploadProgress | None = None,
    ) -> str:
        """Upload a file and return its download URL.

        The server splits the file into parts; up to ``concurrency`` parts are
        sent at once, each read a chunk at a time from its own byte range (so
        memory stays flat for big files; disk reads run in a worker thread).
        A part that fails with a 5xx or a broken connection is re-sent like
        any idempotent request. Part uploads go to presigned URLs, without
        the access token.

        Args:
            file: a :class:`File`, ``bytes`` or a path (``pathlib.Path``).
            mime_type: overrides the file's MIME type (by default guessed from
                the path or the file object's name, else
                ``application/octet-stream``).
            concurrency: how many parts are sent at once (>= 1; 16 by
                default, as the official client).
            on_progress: called with ``(bytes_done, bytes_total)`` as bytes go
                out; a re-sent part is not counted twice. A plain function
                (a coroutine function is refused with ``TypeError``); with
                the sync ``Client`` it runs on the client's loop thread.

        Example::

            url = await client.files.upload(Path("cat.png"))
            prediction = await client.predictions.create(
                "alice/upscaler", {"image": url}
            )

        Raises:
            ValueError: the file is empty (before any request).
            SourceChangedError: the file was deleted, replaced, truncated,
                modified or closed during the upload, or a read failed
                (also an ``OSError``, naming the file): raised at once, no
                part is retried for it.
            ResponseDecodeError: the server's upload plan does not fit the
                file (part count or size, a part URL that is not an absolute
                http(s) URL), or a part answered without an ETag.
        """
        check_int(concurrency, "concurrency", 1)
        check_callback(on_progress, "on_progress")
        if mime_type is not None and not isinstance(mime_type, str):
            raise TypeError(f"mime_type must be a str, not {type(mime_type).__name__}")
        if not isinstance(file, File):
            file = File(file, mime_type)
        elif mime_type is not None:
            file = File(file.content, mime_type)
        source = await Source.open(file.content)
        size = source.size
        if size == 0:
            # The service takes no empty upload (the emulator, as it: 422
            # "size: Input should be greater than 0"): said before any
            # request, naming the file.
            raise ValueError(
                f"{bounded_repr(source.name, 200, 1)} is empty (0 bytes): "
                "the API takes no empty upload"
            )
        created = await self._session.request(
            "POST", "/uploads", json={"size": size, "mime_type": file.mime_type}
        )
        upload_id, urls, part_size = _check_plan(created, size)
        progress = _Progress(len(urls), size, on_progress)

        async def send(index: int, url: str) -> str:
            offset = index * part_size
            length = min(part_size, size - offset)
            body = PartPayload(
                source, offset, length, file.mime_type, progress.reporter(index)
            )
            headers = {"Content-Type": file.mime_type, "Content-Length": str(length)}
            answer = await self._session.put_external(url, body, headers=headers)
            etag = answer.get("ETag")
            if not etag:
                raise ResponseDecodeError(
                    f"PUT of upload part {index + 1}/{len(urls)} answered "
                    "without an ETag header",
                    method="PUT",
                    url=display_url(url),
                )
            return etag

        # ``concurrency`` workers share one iterator of the parts: a plan of
        # a million parts costs a million list entries, not a million tasks.
        etags: list[str] = [""] * len(urls)
        parts = iter(enumerate(urls))

        async def worker() -> None:
            for index, url in parts:
                etags[index] = await send(index, url)

        try:
            await _all(worker() for _ in range(min(concurrency, len(urls))))
        except Exception:
            progress.raise_callback_error()
            raise
        # The id is the server's: one path segment, percent-encoded, never
        # ".." (which sent the completion to /complete).
        path = join_path("uploads", upload_id, "complete")
        done = await self._session.request("POST", path, json={"etags": etags})
        if not isinstance(done, dict) or not isinstance(done.get("download_url"), str):
            raise ResponseDecodeError(
                f"POST {path} answered {_short(done)} instead of a download_url",
                method="POST",
                url=self._session.base_url + path,
            )
        return str(done["download_url"])


class AsyncUploads(AsyncResource):
    """The two API steps of an upload, as ``client.uploads``.

    For callers who send the parts themselves (from another process, a
    browser, a storage SDK): ``create`` plans the upload, the parts are
    ``PUT`` to ``upload.urls`` (no token: they are presigned), and
    ``complete`` assembles them. :meth:`AsyncFiles.upload` does all three.
    Named as the official client names them (``client.uploads``).
    """

    __slots__ = ()

    async def create(self, *, size: int, mime_type: str) -> Upload:
        """Plan the upload of ``size`` bytes of ``mime_type`` (``POST /uploads``).

        Example::

            upload = await client.uploads.create(size=len(data), mime_type="image/png")
            # PUT data[i * upload.part_size:(i + 1) * upload.part_size]
            # to upload.urls[i], keep each answer's ETag header, then:
            done = await client.uploads.complete(upload.id, etags)
            print(done.download_url)
        """
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an int, not {type(size).__name__}")
        if size < 0:
            raise ValueError(f"size must be >= 0, not {size}")
        if not isinstance(mime_type, str):
            raise TypeError(f"mime_type must be a str, not {type(mime_type).__name__}")
        body = {"size": size, "mime_type": mime_type}
        result: Upload = await self._send("POST", "/uploads", body, Upload)
        return result

    async def complete(self, upload_id: str, etags: Sequence[str]) -> UploadCompletion:
        """Assemble the uploaded parts (``POST /uploads/{id}/complete``).

        Args:
            upload_id: the ``id`` of :meth:`create`'s answer.
            etags: each part's ``ETag``, in the order of ``upload.urls``.
        """
        if not isinstance(upload_id, str):
            raise TypeError(f"upload_id must be a str, not {type(upload_id).__name__}")
        if isinstance(etags, str) or not all(isinstance(e, str) for e in etags):
            raise TypeError("etags must be a list of str")
        path = join_path("uploads", upload_id, "complete")
        body = {"etags": list(etags)}
        result: UploadCompletion = await self._send(
            "POST", path, body, UploadCompletion
        )
        return result


# -- helpers -------------------------------------------------------------------


def _short(value: Any) -> str:
    # Bounded in length and depth: a server's answer may be nested 1,000 deep.
    return bounded_repr(value, 80, 3)


def _check_part_url(url: str) -> str | None:
    """Why ``url`` cannot be an upload part's URL, or ``None`` if it can."""
    try:
        parsed = URL(url, encoded=True)
    except (ValueError, TypeError):
        return "it is not a URL"
    # file:, ftp:, a relative path, a host the resolver cannot encode (xn--a,
    # a 64-character label): nothing we may PUT a file to.
    return url_problem(parsed, user_info=True)


#: The most parts one upload may be split into: S3's own limit for a
#: multipart upload, which presigned part URLs come from.
MAX_UPLOAD_PARTS = 10_000


def _check_plan(data: Any, size: int) -> tuple[str, list[str], int]:
    """The ``(id, urls, part_size)`` of ``POST /uploads``, checked against ``size``."""

    def bad(why: str) -> ResponseDecodeError:
        return ResponseDecodeError(
            f"POST /uploads answered an upload that does not fit: {why}",
            method="POST",
            url="/uploads",
        )

    if not isinstance(data, dict):
        raise bad(f"{_short(data)} is not an object")
    upload_id, urls, part_size = data.get("id"), data.get("urls"), data.get("part_size")
    if not isinstance(upload_id, str) or not upload_id:
        raise bad(f"id is {_short(upload_id)}")
    server_segment(upload_id, "upload id", method="POST", url="/uploads")
    if not isinstance(urls, list):
        raise bad(f"urls is a {type(urls).__name__}, not a list")
    if len(urls) > MAX_UPLOAD_PARTS:
        # Checked before the URLs: a plan of a million 1-byte parts would
        # be a million PUTs (and a million URL checks) for one file.
        raise bad(f"{len(urls)} parts, more than {MAX_UPLOAD_PARTS}")
    for index, url in enumerate(urls):
        if not isinstance(url, str):
            raise bad(f"part URL {index + 1} is a {type(url).__name__}, not a str")
        why = _check_part_url(url)
        if why is not None:
            # The query string of a presigned URL is a credential, and so is
            # a password in it: neither is shown.
            raise bad(f"part URL {index + 1} ({display_url(url, 80)}): {why}")
    if type(part_size) is not int or part_size < 1:
        raise bad(f"part_size is {_short(part_size)}")
    expected = max(1, -(-size // part_size))
    if len(urls) != expected:
        raise bad(
            f"{len(urls)} part URLs for {size} bytes in parts of {part_size} "
            f"(expected {expected})"
        )
    return upload_id, urls, part_size


class _Progress:
    """Sums the bytes sent per part; each part counts its high-water mark."""

    __slots__ = ("_callback", "_error", "_sent", "done", "total")

    def __init__(self, parts: int, total: int, callback: UploadProgress | None) -> None:
        self._sent = [0] * parts
        self.done = 0
        self.total = total
        self._callback = callback
        self._error: Exception | None = None

    def reporter(self, index: int) -> Callable[[int], None] | None:
        if self._callback is None:
            return None
        callback = self._callback

        def report(sent: int) -> None:
            delta = sent - self._sent[index]
            if delta <= 0:
                return
            self._sent[index] = sent
            self.done += delta
            try:
                callback(self.done, self.total)
            except Exception as exc:
                # Raised here it would look like a broken connection.
                self._error = self._error or exc
                raise

        return report

    def raise_callback_error(self) -> None:
        """Re-raise the callback's own exception, if it is why the upload failed."""
        if self._error is not None:
            raise self._error


async def _all(coros: Iterable[Awaitable[T]]) -> list[T]:
    """Run the awaitables at once; on the first failure cancel the rest."""
    tasks: list[asyncio.Future[T]] = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# -- files inside a prediction's input -----------------------------------------


def _has_file(value: Any) -> bool:
    if isinstance(value, File):
        return True
    if isinstance(value, Mapping):
        return any(_has_file(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_file(v) for v in value)
    return False


#: Files of one prediction's input uploaded at once: the official client's
#: ``Predictions._MAX_CONCURRENT_FILES``.
DEFAULT_FILE_CONCURRENCY = 16


async def upload_files_in(
    files: AsyncFiles,
    input: Mapping[str, Any],
    upload: Callable[[File], Awaitable[str]] | None = None,
    concurrency: int = DEFAULT_FILE_CONCURRENCY,
) -> dict[str, Any]:
    """A copy of ``input`` with every :class:`File` (at any depth) uploaded.

    Each File is replaced by its download URL; up to ``concurrency`` uploads
    run at once and one File object used twice is uploaded once. Dicts and
    lists on the way to a File are copied (tuples become lists); ``input``
    itself and everything else in it are left as they are.
    """
    try:
        if not _has_file(input):
            return dict(input)
    except RecursionError:
        # A value that contains itself, or nests deeper than Python's
        # recursion limit: JSON cannot carry it (the official client's
        # json.dumps fails on it too). Said plainly, not as RecursionError.
        raise ValueError(_json.TOO_DEEP) from None
    send = upload or files.upload
    slots: list[tuple[dict[Any, Any] | list[Any], Any, File]] = []

    def copy(value: Any) -> Any:
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                out[key] = copy(item)
                if isinstance(item, File):
                    slots.append((out, key, item))
            return out
        if isinstance(value, (list, tuple)) and _has_file(value):
            items: list[Any] = []
            for index, item in enumerate(value):
                items.append(copy(item))
                if isinstance(item, File):
                    slots.append((items, index, item))
            return items
        return value

    result: dict[str, Any] = copy(input)
    unique = list({id(f): f for _, _, f in slots}.values())
    urls: list[str] = [""] * len(unique)
    pending = iter(enumerate(unique))

    async def worker() -> None:
        # ``concurrency`` workers share one iterator of the files, like the
        # parts of one upload: never more uploads in flight than that.
        for index, file in pending:
            urls[index] = await send(file)

    await _all(worker() for _ in range(min(concurrency, len(unique))))
    by_id = {id(f): url for f, url in zip(unique, urls, strict=True)}
    for container, key, file in slots:
        container[key] = by_id[id(file)]
    return result
