"""Predictions: create, get, list, cancel, stream, and waiting for the end."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, Literal, overload

from .._bulk import (
    BulkResult,
    ProgressCallback,
    bounded_map,
    check_progress_callback,
)
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    ResponseDecodeError,
    ValidationError,
    WaitTimeoutError,
)
from .._objects import (
    Page,
    Prediction,
    PredictionDetails,
    PredictionStatus,
    StreamEvent,
)
from .._pagination import paginate
from .._params import (
    check_concurrency,
    check_interval,
    check_page_size,
    check_seconds,
    check_timeout,
    join_path,
    page_query,
    parse_id,
    parse_model_ref,
    server_segment,
)
from .._repr import shorten
from .._session import AsyncSession
from .._sse import SSEDecoder
from .._timeouts import deadline
from ._base import AsyncResource
from ._polling import poll_until_terminal
from ._streaming import (
    _check_event_stream,
    _to_event,
    follow_stream,
    format_seconds,
)
from .files import AsyncFiles, upload_files_in

__all__ = ["AsyncPredictions"]


# A bare ``Prefer: wait`` is held for as long as the server allows; the
# request's own timeout must outlive that (and the answer's transfer).
_HELD_ANSWER_MAX = 3600.0
_HELD_ANSWER_MARGIN = 30.0
# With a ``timeout``, the hold asked of the server ends this much before the
# deadline (at most 1 s, at most a fifth of what is left), so the pending
# prediction comes back in time to be handed over in the WaitTimeoutError.
_HOLD_MARGIN_MAX = 1.0
_HOLD_MARGIN_SHARE = 0.2

# Sessions whose server refused a field of the current dialect of ``POST
# /predictions`` (422 naming it): later creates there send the older shape
# at once. Weak: a closed client leaves nothing behind.
_REFUSES_STREAM_FIELD: weakref.WeakSet[AsyncSession] = weakref.WeakSet()
_REFUSES_WEBHOOK_OBJECT: weakref.WeakSet[AsyncSession] = weakref.WeakSet()


def _prefer_wait(wait: bool | float) -> str | None:
    """The ``Prefer`` header for ``create(wait=...)``, or ``None``."""
    if wait is False:
        return None
    if wait is True:
        return "wait"
    return f"wait={format_seconds(check_seconds(wait, 'wait'))}"


def _prediction_id_of(event: StreamEvent) -> str | None:
    data = event.data
    if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"]:
        return str(data["id"])
    return None


def _check_wait_args(timeout: float | None, poll_interval: float) -> None:
    # A NaN here once reached asyncio.sleep and stopped every timer of the
    # loop; 0 and negative timeouts meant "no limit". Now all refused.
    check_timeout(timeout)
    check_interval(poll_interval, "poll_interval")


def _refused_fields(exc: ValidationError) -> set[str]:
    """The top-level body fields a 422 names, e.g. ``{"stream"}``."""
    fields = set()
    for error in exc.errors:
        loc = error.get("loc")
        if (
            isinstance(loc, list)
            and len(loc) >= 2
            and loc[0] == "body"
            and isinstance(loc[1], str)
        ):
            fields.add(loc[1])
    return fields


def _older_shape(body: dict[str, Any], refused: set[str]) -> dict[str, Any] | None:
    """``body`` without what an older server refused, or ``None`` if it cannot be.

    ``"stream": false`` can be left out (it is the default), and ``"webhook":
    {"url"}`` said as ``"webhook_url"``; a refused ``"stream": true`` or a
    webhook secret cannot be said to such a server.
    """
    older = dict(body)
    changed = False
    if "stream" in refused and older.get("stream") is False:
        del older["stream"]
        changed = True
    webhook = older.get("webhook")
    if "webhook" in refused and isinstance(webhook, dict) and set(webhook) == {"url"}:
        del older["webhook"]
        older["webhook_url"] = webhook["url"]
        changed = True
    return older if changed else None


class _Deadline:
    """What is left of one call's ``timeout`` (``None``: no limit)."""

    __slots__ = ("_ends_at", "_loop", "timeout")

    def __init__(self, timeout: float | None) -> None:
        self._loop = asyncio.get_running_loop()
        self.timeout = timeout
        self._ends_at = None if timeout is None else self._loop.time() + timeout

    def left(self) -> float | None:
        if self._ends_at is None:
            return None
        return self._ends_at - self._loop.time()

    def expired(self) -> bool:
        left = self.left()
        return left is not None and left <= 0


def _wait_timeout(
    prediction_id: str, timeout: float | None, seen: PredictionDetails | None
) -> WaitTimeoutError:
    # Ids and statuses may be the server's: bounded like any message.
    return WaitTimeoutError(
        f"prediction {shorten(prediction_id, 80)} did not finish within {timeout}s"
        + (f" (last status: {shorten(str(seen.status), 80)})" if seen else ""),
        prediction=seen,
    )


class AsyncPredictions(AsyncResource):
    """Operations on predictions, as ``client.predictions``."""

    __slots__ = ()

    @overload
    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validate_input: bool | None = None,
        wait: bool | float = False,
        poll: bool = True,
        stream: Literal[False] = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> PredictionDetails: ...

    @overload
    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validate_input: bool | None = None,
        wait: bool | float = False,
        poll: bool = True,
        stream: Literal[True],
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> AsyncIterator[StreamEvent]: ...

    @overload
    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validate_input: bool | None = None,
        wait: bool | float = False,
        poll: bool = True,
        stream: bool,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> PredictionDetails | AsyncIterator[StreamEvent]: ...

    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validate_input: bool | None = None,
        wait: bool | float = False,
        poll: bool = True,
        stream: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> PredictionDetails | AsyncIterator[StreamEvent]:
        """Run a model: create a prediction and, with ``wait``, wait for it.

        Sent to ``POST /predictions`` as the official client sends it:
        ``{"model", "input", "stream": <bool>}``, with ``"webhook": {"url",
        "secret"}`` when asked. An older server that answers 405 there gets
        the same request at ``POST /models/{owner}/{name}/predictions`` (or
        ``.../versions/{n}/predictions``); one that refuses ``"stream"`` or
        the ``webhook`` object (a 422 naming it) gets the older shape (no
        ``"stream": false``, ``webhook_url``), at once on later calls.

        Args:
            model: ``"owner/name"`` (latest version) or ``"owner/name:N"``.
            input: the model's input, as its input schema describes. A
                :class:`File` anywhere in it (nested dicts and lists too) is
                uploaded first, 16 at a time (the official client's bound),
                and sent as its download URL; ``input`` itself is not changed.
            webhook_url: where the service posts updates of the prediction.
            webhook_secret: the secret the service signs those calls with
                (check them with :func:`wriftai_async.webhooks.verify`); sent
                with the URL as ``webhook: {url, secret}``.
            validate_input: ask the service to check ``input`` against the
                schema before queueing (a bad input is then a ValidationError).
            wait: ``True`` asks the server to hold the answer until the
                prediction ends (``Prefer: wait``, for as long as the server
                allows), a number of seconds asks for at most that long
                (``Prefer: wait=2.5``); then, if it is still running, it is
                polled until it has a terminal status. With a ``timeout`` the
                hold asked for ends a little before it (so the pending
                prediction comes back in time). With ``stream=True``
                the seconds are instead the longest the server may stay idle
                between two events before it closes the stream (which is
                then resumed).
            poll: with ``wait``, ``False`` returns the held answer as it is,
                pending or done, without polling (the official client's
                ``poll=False``).
            stream: return an async iterator of the prediction's
                :class:`StreamEvent` objects (``init``, ``output``...,
                ``done``), read from the create request's own answer. If that
                stream ends before ``done`` (an idle close, a broken
                connection) it goes on with :meth:`stream` from the last
                event's id, so no event is lost or repeated.
            timeout: with ``wait``, the most seconds the whole call takes
                (uploads, the held request, every poll): a finite number > 0,
                or ``None`` (the default) for no limit. Past it,
                ``WaitTimeoutError`` (with the prediction when it was
                created in time).
            poll_interval: with ``wait``, seconds between polls: a finite
                number > 0.

        Example::

            prediction = await client.predictions.create(
                "alice/upscaler", {"image": "https://..."}, wait=True
            )
            print(prediction.status, prediction.output)

            events = await client.predictions.create(
                "alice/llm", {"prompt": "Hi"}, stream=True
            )
            async for event in events:
                if event.event == "output":
                    print(event.data, end="")
        """
        owner, name, number = parse_model_ref(model)
        _check_wait_args(timeout, poll_interval)
        prefer = _prefer_wait(wait)  # checks wait: a bool or seconds >= 0
        if not isinstance(poll, bool):
            raise TypeError(f"poll must be a bool, not {type(poll).__name__}")
        if webhook_secret is not None and webhook_url is None:
            raise ValueError("webhook_secret needs a webhook_url")
        # One deadline for the whole call when it waits: uploads included.
        limit = _Deadline(timeout if prefer is not None and not stream else None)
        try:
            async with deadline(limit.left()):
                uploaded = await upload_files_in(AsyncFiles(self._session), input)
        except asyncio.TimeoutError:
            raise WaitTimeoutError(
                f"the files of the input were not uploaded within {timeout}s; "
                "no prediction was created"
            ) from None
        body: dict[str, Any] = {"model": model, "input": uploaded}
        if webhook_url is not None:
            # The official client's shape; older servers took "webhook_url".
            body["webhook"] = {"url": webhook_url}
            if webhook_secret is not None:
                body["webhook"]["secret"] = webhook_secret
        headers: dict[str, str] = {}
        if validate_input is not None:
            headers["Validate-Input"] = "true" if validate_input else "false"
        if stream:
            # The official wriftai 0.34 client gets the event stream from
            # this POST with "stream": true *and* a Prefer: wait header (its
            # create(wait=True, stream=True)); without the header the service
            # answers the JSON prediction. It always sends "stream"; we send
            # it only when true, as older servers refuse the unknown field.
            body["stream"] = True
            headers["Prefer"] = prefer or "wait"
            idle = None if isinstance(wait, bool) else float(wait)
            return self._stream_created(body, headers, idle)
        body["stream"] = False
        return await self._create_json(
            body, headers, (owner, name, number), wait, poll, limit, poll_interval
        )

    async def _create_json(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        ref: tuple[str, str, int | None],
        wait: bool | float,
        poll: bool,
        limit: _Deadline,
        poll_interval: float,
    ) -> PredictionDetails:
        """``POST /predictions`` answered with JSON; with ``wait``, held and polled."""
        prefer = _prefer_wait(wait)
        left = limit.left()
        request_timeout = None
        if prefer is not None:
            if left is not None:
                # Ask for no longer a hold than the deadline leaves, and bound
                # the request itself by it: one deadline for the whole call.
                margin = min(_HOLD_MARGIN_MAX, left * _HOLD_MARGIN_SHARE)
                hold = max(0.0, left - margin)
                if wait is not True:
                    hold = min(hold, float(wait))
                prefer = f"wait={format_seconds(round(hold, 3))}"
                request_timeout = max(left, 0.001)
            else:
                # The server may hold a Prefer: wait answer for as long as
                # asked (or as it allows, for a bare "wait"): the request
                # must outlive it.
                held = _HELD_ANSWER_MAX if wait is True else float(wait)
                request_timeout = held + _HELD_ANSWER_MARGIN
            headers["Prefer"] = prefer
        try:
            prediction = await self._post_prediction(
                body, headers, ref, request_timeout
            )
        except APITimeoutError as exc:
            if left is None:
                raise
            raise WaitTimeoutError(
                f"POST /predictions was not answered within {limit.timeout}s "
                "(the prediction may have been created)"
            ) from exc
        if prefer is None or not poll or prediction.is_terminal:
            return prediction
        # The id is the server's: checked as one, never as a caller's
        # argument ("pred:123" is a fine id; "" or ".." cannot be polled).
        segment = server_segment(
            prediction.id,
            "prediction id",
            method="POST",
            url=self._session.base_url + "/predictions",
        )
        if limit.expired():
            raise _wait_timeout(prediction.id, limit.timeout, prediction)
        return await self._poll(segment, limit, poll_interval, prediction)

    async def _post_prediction(
        self,
        body: dict[str, Any],
        headers: dict[str, str],
        ref: tuple[str, str, int | None],
        request_timeout: float | None,
    ) -> PredictionDetails:
        """Send the create, in the shape this server takes (see :meth:`create`)."""
        session = self._session
        if session in _REFUSES_STREAM_FIELD:
            body = _older_shape(body, {"stream"}) or body
        if session in _REFUSES_WEBHOOK_OBJECT:
            body = _older_shape(body, {"webhook"}) or body
        path = "/predictions"
        while True:
            try:
                prediction: PredictionDetails = await self._send(
                    "POST",
                    path,
                    body,
                    PredictionDetails,
                    headers=headers or None,
                    timeout=request_timeout,
                )
                return prediction
            except ValidationError as exc:
                refused = _refused_fields(exc)
                older = _older_shape(body, refused)
                if older is None:
                    raise
                # A 422 created nothing: the same request in the older shape.
                if "stream" in refused:
                    _REFUSES_STREAM_FIELD.add(session)
                if "webhook" in refused:
                    _REFUSES_WEBHOOK_OBJECT.add(session)
                body = older
            except APIStatusError as exc:
                if exc.status != 405 or path != "/predictions":
                    raise
                # Older servers only list predictions at /predictions (GET),
                # and create them under the model: the same request there.
                owner, name, number = ref
                body = {k: v for k, v in body.items() if k != "model"}
                # An older server: "stream": false is its default anyway.
                body = _older_shape(body, {"stream"}) or body
                segments = ["models", owner, name]
                if number is not None:
                    segments += ["versions", str(number)]
                path = join_path(*segments, "predictions")

    async def _stream_created(
        self, body: dict[str, Any], headers: dict[str, str], idle: float | None
    ) -> AsyncIterator[StreamEvent]:
        """The events of ``POST /predictions`` (``"stream": true``), resumed.

        Like the official client's ``_async_create_stream``: the first event
        (``init``) carries the prediction, whose id a resumption needs.
        """
        prediction_id: str | None = None
        last_id: str | None = None
        try:
            async with self._session.stream(
                "POST", "/predictions", json=body, headers=headers
            ) as response:
                _check_event_stream(response)
                decoder = SSEDecoder()
                async for chunk in response.content.iter_any():
                    for message in decoder.feed(chunk):
                        event = _to_event(message)
                        if prediction_id is None:
                            prediction_id = _prediction_id_of(event)
                        last_id = message.id
                        yield event
                        if event.event == "done":
                            return
        except APIConnectionError:
            if prediction_id is None or last_id is None:
                raise  # nothing to resume from
        if prediction_id is None or last_id is None:
            raise ResponseDecodeError(
                "POST /predictions closed its event stream before saying which "
                "prediction it created",
                method="POST",
                url=self._session.base_url + "/predictions",
            )
        # Closed (idle) or broken before "done": go on where it stopped.
        path = join_path("predictions", prediction_id, "stream")
        async for event in follow_stream(self._session, path, last_id, idle):
            yield event

    async def get(self, prediction_id: str) -> PredictionDetails:
        """Get a prediction with its input, output, error and logs.

        Example::

            prediction = await client.predictions.get("3fa85f64-...")
        """
        return await self._fetch(parse_id(prediction_id))

    async def _fetch(self, segment: str) -> PredictionDetails:
        """``GET /predictions/{segment}``: an id already checked."""
        path = join_path("predictions", segment)
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
        params = page_query(cursor, page_size, statuses=statuses)
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
        check_page_size(page_size)

        async def fetch(cursor: str | None) -> Page[Prediction]:
            return await self.list_page(
                cursor=cursor, page_size=page_size, statuses=statuses
            )

        return paginate(fetch)

    def stream(
        self,
        prediction_id: str,
        *,
        after_id: str | None = None,
        wait: float | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Follow a prediction as it runs: its events, as the server sends them.

        Yields :class:`StreamEvent` objects: ``init`` (the prediction), then
        ``output`` as the model produces output, ``error`` if it fails, and
        ``done`` last, after which the iteration ends.

        If the connection drops or the server closes it before ``done`` (an
        idle timeout, a restart), the iterator reconnects by itself, asking
        for the events after the last id it saw, so nothing is repeated or
        lost. Each reconnection first waits the client's retry backoff
        (``RetryPolicy``; or the server's ``retry:`` hint when longer; at
        most 5 s). An event whose id was already yielded is never yielded
        again, even from a server that ignores ``after_id``. A reconnection
        that delivers no new event ends it: with the ``APIConnectionError``
        after a drop, quietly after a clean close (resume later with
        ``after_id=`` the last event's ``id``). Event data that is not JSON
        arrives as its raw text.

        Breaking out of the loop closes the connection when the iterator is
        closed: wrap it in ``contextlib.aclosing`` to close it at once.

        Args:
            prediction_id: the prediction to follow.
            after_id: only the events after this event id (from
                ``StreamEvent.id``), to resume an earlier stream.
            wait: the longest, in seconds, the server may stay idle between
                two events before it closes the stream (``Prefer: wait=N``;
                the iterator then resumes). ``None``: the server's default.

        Example::

            from contextlib import aclosing

            async with aclosing(client.predictions.stream(pid)) as events:
                async for event in events:
                    if event.event == "output":
                        print(event.data, end="", flush=True)

        Raises:
            NotFoundError: no such prediction.
            ResponseDecodeError: the answer is not an event stream.
        """
        path = join_path("predictions", parse_id(prediction_id), "stream")
        if after_id is not None:
            if not isinstance(after_id, str):
                raise TypeError(
                    f"after_id must be a str, not {type(after_id).__name__}"
                )
            if not after_id:
                raise ValueError("after_id must not be empty")
        if wait is not None:
            check_seconds(wait, "wait")
        return follow_stream(self._session, path, after_id, wait)

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

        Args:
            timeout: the most seconds to wait, a finite number > 0; ``None``
                (the default) waits without limit (each request still has
                the client's ``timeout``).
            poll_interval: seconds between polls, a finite number > 0.

        Raises:
            WaitTimeoutError: (a ``TimeoutError``) ``timeout`` seconds passed
                first; its ``prediction`` is the last state seen.
            ValueError, TypeError: a bad ``timeout`` or ``poll_interval``
                (0, negative, NaN, infinite, a bool or a str), before any
                request.
        """
        parse_id(prediction_id)
        _check_wait_args(timeout, poll_interval)
        return await self._poll(prediction_id, _Deadline(timeout), poll_interval)

    async def _poll(
        self,
        segment: str,
        limit: _Deadline,
        poll_interval: float,
        seen: PredictionDetails | None = None,
    ) -> PredictionDetails:
        """Poll until terminal, within what ``limit`` leaves (checked id)."""
        last: list[PredictionDetails] = [seen] if seen is not None else []

        async def poll() -> PredictionDetails:
            while True:
                prediction = await self._fetch(segment)
                if prediction.is_terminal:
                    return prediction
                last[:] = [prediction]
                await asyncio.sleep(poll_interval)

        left = limit.left()
        if left is None:
            return await poll()
        try:
            async with deadline(left):  # not wait_for: see _timeouts
                return await poll()
        except asyncio.TimeoutError:
            raise _wait_timeout(
                segment, limit.timeout, last[0] if last else None
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
        ``timeout`` and ``poll_interval`` are as for :meth:`wait`.

        Example::

            final = await client.predictions.cancel_and_wait(pid, timeout=30)
            assert final.is_terminal
        """
        parse_id(prediction_id)
        _check_wait_args(timeout, poll_interval)
        # One deadline for the cancel, its fallback get and every poll.
        limit = _Deadline(timeout)
        try:
            async with deadline(limit.left()):
                try:
                    await self.cancel(prediction_id)
                except (BadRequestError, ConflictError):
                    current = await self.get(prediction_id)
                    if current.is_terminal:
                        return current
                    raise
        except asyncio.TimeoutError:
            raise _wait_timeout(prediction_id, timeout, None) from None
        if limit.expired():
            raise _wait_timeout(prediction_id, timeout, None)
        return await self._poll(prediction_id, limit, poll_interval)

    def cancel_many(
        self,
        prediction_ids: Iterable[str],
        *,
        concurrency: int = 32,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[BulkResult[None]]:
        """Ask for many predictions to be cancelled, ``concurrency`` at a time.

        Yields a :class:`BulkResult` per id as each request completes; a
        prediction that had already ended shows up with its
        ``BadRequestError``/``ConflictError`` in ``result.error``. Follow with
        :meth:`wait_many` to know when the cancellations took effect.
        """
        return bounded_map(prediction_ids, self.cancel, concurrency, on_progress)

    def wait_many(
        self,
        prediction_ids: Iterable[str],
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        concurrency: int = 32,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncIterator[BulkResult[PredictionDetails]]:
        """Poll many predictions until each is terminal, yielding each as it ends.

        One scheduler polls every id still running once per
        ``poll_interval`` (``concurrency`` requests at a time) rather than one
        sleeping loop per id. Each id yields exactly one :class:`BulkResult`:
        the terminal prediction, or the error that ended its polling (a
        ``WaitTimeoutError`` once ``timeout`` seconds have passed).

        ``timeout`` is a finite number of seconds > 0, or ``None`` (no
        limit); ``poll_interval`` a finite number > 0; ``concurrency`` an
        int >= 1. They are checked when this is called, before any request.

        Example::

            async for _ in client.predictions.cancel_many(ids):
                pass
            async for result in client.predictions.wait_many(ids, timeout=60):
                print(result.key, result.value.status if result.ok else result.error)
        """
        _check_wait_args(timeout, poll_interval)
        check_concurrency(concurrency)
        check_progress_callback(on_progress)
        if isinstance(prediction_ids, (str, bytes)):
            raise TypeError("prediction_ids must be a list of ids, not a str")
        ids = list(dict.fromkeys(prediction_ids))  # each id once, in order
        return poll_until_terminal(
            self.get, ids, timeout, poll_interval, concurrency, on_progress
        )
