"""``wriftai_async.testing`` as a user's tests use it (checked, never run)."""

from __future__ import annotations

from typing_extensions import assert_type

from wriftai_async import AsyncClient, Client, ServerError
from wriftai_async.testing import Emulator, RecordedRequest, WebhookDelivery


async def storm() -> None:
    async with Emulator(cancel_delay=0.1) as emu:
        assert_type(emu, Emulator)
        assert_type(emu.base_url, str)
        assert_type(emu.access_token, str)
        emu.inject(status=503, times=5)
        emu.inject_stream_cut(2)
        async with AsyncClient(emu.access_token, emu.base_url) as client:
            try:
                await client.models.get("alice/text-echo")
            except ServerError as exc:
                assert_type(exc.status, int)
                assert_type(emu.requests, list[RecordedRequest])
        assert_type(emu.webhook_deliveries, list[WebhookDelivery])


def threaded() -> None:
    with Emulator().run_in_thread() as emu:
        assert_type(emu, Emulator)
        with Client(emu.access_token, emu.base_url) as client:
            print(client.models.get("alice/text-echo").name)
