"""The emulator delivers webhooks: a real receiver on loopback gets them.

Each prediction created with a webhook is posted to it once it ends, signed
with its secret as ``wriftai_async.webhooks.verify`` (and the official
client's ``verify_webhook``) check, retried when the receiver fails, and
recorded in ``Emulator.webhook_deliveries``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import wriftai
from aiohttp import web

from wriftai_async import AsyncClient, webhooks
from wriftai_async.testing import SIGNATURE_HEADER, Emulator, WebhookDelivery

SECRET = "whsec_emulator"


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering a scripted list of statuses."""

    statuses: list[int] = field(default_factory=list)
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.read(), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(
        prediction_duration=0.1, cancel_delay=0.02, webhook_retry_delay=0.01
    ) as emulator:
        yield emulator


async def deliveries(emu: Emulator, count: int) -> list[WebhookDelivery]:
    """The first ``count`` deliveries, once made (a bounded poll)."""
    for _ in range(1000):
        made = emu.webhook_deliveries
        if len(made) >= count:
            return made
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(emu.webhook_deliveries)} deliveries, not {count}")


async def test_a_finished_prediction_is_posted_signed_after_a_failure(
    emu: Emulator, receiver: Receiver
) -> None:
    receiver.statuses = [500]  # the first attempt fails: it is retried
    async with AsyncClient(emu.access_token, emu.base_url) as client:
        created = await client.predictions.create(
            "alice/text-echo",
            {"prompt": "hook me"},
            webhook_url=receiver.url,
            webhook_secret=SECRET,
        )
    [delivery] = await deliveries(emu, 1)
    assert delivery.attempts == (500, 200) and delivery.delivered
    assert (delivery.prediction_id, delivery.url) == (created.id, receiver.url)
    assert len(receiver.received) == 2
    body, headers = receiver.received[-1]
    assert body == delivery.body
    sent = json.loads(body)
    assert (sent["id"], sent["status"]) == (created.id, "succeeded")
    assert sent["output"] == {"prompt": "hook me"}
    signature = headers[SIGNATURE_HEADER]
    assert signature == delivery.signature
    webhooks.verify(body, signature, SECRET)  # ours accepts it
    wriftai.verify_webhook(body, signature, SECRET)  # and the official client
    with pytest.raises(webhooks.WebhookSignatureMismatchError):
        webhooks.verify(body, signature, "another secret")


async def test_each_prediction_once_unsigned_without_a_secret(
    emu: Emulator, receiver: Receiver
) -> None:
    async with AsyncClient(emu.access_token, emu.base_url) as client:
        running = await client.predictions.create(
            "alice/text-echo", {"prompt": "stop"}, webhook_url=receiver.url
        )
        await client.predictions.cancel(running.id)
        done = await client.predictions.create(
            "alice/text-echo", {"prompt": "go"}, webhook_url=receiver.url
        )
    made = await deliveries(emu, 2)
    by_id = {d.prediction_id: json.loads(d.body)["status"] for d in made}
    assert by_id == {running.id: "cancelled", done.id: "succeeded"}
    assert all(d.signature is None and d.attempts == (200,) for d in made)
    await asyncio.sleep(0.1)  # a terminal state is delivered once, not again
    assert len(emu.webhook_deliveries) == 2 == len(receiver.received)


async def test_a_receiver_that_never_answers_is_given_up() -> None:
    async with Emulator(
        prediction_duration=0.05, webhook_attempts=3, webhook_retry_delay=0.01
    ) as emu:
        async with AsyncClient(emu.access_token, emu.base_url) as client:
            await client.predictions.create(
                "alice/text-echo",
                {"prompt": "nobody"},
                webhook_url="http://127.0.0.1:9/hook",  # the discard port: closed
                webhook_secret=SECRET,
            )
        [delivery] = await deliveries(emu, 1)
    assert not delivery.delivered
    assert len(delivery.attempts) == 3
    assert all(isinstance(a, str) for a in delivery.attempts)
