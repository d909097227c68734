"""Predictions: create, get, list, cancel, stream, and waiting for the end."""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any, Literal, overload

from .._bulk import (
    BulkResult,
    ProgressCallback,
    bounded_map,
    check_bulk_args,
)
from .._checks import check_bool, check_mapping, check_number
from .._errors import (
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    ConflictError,
    ValidationError,
    WaitTimeoutError,
)
from .._objects import (
    Page,
    Prediction,
    PredictionDetails,
    PredictionStatus,
)
from .._params import (
    join_path,
    page_query,
    parse_id,
    parse_model_ref,
    server_segment,
)
from .._repr import one_line
from .._session import AsyncSession
from .._timeouts import deadline
from ._base import AsyncResource
from ._polling import poll_until_terminal
from ._streaming import AsyncEventStream, _Create, format_seconds
from .files import AsyncFiles, upload_files_in

__all__ = ["AsyncPredictions", "PollCallback"]

#: ``on_poll`` of :meth:`AsyncPredictions.wait` and friends: called with each
#: polled prediction; a coroutine function is awaited.
PollCallback = Callable[[PredictionDetails], object]


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


def _listing_query(
    cursor: str | None,
    page_size: int | None,
    statuses: Sequence[PredictionStatus | str] | None,
) -> list[tuple[str, str]] | None:
    if isinstance(statuses, str):
        raise TypeError("statuses must be a list of statuses, not a str")
    return page_query(cursor, page_size, statuses=statuses)


def _prefer_wait(wait: bool | float) -> str | None:
    """The ``Prefer`` header for ``create(wait=...)``, or ``None``."""
    if wait is False:
        return None
    if wait is True:
        return "wait"
    return f"wait={format_seconds(check_number(wait, 'wait', zero=True))}"


def _check_wait_args(
    timeout: float | None, poll_interval: float, on_poll: object = None
) -> None:
    # A NaN here once reached asyncio.sleep and stopped every timer of the
    # loop; 0 and negative timeouts meant "no limit". Now all refused.
    if timeout is not None:
        check_number(timeout, "timeout")
    check_number(poll_interval, "poll_interval")
    if on_poll is not None and not callable(on_poll):
        raise TypeError(
            f"on_poll must be a callable or None, not {type(on_poll).__name__}"
        )


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
        f"prediction {one_line(prediction_id, 80)} did not finish within {timeout}s"
        + (f" (last status: {one_line(str(seen.status), 80)})" if seen else ""),
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
        wait: bool | float | None = None,
        poll: bool = True,
        stream: Literal[False] = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_poll: PollCallback | None = None,
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
        wait: Literal[False],
        poll: bool = True,
        stream: Literal[True],
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_poll: PollCallback | None = None,
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
        wait: Literal[True] | float | None = None,
        poll: bool = True,
        stream: Literal[True],
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_poll: PollCallback | None = None,
    ) -> AsyncEventStream: ...

    @overload
    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validate_input: bool | None = None,
        wait: bool | float | None = None,
        poll: bool = True,
        stream: bool,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_poll: PollCallback | None = None,
    ) -> PredictionDetails | AsyncEventStream: ...

    async def create(
        self,
        model: str,
        input: Mapping[str, Any],
        *,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        validate_input: bool | None = None,
        wait: bool | float | None = None,
        poll: bool = True,
        stream: bool = False,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_poll: PollCallback | None = None,
    ) -> PredictionDetails | AsyncEventStream:
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
                polled until it has a terminal status. ``None`` (the
                default): ``False``, or ``True`` with ``stream=True``. With
                ``stream=True`` the seconds are instead the longest the
                server may stay idle between two events before it closes
                the stream (which is then resumed), and ``wait=False``
                creates the prediction without streaming it.
            stream: create a prediction that can be streamed (``"stream":
                true``) and return an :class:`AsyncEventStream` of its
                :class:`StreamEvent` objects (``init``, ``output``..., then
                ``done``, or ``error`` for a failed prediction), read from
                the create request's own answer and, if that ends early,
                resumed as :meth:`stream` does, without losing or repeating
                an event. With ``wait=False``: the created prediction, to
                follow later with :meth:`stream` (as the official client's
                ``create(stream=True, wait=False)``). The request is sent
                when the iteration starts.
            poll: with ``wait``, ``False`` returns the held answer as it is,
                pending or done, without polling (the official client's
                ``poll=False``).
            timeout: with ``wait``, the most seconds the whole call takes
                (uploads, the held request, every poll): a finite number > 0,
                or ``None`` (the default) for no limit. Past it,
                ``WaitTimeoutError`` (with the prediction when it was
                created in time). The hold asked for then ends a little
                before it, so the pending prediction comes back in time.
            poll_interval: with ``wait``, seconds between polls: a finite
                number > 0.
            on_poll: with ``wait``, called with each polled prediction (as
                :meth:`wait`'s); not called when the held answer is already
                terminal, or with ``poll=False``.

        Example::

            prediction = await client.predictions.create(
                "alice/upscaler", {"image": "https://..."}, wait=True
            )
            print(prediction.status, prediction.output)

            events = await client.predictions.create(
                "alice/llm", {"prompt": "Hi"}, stream=True
            )
            async with events:
                async for event in events:
                    if event.event == "output":
                        print(event.data, end="")
        """
        owner, name, number = parse_model_ref(model)
        check_mapping(input, "input")
        check_bool(stream, "stream")
        check_bool(validate_input, "validate_input", optional=True)
        _check_wait_args(timeout, poll_interval, on_poll)
        if wait is None:
            wait = stream  # stream=True alone streams; otherwise no wait
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
        # As the official wriftai 0.34 client: "stream" always (an older
        # server that refuses it gets the older shape: _post_prediction).
        body["stream"] = bool(stream)
        if stream and prefer is not None:
            # With Prefer: wait (its create(wait=True, stream=True)) the
            # service answers with the event stream; without it (its
            # create(stream=True, wait=False)) with the JSON prediction, to
            # stream later: that one goes on below.
            idle = None if isinstance(wait, bool) else float(wait)
            create = _Create(body, {**headers, "Prefer": prefer})
            return AsyncEventStream(self._session, idle=idle, create=create)
        return await self._create_json(
            body,
            headers,
            (owner, name, number),
            wait,
            poll,
            limit,
            poll_interval,
            on_poll,
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
        on_poll: PollCallback | None,
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
        return await self._poll(segment, limit, poll_interval, on_poll, prediction)

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
        params = _listing_query(cursor, page_size, statuses)
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
        query = _listing_query(None, page_size, statuses)
        return self._list("/predictions", Prediction, query)

    def stream(
        self,
        prediction_id: str,
        *,
        after_id: str | None = None,
        wait: float | None = None,
    ) -> AsyncEventStream:
        """Follow a prediction as it runs: each of its events once, in order.

        Returns an :class:`AsyncEventStream` of :class:`StreamEvent` objects:
        ``init`` (the prediction), ``output`` as the model produces output,
        then one terminal event, yielded last: ``done`` (the final
        prediction), or ``error`` (the prediction's error) for a failed
        prediction, whether or not the server sends ``done`` after it. The
        request is sent when the iteration starts.

        The iteration ends only after the terminal event, or raises. If the
        connection drops or the server closes it before the terminal event
        (an idle timeout, a restart), the stream reconnects by itself with
        ``after_id`` = the last event's id:

        - an event whose id was yielded already is skipped, even from a
          server that ignores ``after_id`` (integer ids, as the service
          sends, are compared as numbers; other ids are remembered, the
          latest 1,024), so memory does not grow with the stream;
        - a connection that brought a new event resets the count; at most
          ``max_retries`` (the client's) reconnections in a row may bring
          none: broken, refused (429, 5xx, after the client's own retries of
          that request) or closed empty. Each waits the ``RetryPolicy``
          backoff (attempt ``n`` up to ``backoff_base * 2**n``; the first
          after a new event, ``n = 0``), or the server's ``retry:`` hint when
          longer, at most 5 s;
        - an idle close, a connection that stayed open at least ``wait``
          seconds (1 s without ``wait``) with no new event, is resumed at
          once and does not count: a prediction may stay quiet for long;
        - past the budget it raises :class:`StreamInterruptedError`, with
          the ``last_event_id`` to resume from (and the last failure as its
          ``__cause__``). It never just stops.

        Event data is decoded from JSON under the client's bounds (an event
        larger than ``max_response_size``, or with more values than a body
        may have, raises ``ResponseDecodeError``); data that is not JSON
        arrives as its text.

        Leave it with ``async with`` (or ``await events.aclose()``) to hang
        up at once when you stop early.

        Args:
            prediction_id: the prediction to follow.
            after_id: only the events after this event id (from
                ``StreamEvent.id``), to resume an earlier stream.
            wait: the longest, in seconds, the server may stay idle between
                two events before it closes the stream (``Prefer: wait=N``;
                the stream then resumes). ``None``: the server's default.

        Example::

            async with client.predictions.stream(pid) as events:
                async for event in events:
                    if event.event == "output":
                        print(event.data, end="", flush=True)

        Raises:
            NotFoundError: no such prediction (or it cannot be streamed).
            ResponseDecodeError: the answer is not an event stream, or an
                event is too large.
            StreamInterruptedError: the stream broke and could not be
                resumed.
        """
        prediction_id = parse_id(prediction_id)
        if after_id is not None:
            if not isinstance(after_id, str):
                raise TypeError(
                    f"after_id must be a str, not {type(after_id).__name__}"
                )
            if not after_id:
                raise ValueError("after_id must not be empty")
        if wait is not None:
            check_number(wait, "wait", zero=True)
        return AsyncEventStream(
            self._session, prediction_id=prediction_id, after_id=after_id, idle=wait
        )

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
        on_poll: PollCallback | None = None,
    ) -> PredictionDetails:
        """Poll a prediction until its status is terminal, and return it.

        Terminal: ``succeeded``, ``failed``, ``cancelled``, ``abandoned``.

        Args:
            timeout: the most seconds to wait, a finite number > 0; ``None``
                (the default) waits without limit (each request still has
                the client's ``timeout``).
            poll_interval: seconds between polls, a finite number > 0.
            on_poll: called with each polled prediction, the terminal one
                included, before the next poll (the official client's
                ``on_poll``); a coroutine function is awaited. It runs
                within ``timeout``; an exception it raises ends the wait.

        Raises:
            WaitTimeoutError: (a ``TimeoutError``) ``timeout`` seconds passed
                first; its ``prediction`` is the last state seen.
            ValueError, TypeError: a bad ``timeout`` or ``poll_interval``
                (0, negative, NaN, infinite, a bool or a str), before any
                request.
        """
        parse_id(prediction_id)
        _check_wait_args(timeout, poll_interval, on_poll)
        return await self._poll(
            prediction_id, _Deadline(timeout), poll_interval, on_poll
        )

    async def _poll(
        self,
        segment: str,
        limit: _Deadline,
        poll_interval: float,
        on_poll: PollCallback | None,
        seen: PredictionDetails | None = None,
    ) -> PredictionDetails:
        """Poll until terminal, within what ``limit`` leaves (checked id)."""
        last: list[PredictionDetails] = [seen] if seen is not None else []

        async def poll() -> PredictionDetails:
            while True:
                prediction = await self._fetch(segment)
                if on_poll is not None:
                    called = on_poll(prediction)
                    if inspect.isawaitable(called):
                        await called
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
        on_poll: PollCallback | None = None,
    ) -> PredictionDetails:
        """Cancel a prediction and wait until it has really ended.

        Returns the terminal prediction: usually ``cancelled``, but a
        prediction that was already completing may end ``succeeded`` or
        ``failed``. If it had already ended before the cancel, the service's
        "already terminated" error is not raised: that prediction is returned.
        ``timeout``, ``poll_interval`` and ``on_poll`` are as for :meth:`wait`.

        Example::

            final = await client.predictions.cancel_and_wait(pid, timeout=30)
            assert final.is_terminal
        """
        parse_id(prediction_id)
        _check_wait_args(timeout, poll_interval, on_poll)
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
        return await self._poll(prediction_id, limit, poll_interval, on_poll)

    def cancel_many(
        self,
        prediction_ids: Iterable[str],
        *,
        concurrency: int = 32,
        on_progress: ProgressCallback | None = None,
    ) -> AsyncGenerator[BulkResult[None], None]:
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
    ) -> AsyncGenerator[BulkResult[PredictionDetails], None]:
        """Poll many predictions until each is terminal, yielding each as it ends.

        One scheduler polls every id still running once per
        ``poll_interval`` (``concurrency`` requests at a time) rather than one
        sleeping loop per id. Each id yields exactly one :class:`BulkResult`:
        the terminal prediction, or the error that ended its polling (a
        ``WaitTimeoutError`` once ``timeout`` seconds have passed: one
        deadline for the whole call, checked while a round waits, so a slow
        or silent answer or a round of thousands of ids cannot outlast it).

        ``timeout`` is a finite number of seconds > 0, or ``None`` (no
        limit); ``poll_interval`` a finite number > 0; ``concurrency`` an
        int >= 1. They are checked when this is called, before any request.

        Example::

            async for _ in client.predictions.cancel_many(ids):
                pass
            async for result in client.predictions.wait_many(ids, timeout=60):
                print(result.key, result.unwrap().status if result.ok else result.error)
        """
        _check_wait_args(timeout, poll_interval)
        check_bulk_args(prediction_ids, concurrency, on_progress)
        ids = list(dict.fromkeys(prediction_ids))  # each id once, in order
        return poll_until_terminal(
            self.get, ids, timeout, poll_interval, concurrency, on_progress
        )
