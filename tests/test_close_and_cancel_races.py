"""What is left when a call is interrupted half-way: no bare aiohttp error
after the client closed, no file handle after a cancelled upload.

Both moments are made certain rather than hoped for: the close happens
while the call sleeps between two attempts (seen in the retry log), the
cancel while the worker thread is opening the file (held there).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import IO, Any

import pytest

from wriftai_async import AsyncClient, Client, RetryPolicy, _file
from wriftai_async.testing import Emulator


class _FixedBackoff(RetryPolicy):
    """A backoff long enough that a close always lands inside it."""

    def backoff(self, attempt: int) -> float:
        return 0.3


class _OnRetry(logging.Handler):
    def __init__(self, seen: asyncio.Event) -> None:
        super().__init__(logging.INFO)
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("retrying"):
            self.seen.set()


async def test_a_close_between_two_attempts_ends_the_call_with_a_clear_error() -> None:
    async with Emulator() as emu:
        emu.inject(503, times=None, path="/hardware")
        client = AsyncClient(
            emu.access_token, emu.base_url, retry=_FixedBackoff(), max_retries=3
        )
        retrying = asyncio.Event()
        handler = _OnRetry(retrying)
        logger = logging.getLogger("wriftai_async")
        old_level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            call = asyncio.ensure_future(client.hardware.list_page())
            await asyncio.wait_for(retrying.wait(), 10)
            await client.aclose()  # the call sleeps before its second attempt
            outcome = (await asyncio.gather(call, return_exceptions=True))[0]
        finally:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        # Before: aiohttp's `assert self._connector is not None` failed.
        assert isinstance(outcome, RuntimeError), repr(outcome)
        assert not isinstance(outcome, AssertionError)
        assert "closed" in str(outcome)
        assert len([r for r in emu.requests if r.path.endswith("/hardware")]) == 1


async def test_a_cancel_while_a_part_file_is_being_opened_closes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 3000)
    entered, release = threading.Event(), threading.Event()
    opened: list[IO[bytes]] = []
    open_at = _file._open_at

    def held_open_at(where: Path, *rest: Any) -> IO[bytes]:
        entered.set()
        release.wait(10)
        handle = open_at(where, *rest)
        opened.append(handle)
        return handle

    monkeypatch.setattr(_file, "_open_at", held_open_at)
    async with (
        Emulator(upload_part_size=1000) as emu,
        AsyncClient(emu.access_token, emu.base_url) as client,
    ):
        upload = asyncio.ensure_future(client.files.upload(path, concurrency=1))
        assert await asyncio.to_thread(entered.wait, 10)
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload
        release.set()  # the thread goes on and opens the file anyway
        for _ in range(500):  # its handle is closed as soon as it arrives
            if opened and opened[0].closed:
                break
            await asyncio.sleep(0.01)
        try:
            assert len(opened) == 1
            assert opened[0].closed  # before: dropped open (ResourceWarning)
        finally:
            for handle in opened:
                handle.close()


def test_closing_a_client_mid_wait_many_closes_its_rounds_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Emulator().run_in_thread() as emu:
        emu.add_model("tess", "runner", versions=1)
        ended = emu.add_prediction("tess/runner", status="succeeded")["id"]
        running = emu.add_prediction("tess/runner", status="started")["id"]
        client = Client(emu.access_token, emu.base_url)
        results = client.predictions.wait_many(
            [ended, running], poll_interval=0.01, concurrency=1
        )
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            # Suspended at its first result, with the other id's poll running.
            assert next(results).key == ended
            client.close()  # its loop's shutdown_asyncgens() closes the rest
        # Before: "an error occurred during closing of asynchronous generator
        # ... aclose(): asynchronous generator is already running".
        assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
        with pytest.raises(RuntimeError, match="closed"):
            next(results)
