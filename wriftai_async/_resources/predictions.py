"""Predictions: create, get, list, cancel, and waiting for a terminal status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from .._errors import BadRequestError, ConflictError, WaitTimeoutError
from .._objects import Page, Prediction, PredictionDetails, PredictionStatus
from .._pagination import paginate
from .._params import join_path, parse_id, parse_model_ref, query
from ._base import AsyncResource

__all__ = ["AsyncPredictions"]


def _check_wait_args(timeout: float | None, poll_interval: float) -> None:
    if poll_interval <= 0:
        raise ValueError("poll_interval must be > 0")
    if timeout is not None and timeout < 0:
        raise ValueError("timeout must be >= 0 or None")


class AsyncPredictions(AsyncResource):
    """Operations on predictions, as ``client.predictions``."""

    __slots__ = ()

    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        validate_input: bool | None = None,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> PredictionDetails:
        """Run a model: create a prediction and, with ``wait=True``, wait for it.

        Args:
            model: ``"owner/name"`` (latest version) or ``"owner/name:N"``.
            input: the model's input, as its input schema describes.
            webhook_url: where the service posts updates of the prediction.
            validate_input: ask the service to check ``input`` against the
                schema before queueing (a bad input is then a ValidationError).
            wait: ask the server to hold the answer until the prediction ends
                (``Prefer: wait``), then poll until it has a terminal status.
            timeout: with ``wait``, the most seconds to wait in all.
            poll_interval: with ``wait``, seconds between polls.

        Example::

            prediction = await client.predictions.create(
                "alice/upscaler", {"image": "https://..."}, wait=True
            )
            print(prediction.status, prediction.output)
        """
        parse_model_ref(model)
        _check_wait_args(timeout, poll_interval)
        body: dict[str, Any] = {"model": model, "input": dict(input)}
        if webhook_url is not None:
            body["webhook_url"] = webhook_url
        headers: dict[str, str] = {}
        if validate_input is not None:
            headers["Validate-Input"] = "true" if validate_input else "false"
        if wait:
            headers["Prefer"] = (
                "wait" if timeout is None else f"wait={max(1, int(timeout))}"
            )
        loop = asyncio.get_running_loop()
        started = loop.time()
        prediction: PredictionDetails = await self._send(
            "POST",
            "/predictions",
            body,
            PredictionDetails,
            headers=headers or None,
            # The server may hold a Prefer: wait answer for a minute or more.
            timeout=None if not wait else (timeout or 3600.0) + 30.0,
        )
        if not wait or prediction.is_terminal:
            return prediction
        remaining = None if timeout is None else timeout - (loop.time() - started)
        return await self.wait(
            prediction.id,
            timeout=None if remaining is None else max(0.0, remaining),
            poll_interval=poll_interval,
        )

    async def get(self, prediction_id: str) -> PredictionDetails:
        """Get a prediction with its input, output, error and logs.

        Example::

            prediction = await client.predictions.get("3fa85f64-...")
        """
        path = join_path("predictions", parse_id(prediction_id))
        result: PredictionDetails = await self._get(path, PredictionDetails)
        return result

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        page_size: int | None = None,
        statuses: Sequence[PredictionStatus | str] | None = None,
    ) -> Page[Prediction]:
        """One page of the authenticated user's predictions, newest first.

        Args:
            statuses: only predictions in these statuses (newer servers).
        """
        if isinstance(statuses, str):
            raise TypeError("statuses must be a list of statuses, not a str")
        params = query(cursor=cursor, page_size=page_size, statuses=statuses)
        return await self._page("/predictions", Prediction, params)

    def list(
        self,
        *,
        page_size: int | None = None,
        statuses: Sequence[PredictionStatus | str] | None = None,
    ) -> AsyncIterator[Prediction]:
        """Every prediction of the authenticated user, page after page.

        Example::

            async for p in client.predictions.list(statuses=["started"]):
                print(p.id, p.status)
        """
        if isinstance(statuses, str):
            raise TypeError("statuses must be a list of statuses, not a str")

        async def fetch(cursor: str | None) -> Page[Prediction]:
            return await self.list_page(
                cursor=cursor, page_size=page_size, statuses=statuses
            )

        return paginate(fetch)

    async def cancel(self, prediction_id: str) -> None:
        """Ask for a prediction to be cancelled.

        Returns when the service accepted the request; the cancellation takes
        effect later (the status stays as it was until then). Asking twice is
        harmless. To know when it is done, use :meth:`cancel_and_wait`.

        Raises:
            BadRequestError or ConflictError: the prediction already ended.
            NotFoundError: no such prediction.
        """
        path = join_path("predictions", parse_id(prediction_id), "cancel")
        await self._session.request("POST", path)

    async def wait(
        self,
        prediction_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> PredictionDetails:
        """Poll a prediction until its status is terminal, and return it.

        Terminal: ``succeeded``, ``failed``, ``cancelled``, ``abandoned``.

        Raises:
            WaitTimeoutError: (a ``TimeoutError``) ``timeout`` seconds passed
                first; its ``prediction`` is the last state seen.
        """
        parse_id(prediction_id)
        _check_wait_args(timeout, poll_interval)
        last: list[PredictionDetails] = []

        async def poll() -> PredictionDetails:
            while True:
                prediction = await self.get(prediction_id)
                if prediction.is_terminal:
                    return prediction
                last[:] = [prediction]
                await asyncio.sleep(poll_interval)

        if timeout is None:
            return await poll()
        try:
            return await asyncio.wait_for(poll(), timeout)
        except asyncio.TimeoutError:
            seen = last[0] if last else None
            raise WaitTimeoutError(
                f"prediction {prediction_id} did not finish within {timeout}s"
                + (f" (last status: {seen.status})" if seen else ""),
                prediction=seen,
            ) from None

    async def cancel_and_wait(
        self,
        prediction_id: str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> PredictionDetails:
        """Cancel a prediction and wait until it has really ended.

        Returns the terminal prediction: usually ``cancelled``, but a
        prediction that was already completing may end ``succeeded`` or
        ``failed``. If it had already ended before the cancel, the service's
        "already terminated" error is not raised: that prediction is returned.

        Example::

            final = await client.predictions.cancel_and_wait(pid, timeout=30)
            assert final.is_terminal
        """
        _check_wait_args(timeout, poll_interval)
        try:
            await self.cancel(prediction_id)
        except (BadRequestError, ConflictError):
            current = await self.get(prediction_id)
            if current.is_terminal:
                return current
            raise
        return await self.wait(
            prediction_id, timeout=timeout, poll_interval=poll_interval
        )
