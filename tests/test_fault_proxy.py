"""Through a proxy that injects 503s, 429s, drops, cut and reset bodies.

The promise (README, "Retries, timeouts and rate limits"): a listing read
through a bad network loses and duplicates nothing, and a create is never
sent twice once the service may have acted on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from wriftai_async import AsyncClient, WriftAIError
from wriftai_async.testing import Emulator

from .conftest import FAST_RETRY
from .fault_proxy import FaultProxy

USERS = 200
MODELS_PER_USER = 60
# FAULT_SEED=n varies the faults between runs (a shell loop, not the suite).
SEED = int(os.environ.get("FAULT_SEED", "9"))


@contextlib.asynccontextmanager
async def _through_proxy(emu: Emulator) -> AsyncIterator[tuple[FaultProxy, Any]]:
    """A fault proxy before ``emu`` and a client (max_retries=5) through it."""
    async with FaultProxy(emu.base_url.removesuffix("/v1"), SEED) as proxy:
        url = proxy.url + "/v1"
        client = AsyncClient(emu.access_token, url, max_retries=5, retry=FAST_RETRY)
        async with client:
            yield proxy, client


async def test_listing_through_faults_yields_every_item_exactly_once():
    async with Emulator(seed=False) as emu:
        owners = emu.add_many_users(USERS, models_per_user=MODELS_PER_USER)
        async with _through_proxy(emu) as (proxy, client):
            listed = Counter()
            failed = []
            async for result in client.models.list_for_users(owners, page_size=20):
                if not result.ok:
                    failed.append((result.key, result.error))
                    continue
                listed.update(f"{m.owner.username}/{m.name}" for m in result.value)
    print("faults:", dict(proxy.faults), "listed:", sum(listed.values()))
    assert failed == []
    expected = {f"{o}/model-{i:04d}" for o in owners for i in range(MODELS_PER_USER)}
    assert set(listed) == expected
    assert set(listed.values()) == {1}
    # The faults really happened, cut and reset bodies included.
    assert all(
        proxy.faults.get(f, 0) > 0 for f in ("503", "429", "drop", "cut", "reset")
    )


async def test_creating_through_faults_never_creates_a_duplicate():
    count = 500
    async with Emulator(seed=True) as emu, _through_proxy(emu) as (proxy, client):
        limit = asyncio.Semaphore(32)

        async def create(i: int):
            async with limit:
                try:
                    return await client.predictions.create(
                        "alice/text-echo", {"prompt": f"n{i}"}
                    )
                except WriftAIError as exc:
                    return exc

        results = await asyncio.gather(*(create(i) for i in range(count)))
    # What the service created, whatever the client saw.
    created = Counter(
        f.request.body
        for f in proxy.forwarded
        if f.request.method == "POST" and f.request.path == "/v1/predictions"
        if 200 <= f.status < 300
    )
    print(
        "faults:",
        dict(proxy.faults),
        "created:",
        len(created),
        "ok:",
        sum(not isinstance(r, Exception) for r in results),
    )
    assert created and max(created.values()) == 1  # never a duplicate
    succeeded = [r for r in results if not isinstance(r, Exception)]
    assert len({p.id for p in succeeded}) == len(succeeded)
    # A create is lost to the client only when it could not know the outcome
    # (a drop, a cut or reset answer), never re-sent to be sure.
    assert len(succeeded) >= count * 0.8
    assert proxy.faults.get("503", 0) > 0 and proxy.faults.get("429", 0) > 0
