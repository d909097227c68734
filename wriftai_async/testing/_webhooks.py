"""Webhook deliveries: the emulator posts each finished prediction to its hook.

A prediction created over HTTP with ``"webhook": {"url", "secret"?}`` (or the
older ``"webhook_url"``) is watched until it reaches a terminal status; then
the emulator ``POST``s it (the same JSON as ``GET /predictions/{id}``) to the
URL, with the header :data:`SIGNATURE_HEADER` when a secret was given:
``t=<unix time>,v1=<hex>``, made by :func:`wriftai_async.webhooks.sign`, so
:func:`wriftai_async.webhooks.verify` (and the official client's
``verify_webhook``) accept it. An answer other than 2xx, or no answer, is
retried ``webhook_attempts`` times in all, ``webhook_retry_delay`` seconds
apart, doubling. Every delivery, delivered or given up, is recorded in
``Emulator.webhook_deliveries``.

The service documents the signature's format but not its header's name;
``Webhook-Signature`` is this emulator's choice.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from ..webhooks import sign
from ._render import Renderer
from ._state import Store

__all__ = ["SIGNATURE_HEADER", "WebhookDelivery", "WebhookSender"]

SIGNATURE_HEADER = "Webhook-Signature"
_WATCH_POLL = 0.02
_ATTEMPT_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebhookDelivery:
    """One prediction's webhook call, once it was delivered or given up."""

    prediction_id: str
    url: str
    #: The JSON body as sent (verify signatures against these exact bytes).
    body: bytes
    #: The request headers sent (the signature among them, with a secret).
    headers: Mapping[str, str]
    #: Per attempt: the receiver's HTTP status, or the exception's name.
    attempts: tuple[int | str, ...]
    #: Whether an attempt was answered with a 2xx.
    delivered: bool

    @property
    def signature(self) -> str | None:
        return self.headers.get(SIGNATURE_HEADER)


class WebhookSender:
    """Watches predictions with a webhook and delivers them when they end."""

    def __init__(
        self, store: Store, render: Renderer, attempts: int, retry_delay: float
    ) -> None:
        self._store = store
        self._render = render
        self._attempts = attempts
        self._retry_delay = retry_delay
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._lock = threading.Lock()
        self._deliveries: list[WebhookDelivery] = []

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def watch(self, prediction_id: str, url: str, secret: str | None) -> None:
        """Deliver ``prediction_id`` to ``url`` once it ends (from the loop)."""
        task = asyncio.get_running_loop().create_task(
            self._watch(prediction_id, url, secret)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, prediction_id: str, url: str, secret: str | None) -> None:
        store = self._store
        while True:
            with store.lock:
                prediction = store.get_prediction(prediction_id)
                if prediction is None:  # predictions are never deleted
                    return
                if prediction.terminal:
                    data = self._render.prediction(prediction, details=True)
                    break
                due = prediction.next_due()
            pause = _WATCH_POLL
            if due is not None:
                pause = min(pause, max(due - time.monotonic(), 0.0))
            await asyncio.sleep(pause)
        await self._deliver(prediction_id, url, secret, json.dumps(data).encode())

    async def _deliver(
        self, prediction_id: str, url: str, secret: str | None, body: bytes
    ) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=_ATTEMPT_TIMEOUT)
            )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "wriftai-emulator",
        }
        if secret:
            headers[SIGNATURE_HEADER] = sign(body, secret)
        attempts: list[int | str] = []
        delay = self._retry_delay
        delivered = False
        for attempt in range(self._attempts):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
                if secret:  # a fresh timestamp for each attempt
                    headers[SIGNATURE_HEADER] = sign(body, secret)
            try:
                async with self._session.post(url, data=body, headers=headers) as r:
                    await r.read()
                    attempts.append(r.status)
                    delivered = 200 <= r.status < 300
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                attempts.append(type(exc).__name__)
            if delivered:
                break
        with self._lock:
            self._deliveries.append(
                WebhookDelivery(
                    prediction_id, url, body, dict(headers), tuple(attempts), delivered
                )
            )

    async def close(self) -> None:
        """Stop watching and close the connections (deliveries in flight end)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
