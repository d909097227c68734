"""6 MiB and 20 MiB uploads through every client, with flat client memory.

The emulator runs as a child process (``python -m wriftai_async.testing``) so
that ``tracemalloc`` here sees only the client's allocations, not the
server's copy of the bytes. Bodies up to the part size (5 MiB) must pass the
server's request limit: a bigger file is several parts.
"""

from __future__ import annotations

import hashlib
import tracemalloc
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wriftai

from tests._emulator_process import STOP_TIMEOUT, Served, served
from wriftai_async import AsyncClient, Client, File

MIB = 1024 * 1024
CLIENTS = ["async", "sync", "official-sync", "official-async"]


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with served() as running:
        yield running
        assert running.stop() == 0


def make_file(directory: Path, size: int) -> tuple[Path, str]:
    """A file of ``size`` bytes whose every MiB differs; and its SHA-256."""
    path = directory / f"blob-{size}.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(size // MIB):
            block = hashlib.sha256(str(i).encode()).digest() * (MIB // 32)
            out.write(block)
            digest.update(block)
    return path, digest.hexdigest()


def downloaded_digest(url: str) -> str:
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=STOP_TIMEOUT) as answer:
        while chunk := answer.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


async def upload(kind: str, server: Served, path: Path) -> str:
    if kind == "async":
        async with AsyncClient(server.token, server.base_url) as client:
            return await client.files.upload(File(path))
    if kind == "sync":
        with Client(server.token, server.base_url) as client:
            return client.files.upload(File(path))
    with httpx.Client(timeout=60) as http:
        async with httpx.AsyncClient(timeout=60) as ahttp:
            official = wriftai.Client(
                access_token=server.token,
                api_base_url=server.base_url,
                http_client=http,
                async_http_client=ahttp,
                max_retries=0,
            )
            file = wriftai.File(path)
            if kind == "official-sync":
                return official.files.upload(file)["download_url"]
            return (await official.files.async_upload(file))["download_url"]


@pytest.mark.parametrize("size_mib", [6, 20])
@pytest.mark.parametrize("kind", CLIENTS)
async def test_large_upload_succeeds_with_flat_memory(
    kind: str, size_mib: int, server: Served, tmp_path: Path
) -> None:
    path, expected = make_file(tmp_path, size_mib * MIB)
    tracemalloc.start()
    try:
        url = await upload(kind, server, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert downloaded_digest(url) == expected
    # Generous (about 1-2 MiB is measured), but under one copy of the file:
    # parts are streamed from disk a chunk at a time, never read whole.
    bound = max(4 * MIB, size_mib * MIB / 4)
    assert peak < bound, f"{kind}: peak {peak / MIB:.1f} MiB"


def test_oversized_body_is_refused_as_json(server: Served) -> None:
    # Above the part size plus slack: a JSON 413, as every other error.
    answer = httpx.post(
        server.base_url + "/uploads",
        content=b"x" * (6 * MIB),
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=STOP_TIMEOUT,
    )
    assert answer.status_code == 413
    assert isinstance(answer.json()["detail"], str)
