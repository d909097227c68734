"""A fake WriftAI API for the benchmarks: precomputed bytes, next to no CPU.

Run as its own process (``run.py`` does this and stops it by PID)::

    python benchmarks/fake_server.py [--port 0] [--pages 5] [--bulk-pages 2000]

It binds to 127.0.0.1 only, prints ``READY <port>`` once it listens, and
serves, over HTTP/1.1 keep-alive:

- ``GET /v1/models/{owner}?cursor=..&page_size=50``: ``{"items": [50 models],
  "next_cursor": ..., "previous_cursor": ...}``, about 35 KB, every field of a
  Model as ``/work/shared/wriftai-api.md`` lists it. Every owner has
  ``--pages`` pages, except ``bulk`` which has ``--bulk-pages`` (scenario E).
- ``GET /v1/predictions/{id}``: a small finished prediction with details.
- anything else: 404 ``{"detail": "Not found"}``.

Why not aiohttp.web: the server shares a 2-core machine with the client being
measured, so it must cost as little CPU as possible. A raw asyncio protocol
that splices precomputed byte strings costs a few tens of microseconds a
request; every JSON body is built once at start-up (model pages come in a few
variants so that consecutive pages do not carry identical ids).

The data builders (:func:`model_dicts`, :func:`page_bytes`) are importable:
scenario C structures the very bytes this server sends.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import signal
import sys
import uuid
from typing import Any

HOST = "127.0.0.1"  # never anything else: the benchmarks must stay local
PAGE_VARIANTS = 8  # distinct item sets, cycled page after page
MAX_PAGE_SIZE = 100
BULK_OWNER = "bulk"

_NS = uuid.UUID("6d1f0c52-9a7e-4d3b-b1c4-2f8e0a9b7c35")

_CATEGORIES = [
    ("Text to image", "text-to-image"),
    ("Image to image", "image-to-image"),
    ("Large language models", "large-language-models"),
    ("Speech to text", "speech-to-text"),
    ("Text to speech", "text-to-speech"),
    ("Upscalers", "upscalers"),
    ("Video generation", "video-generation"),
    ("Embeddings", "embeddings"),
]
_HARDWARE = [
    ("gpu-nvidia-t4", "NVIDIA T4 (16 GB)"),
    ("gpu-nvidia-l40s", "NVIDIA L40S (48 GB)"),
    ("gpu-nvidia-a100-80gb", "NVIDIA A100 (80 GB)"),
    ("cpu-4x", "4 vCPU, 16 GB RAM"),
]
_WORDS = (
    "fast",
    "accurate",
    "diffusion",
    "model",
    "fine-tuned",
    "on",
    "curated",
    "data",
    "with",
    "support",
    "for",
    "long",
    "prompts",
    "negative",
    "prompts",
    "img2img",
    "inpainting",
    "and",
    "a",
    "lightweight",
    "refiner",
    "stage",
    "that",
    "keeps",
    "faces",
    "and",
    "hands",
    "consistent",
    "across",
    "seeds",
    "while",
    "running",
    "comfortably",
    "on",
    "a",
    "single",
    "consumer",
    "GPU",
    "in",
    "half",
    "precision",
)


def _ts(rng: random.Random, year: int) -> str:
    # ISO 8601 with microseconds and a zone, as the service sends them.
    return (
        f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:"
        f"{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}Z"
    )


def model_dicts(variant: int, count: int = 50) -> list[dict[str, Any]]:
    """``count`` realistic list-style Model objects (deterministic per variant)."""
    rng = random.Random(variant * 7919 + count)
    models = []
    for i in range(count):
        key = f"{variant}:{i}"
        owner = f"lab-{rng.randint(1, 400):03d}"
        name = f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-v{rng.randint(1, 9)}-{i}"
        cats = rng.sample(_CATEGORIES, rng.randint(1, 2))
        hw = rng.choice(_HARDWARE)
        repo = f"https://github.com/{owner}/{name}"
        words = rng.choices(_WORDS, k=rng.randint(2, 7))
        models.append(
            {
                "id": str(uuid.uuid5(_NS, "model:" + key)),
                "name": name,
                "created_at": _ts(rng, 2024),
                "updated_at": _ts(rng, 2025) if rng.random() < 0.8 else None,
                "visibility": "public",
                "description": " ".join(words).capitalize() + ".",
                "owner": {
                    "id": str(uuid.uuid5(_NS, "user:" + owner)),
                    "username": owner,
                    "avatar_url": f"https://cdn.wrift.ai/avatars/{owner}.png",
                },
                "predictions_count": rng.randint(0, 5_000_000),
                "categories": [{"name": n, "slug": s} for n, s in cats],
                "hardware": {"identifier": hw[0], "name": hw[1]},
                "source_url": repo,
                "license_url": (
                    f"{repo}/blob/main/LICENSE" if rng.random() < 0.7 else None
                ),
                "paper_url": (
                    f"https://arxiv.org/abs/24{rng.randint(1, 12):02d}."
                    f"{rng.randint(10000, 99999)}"
                    if rng.random() < 0.4
                    else None
                ),
                "cover_image_url": (
                    f"https://cdn.wrift.ai/covers/{rng.getrandbits(64):016x}.webp"
                    if rng.random() < 0.6
                    else None
                ),
            }
        )
    return models


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=64)
def items_bytes(variant: int, count: int) -> bytes:
    """The JSON array of one page's items, built once per (variant, size)."""
    return _dumps(model_dicts(variant, count))


def cursor_for(index: int) -> str:
    # Opaque to clients, parseable here; as long as real cursors (~40 chars).
    return f"c{index:07d}-" + uuid.uuid5(_NS, f"cursor:{index}").hex


def _page_index(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(cursor[1:8])
    except ValueError:
        return -1


def page_bytes(index: int, pages: int, count: int = 50) -> bytes:
    """The whole body of page ``index`` of ``pages``."""
    return b"".join(_page_parts(index, pages, count))


def _page_parts(index: int, pages: int, count: int) -> tuple[bytes, bytes, bytes]:
    nxt = _dumps(cursor_for(index + 1)) if index + 1 < pages else b"null"
    prev = _dumps(cursor_for(index - 1)) if index > 0 else b"null"
    tail = b',"next_cursor":' + nxt + b',"previous_cursor":' + prev + b"}"
    return b'{"items":', items_bytes(index % PAGE_VARIANTS, count), tail


def prediction_body(prediction_id: str) -> bytes:
    """A small, realistic succeeded prediction (details), about 1.3 KB."""
    return _PRED_PREFIX + prediction_id.encode() + _PRED_SUFFIX


def _prediction_template() -> tuple[bytes, bytes]:
    marker = "@@ID@@"
    body = {
        "id": marker,
        "status": "succeeded",
        "created_at": "2025-05-06T10:11:12.123456Z",
        "updated_at": "2025-05-06T10:11:19.654321Z",
        "setup_time": "0.812",
        "execution_time": "6.204",
        "model": {"owner": "lab-042", "name": "diffusion-xl", "version_number": 3},
        "input": {
            "prompt": "a watercolor painting of a lighthouse at dusk, soft light",
            "negative_prompt": "blurry, low quality, text, watermark",
            "width": 1024,
            "height": 1024,
            "num_inference_steps": 30,
            "guidance_scale": 7.5,
            "seed": 1234567,
        },
        "output": [
            f"https://cdn.wrift.ai/outputs/{uuid.uuid5(_NS, 'out')}/image-0.webp"
        ],
        "error": None,
        "logs": [
            "Loading pipeline components...",
            "Using seed: 1234567",
            "  0%|          | 0/30 [00:00<?, ?it/s]",
            "100%|##########| 30/30 [00:05<00:00,  5.61it/s]",
            "Upload complete: 1 file(s)",
        ],
        "metrics": {"predict_time": 6.204, "total_time": 7.016, "gpu_count": 1},
        "stream": False,
    }
    text = _dumps(body)
    prefix, suffix = text.split(marker.encode())
    return prefix, suffix


_PRED_PREFIX, _PRED_SUFFIX = _prediction_template()
_NOT_FOUND = _dumps({"detail": "Not found"})


def _head(status: bytes, length: int) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


class Routes:
    """Maps a request target to response chunks (head first)."""

    def __init__(self, pages: int, bulk_pages: int) -> None:
        self.pages = pages
        self.bulk_pages = bulk_pages
        self._predictions: dict[bytes, list[bytes]] = {}

    def respond(self, target: bytes) -> list[bytes]:
        path, _, qs = target.partition(b"?")
        if path.startswith(b"/v1/predictions/"):
            pid = path[16:]
            if pid and b"/" not in pid:
                cached = self._predictions.get(pid)
                if cached is None:
                    body = prediction_body(pid.decode())
                    cached = [_head(b"200 OK", len(body)), body]
                    if len(self._predictions) < 100_000:
                        self._predictions[pid] = cached
                return cached
        elif path.startswith(b"/v1/models/"):
            owner = path[11:]
            if owner and b"/" not in owner:
                return self._page(owner, qs)
        return [_head(b"404 Not Found", len(_NOT_FOUND)), _NOT_FOUND]

    def _page(self, owner: bytes, qs: bytes) -> list[bytes]:
        cursor, size = None, 50
        for pair in qs.split(b"&"):
            key, _, value = pair.partition(b"=")
            if key == b"cursor":
                cursor = value.decode()
            elif key == b"page_size" and value.isdigit():
                size = min(max(int(value), 1), MAX_PAGE_SIZE)
        pages = self.bulk_pages if owner == BULK_OWNER.encode() else self.pages
        index = _page_index(cursor)
        if not 0 <= index < pages:
            body = _dumps({"detail": "invalid cursor"})
            return [_head(b"400 Bad Request", len(body)), body]
        parts = _page_parts(index, pages, size)
        return [_head(b"200 OK", sum(map(len, parts))), *parts]


class HTTPProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1: keep-alive, Content-Length bodies, pipelining."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length, close = 0, False
            lines = head.split(b"\r\n")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if len(self.buffer) < end + 4 + length:
                return  # the request body is not all here yet
            self.buffer = self.buffer[end + 4 + length :]
            parts = lines[0].split(b" ")
            target = parts[1] if len(parts) == 3 else b""
            self.transport.writelines(self.routes.respond(target))
            if close:
                self.transport.close()
                self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, pages: int, bulk_pages: int) -> None:
    loop = asyncio.get_running_loop()
    routes = Routes(pages, bulk_pages)
    for variant in range(PAGE_VARIANTS):
        items_bytes(variant, 50)  # build the pages before announcing READY
    server = await loop.create_server(
        lambda: HTTPProtocol(routes), HOST, port, backlog=512
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    parent = os.getppid()

    def watch_parent() -> None:
        # If the orchestrator dies without stopping us (SIGKILL), go too.
        if os.getppid() != parent:
            stop.set()
        else:
            loop.call_later(1.0, watch_parent)

    watch_parent()
    sock_port = server.sockets[0].getsockname()[1]
    print(f"READY {sock_port}", flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pages", type=int, default=5, help="pages per owner")
    parser.add_argument(
        "--bulk-pages", type=int, default=2000, help=f"pages of owner {BULK_OWNER!r}"
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.pages, args.bulk_pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
