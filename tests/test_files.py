"""File uploads (``files.upload`` and Files in a prediction's input), both clients.

The emulator's part URLs point at its own storage routes outside ``/v1``,
which refuse an ``Authorization`` header, as a presigned URL does.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from wriftai_async import File, ResponseDecodeError, ServerError
from wriftai_async.testing import Emulator

from .conftest import resolve

PART = 1000


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # Small parts: a few KB make a multipart upload.
    with Emulator(
        cancel_delay=0.05, prediction_duration=0.3, upload_part_size=PART
    ).run_in_thread() as emu:
        yield emu


def _data(size: int) -> bytes:
    return bytes((i * 7 + i // 256) % 256 for i in range(size))


async def _download(url: str) -> tuple[bytes, str]:
    def get() -> tuple[bytes, str]:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read(), response.headers["Content-Type"]

    return await asyncio.to_thread(get)


def _parts(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests if r.method == "PUT"]


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


async def test_upload_bytes_in_several_parts_round_trips(client, emulator):
    data = _data(2 * PART + 345)  # an uneven last part
    url = await resolve(client.files.upload(data))
    assert await _download(url) == (data, "application/octet-stream")

    [create] = [r for r in emulator.requests if r.path == "/uploads"]
    assert create.json == {"size": len(data), "mime_type": "application/octet-stream"}
    parts = sorted(_parts(emulator), key=lambda r: r.path)
    assert [r.path.rsplit("/", 1)[1] for r in parts] == ["0", "1", "2"]
    assert [len(r.body) for r in parts] == [PART, PART, 345]
    for r in parts:
        assert r.path.startswith("/_storage/uploads/")  # not under /v1
        assert "Authorization" not in r.headers  # the token stays home
        assert r.headers["Content-Length"] == str(len(r.body))
        assert r.headers["Content-Type"] == "application/octet-stream"
    [done] = [r for r in emulator.requests if r.path.endswith("/complete")]
    assert "Authorization" in done.headers
    assert done.json == {
        "etags": [_etag(data[i : i + PART]) for i in range(0, len(data), PART)]
    }


async def test_upload_path_guesses_the_mime_type(client, emulator, tmp_path):
    data = _data(PART + 1)
    path = tmp_path / "cat.png"
    path.write_bytes(data)
    url = await resolve(client.files.upload(path))
    assert await _download(url) == (data, "image/png")
    assert {r.headers["Content-Type"] for r in _parts(emulator)} == {"image/png"}


async def test_upload_file_objects(client, emulator, tmp_path):
    data = _data(3 * PART)
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with path.open("rb") as handle:
        file = File(handle)
        assert file.mime_type == "text/plain"
        url = await resolve(client.files.upload(file))
    assert await _download(url) == (data, "text/plain")

    class Pipe(io.RawIOBase):  # cannot seek: read whole to learn its size
        def __init__(self, data: bytes) -> None:
            self._buffer = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            return self._buffer.readinto(b)

    url = await resolve(
        client.files.upload(File(Pipe(data)), mime_type="application/x-thing")
    )
    assert await _download(url) == (data, "application/x-thing")


async def test_progress_is_reported_up_to_the_total(client, emulator):
    data = _data(4 * PART + 10)
    seen: list[tuple[int, int]] = []
    await resolve(
        client.files.upload(
            data, concurrency=2, on_progress=lambda d, t: seen.append((d, t))
        )
    )
    assert seen and seen[-1] == (len(data), len(data))
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and len(set(dones)) == len(dones)
    assert {t for _, t in seen} == {len(data)}


async def test_a_503_on_a_part_is_retried(client, emulator):
    emulator.inject(503, body=b"", method="PUT", path="/_storage/uploads/*/parts/1")
    data = _data(2 * PART)
    seen: list[int] = []
    url = await resolve(
        client.files.upload(data, on_progress=lambda done, total: seen.append(done))
    )
    assert (await _download(url))[0] == data
    part1 = [r for r in _parts(emulator) if r.path.endswith("/parts/1")]
    assert [r.fault for r in part1] == ["status", None]
    assert len(part1[1].body) == PART  # re-read and re-sent whole
    assert seen[-1] == len(data)  # the retried part is not counted twice


async def test_a_part_that_keeps_failing_raises_a_server_error(client, emulator):
    emulator.inject(500, method="PUT", path="/_storage/uploads/*", times=None)
    with pytest.raises(ServerError) as info:
        await resolve(client.files.upload(_data(10)))
    assert "X-Signature" not in str(info.value)  # the signature stays out
    assert not any(r.path.endswith("/complete") for r in emulator.requests)


async def test_a_part_answered_without_etag_is_a_decode_error(client, emulator):
    emulator.inject(200, body=b"", method="PUT", path="/_storage/uploads/*", times=None)
    with pytest.raises(ResponseDecodeError, match="ETag"):
        await resolve(client.files.upload(_data(PART + 1)))
    assert not any(r.path.endswith("/complete") for r in emulator.requests)


@pytest.mark.parametrize(
    "plan",
    [
        {"id": "u1", "urls": ["http://127.0.0.1:9/a"], "part_size": PART},
        {"id": "u1", "urls": ["http://127.0.0.1:9/a"] * 3, "part_size": PART},
        {"id": "u1", "urls": ["http://127.0.0.1:9/a"], "part_size": 0},
        {"id": "u1", "urls": "http://127.0.0.1:9/a", "part_size": PART},
        {"urls": [], "part_size": PART},
        ["not", "an", "object"],
    ],
)
async def test_a_plan_that_does_not_fit_the_file_is_a_decode_error(
    client, emulator, plan
):
    emulator.inject(200, body=plan, method="POST", path="/uploads")
    with pytest.raises(ResponseDecodeError):
        await resolve(client.files.upload(_data(PART + 1)))
    assert not _parts(emulator)


async def test_a_plan_of_more_parts_than_s3_allows_is_refused(client, emulator):
    # Consistent with the size, but a PUT per byte: 20,000 requests for one
    # 20 kB file, had the client followed it.
    size = 20_000
    plan = {"id": "u1", "urls": ["http://127.0.0.1:9/a"] * size, "part_size": 1}
    emulator.inject(200, body=plan, method="POST", path="/uploads")
    with pytest.raises(ResponseDecodeError, match="20000 parts, more than 10000"):
        await resolve(client.files.upload(_data(size)))
    assert not _parts(emulator)


async def test_a_completion_without_download_url_is_a_decode_error(client, emulator):
    emulator.inject(200, body={"url": "x"}, path="/uploads/*/complete")
    with pytest.raises(ResponseDecodeError, match="download_url"):
        await resolve(client.files.upload(_data(5)))


async def test_bad_arguments_fail_before_sending(client, emulator):
    with pytest.raises(ValueError, match="concurrency"):
        await resolve(client.files.upload(b"x", concurrency=0))
    with pytest.raises(TypeError, match=r"pathlib\.Path"):
        File("some/path.png")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="binary"):
        File(io.StringIO("text"))  # type: ignore[arg-type]
    assert not emulator.requests


async def test_prediction_input_files_are_uploaded_and_sent_as_urls(client, emulator):
    photo, doc = _data(PART + 7), b"%PDF-1.4 tiny"
    shared = File(photo, "image/jpeg")
    images = [shared, "https://example.com/b.png", {"mask": shared}]
    user_input: dict[str, Any] = {
        "text": "hi",
        "doc": File(doc, "application/pdf"),
        "nested": {"images": images, "count": 2},
    }
    prediction = await resolve(client.predictions.create("alice/text-echo", user_input))
    assert prediction.id

    # The caller's input is untouched.
    assert user_input["nested"]["images"] is images
    assert images[0] is shared and images[2] == {"mask": shared}
    assert isinstance(user_input["doc"], File)

    [post] = [r for r in emulator.requests if r.path == "/predictions"]
    sent = post.json["input"]
    assert sent["text"] == "hi" and sent["nested"]["count"] == 2
    first, second, third = sent["nested"]["images"]
    assert second == "https://example.com/b.png"
    assert first == third["mask"]  # one File object, uploaded once
    assert await _download(first) == (photo, "image/jpeg")
    assert await _download(sent["doc"]) == (doc, "application/pdf")
    assert len([r for r in emulator.requests if r.path == "/uploads"]) == 2
    # Every upload was complete before the prediction was created.
    index = emulator.requests.index(post)
    assert all(
        emulator.requests.index(r) < index
        for r in emulator.requests
        if r.path.endswith("/complete")
    )


async def test_prediction_input_without_files_is_sent_as_before(client, emulator):
    await resolve(client.predictions.create("alice/text-echo", {"text": ("a", "b")}))
    [post] = [r for r in emulator.requests if r.path == "/predictions"]
    assert post.json["input"] == {"text": ["a", "b"]}
    assert not any(r.path == "/uploads" for r in emulator.requests)


def test_the_emulator_refuses_a_token_on_part_urls(emulator):
    body = b'{"size": 3, "mime_type": "text/plain"}'
    request = urllib.request.Request(
        emulator.base_url + "/uploads",
        data=body,
        headers={
            "Authorization": f"Bearer {emulator.access_token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        [url] = json.loads(response.read())["urls"]
    put = urllib.request.Request(
        url,
        data=b"abc",
        method="PUT",
        headers={"Authorization": "Bearer x", "Content-Type": "text/plain"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(put, timeout=5)
    with info.value:
        assert info.value.code == 400
        assert b"auth" in info.value.read()


async def test_the_two_upload_steps_are_public_calls(client, emulator):
    # client.uploads, named as the official client names it: create the
    # plan, PUT the parts yourself (presigned: no token), complete.
    data = b"x" * (PART + 10)
    upload = await resolve(
        client.uploads.create(size=len(data), mime_type="text/plain")
    )
    assert len(upload.urls) == 2 and upload.part_size == PART
    etags = []
    for index, url in enumerate(upload.urls):
        part = data[index * PART : (index + 1) * PART]
        request = urllib.request.Request(
            url, data=part, method="PUT", headers={"Content-Type": "text/plain"}
        )
        with await asyncio.to_thread(urllib.request.urlopen, request) as answer:
            etags.append(answer.headers["ETag"])
    done = await resolve(client.uploads.complete(upload.id, etags))
    with await asyncio.to_thread(urllib.request.urlopen, done.download_url) as got:
        assert got.read() == data
    assert done.file_id == upload.id
    with pytest.raises(TypeError):
        await resolve(client.uploads.complete(upload.id, "one-etag"))
    with pytest.raises(ValueError):
        await resolve(client.uploads.create(size=-1, mime_type="text/plain"))


async def test_input_files_are_uploaded_sixteen_at_a_time(client, emulator):
    # The official client's bound on a prediction's input files (20 here).
    inputs = {f"f{i}": File(f"file {i}".encode(), "text/plain") for i in range(20)}
    emulator.inject_delay(0.2, method="PUT", path="/_storage/*", times=None)
    created = await resolve(client.predictions.create("alice/text-echo", inputs))
    puts = [r for r in emulator.requests if r.method == "PUT"]
    assert len(puts) == 20 and len(created.input) == 20
    in_flight = max(
        sum(
            1
            for other in puts
            if other.received_at <= put.received_at < other.received_at + 0.2
        )
        for put in puts
    )
    # Never more than 16 at once, and many at once (not one by one); the
    # exact peak depends on how fast the machine starts them.
    assert 8 <= in_flight <= 16, in_flight
