"""Uploads from a path or an open file that changes under the upload.

A file deleted, replaced, truncated, grown or closed while its parts are
sent raises :class:`SourceChangedError` (a ``WriftAIError`` and an
``OSError``) naming the file, at once: the failed read is the machine's,
not the network's, and is never retried as a broken connection (aiohttp
reports any body that fails as ``ClientOSError``, which the retry policy
would re-send). The file is changed from ``on_progress``, which runs
between two chunks of a part, over real files and the emulator. An empty
file is refused before any request (the service, as the emulator, answers
``POST /uploads`` of size 0 with a 422).
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wriftai_async import File, SourceChangedError, WriftAIError
from wriftai_async import _file as file_module
from wriftai_async.testing import Emulator

from .conftest import resolve

PART = 16 * 1024  # more than a BufferedReader reads ahead (4-8 KiB)
CHUNK = 1024  # a change lands between two chunks of a part
SIZE = 4 * PART


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(upload_part_size=PART).run_in_thread() as emu:
        yield emu


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_module, "CHUNK_SIZE", CHUNK)


@pytest.fixture(autouse=True)
def retry_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    # Every retry is logged ("retrying PUT ..."): a body whose write fails
    # before its first byte sends nothing the emulator could count.
    caplog.set_level(logging.INFO, logger="wriftai_async")
    _captured[:] = [caplog]
    return caplog


def _write(path: Path, size: int = SIZE) -> Path:
    path.write_bytes(bytes(i % 251 for i in range(size)))
    return path


_captured: list[pytest.LogCaptureFixture] = []


def _log_messages() -> list[str]:
    return [r.getMessage() for r in _captured[-1].records]


def _puts(emu: Emulator) -> list[str]:
    return [r.path for r in emu.requests if r.method == "PUT"]


def _after(sent: int, change: Callable[[], None]) -> Callable[[int, int], None]:
    """An ``on_progress`` that makes ``change`` once ``sent`` bytes went out."""
    done = False

    def on_progress(bytes_done: int, total: int) -> None:
        nonlocal done
        if not done and bytes_done >= sent:
            done = True
            change()

    return on_progress


def _truncate(path: Path) -> None:
    os.truncate(path, PART + 100)


def _grow(path: Path) -> None:
    with path.open("ab") as handle:
        handle.write(b"more")


def _replace(path: Path) -> None:
    fresh = path.with_suffix(".new")
    _write(fresh)
    os.replace(fresh, path)


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "deleted": (Path.unlink, "No such file or directory"),
    "truncated": (_truncate, "bytes"),
    "grown": (_grow, f"its size is now {SIZE + 4} bytes, not {SIZE}"),
    "replaced": (_replace, "replaced by another file"),
}


def _check(error: SourceChangedError, name: str, emu: Emulator) -> None:
    assert isinstance(error, OSError) and isinstance(error, WriftAIError)
    assert error.filename == name
    assert repr(name) in str(error) and "changed during the upload" in str(error)
    puts = _puts(emu)
    # No part was sent twice (a retry), none after the failure was known,
    # and the upload was never completed.
    assert len(puts) == len(set(puts))
    assert not [m for m in _log_messages() if m.startswith("retrying")]
    assert not any(r.path.endswith("/complete") for r in emu.requests)


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_path_that_changes_mid_upload_is_not_retried(
    client: Any, emulator: Emulator, tmp_path: Path, change: str
) -> None:
    path = _write(tmp_path / "weights.bin")
    act, says = CHANGES[change]
    # Two chunks of the first part sent: the change lands mid-part.
    on_progress = _after(2 * CHUNK, lambda: act(path))
    with pytest.raises(SourceChangedError) as caught:
        await resolve(
            client.files.upload(File(path), concurrency=1, on_progress=on_progress)
        )
    _check(caught.value, str(path), emulator)
    assert says in str(caught.value)
    if change == "deleted":
        assert caught.value.errno == errno.ENOENT
        assert isinstance(caught.value.__cause__, FileNotFoundError)


async def test_a_file_truncated_inside_the_part_being_read(
    client: Any, emulator: Emulator, tmp_path: Path
) -> None:
    # Cut inside the first part, which is being read through its open
    # handle: past what the handle's buffer read ahead, the next read
    # comes up short.
    path = _write(tmp_path / "notes.txt")
    on_progress = _after(CHUNK, lambda: os.truncate(path, 2 * CHUNK))
    with pytest.raises(SourceChangedError, match="bytes were read where") as caught:
        await resolve(
            client.files.upload(File(path), concurrency=1, on_progress=on_progress)
        )
    _check(caught.value, str(path), emulator)
    # How much the handle's buffer had read ahead is the platform's.
    read = re.search(r"(\d+) bytes were read where (\d+)", str(caught.value))
    assert read is not None and int(read[1]) < int(read[2]) == PART
    assert caught.value.errno is None


async def test_an_open_file_truncated_or_closed_mid_upload(
    client: Any, emulator: Emulator, tmp_path: Path
) -> None:
    path = _write(tmp_path / "open.bin")
    with path.open("rb") as handle:
        on_progress = _after(CHUNK, lambda: os.truncate(path, CHUNK + 10))
        with pytest.raises(SourceChangedError, match="bytes were read") as caught:
            await resolve(
                client.files.upload(
                    File(handle), concurrency=1, on_progress=on_progress
                )
            )
    _check(caught.value, str(path), emulator)  # the file object's name

    _write(path)
    emulator.requests.clear()
    handle = path.open("rb")
    on_progress = _after(CHUNK, handle.close)
    with pytest.raises(SourceChangedError, match="closed file") as caught:
        await resolve(
            client.files.upload(File(handle), concurrency=1, on_progress=on_progress)
        )
    _check(caught.value, str(path), emulator)
    assert isinstance(caught.value.__cause__, ValueError)


class Shrinking(io.BytesIO):
    """A file object that loses its end once its first chunk was read."""

    name = "shrinking.bin"

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.truncate(CHUNK + 10)
        return data


async def test_a_file_of_an_input_that_shrinks_creates_no_prediction(
    client: Any, emulator: Emulator
) -> None:
    shrinking = File(Shrinking(b"x" * SIZE))
    with pytest.raises(SourceChangedError) as caught:
        await resolve(client.predictions.create("alice/text-echo", {"a": shrinking}))
    _check(caught.value, "shrinking.bin", emulator)
    assert not any(r.path.startswith("/predictions") for r in emulator.requests)


@pytest.mark.parametrize(
    ("content", "name"),
    [("path", None), (b"", "'<bytes>'"), ("file", None)],
    ids=["path", "bytes", "file object"],
)
async def test_an_empty_file_is_refused_before_any_request(
    client: Any, emulator: Emulator, tmp_path: Path, content: Any, name: Any
) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    handle = path.open("rb")
    try:
        value = {"path": File(path), "file": File(handle)}.get(content, content)
        with pytest.raises(ValueError, match=r"is empty \(0 bytes\)") as caught:
            await resolve(client.files.upload(value))
    finally:
        handle.close()
    assert (name or repr(str(path))) in str(caught.value)
    assert emulator.requests == []


async def test_a_file_that_does_not_change_still_uploads(
    client: Any, emulator: Emulator, tmp_path: Path
) -> None:
    # The checks on each part's open see the same file: no false alarm.
    path = _write(tmp_path / "steady.bin")
    url = await resolve(client.files.upload(File(path), concurrency=2))
    assert url.startswith(emulator.base_url.removesuffix("/v1"))
    assert len(_puts(emulator)) == SIZE // PART
