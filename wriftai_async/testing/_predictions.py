"""Routes for predictions: create (three ways), get, list, cancel, stream.

Status changes are lazy (see ``_records.Prediction.advance``). ``Prefer: wait``
and the event stream are the places that await: the handler marks the call,
and ``hold`` (or ``send_events``) polls the prediction outside the store lock
until it is terminal or time is up.

``GET /predictions/{id}/stream`` is a ``text/event-stream``: ``init`` (the
prediction), ``output`` chunks as they are produced, ``error`` if it fails and
``done`` (the final prediction), each with an ``id`` (``1``, ``2``, ...) that
``after_id`` resumes after. It ends after ``done``, when the client hangs up,
when the emulator closes, or when no event came for the idle time: the
request's ``Prefer: wait=N`` (the official 0.34 client's ``stream(wait=)``
documents it as "the maximum time the server waits between events before
closing an idle connection"), else ``max_prefer_wait``.

New dialect: ``POST /predictions`` with ``"stream": true`` and a ``Prefer:
wait`` header answers with that same event stream instead of JSON (the
official client's ``create(wait=True, stream=True)`` reads it so); ``wait=N``
is then the idle time, as above. A request whose ``Accept`` rules the event
stream out (``application/json`` only) gets the JSON prediction instead, held
as any ``Prefer: wait`` answer: the official client's own
``create(stream=True, wait=False)`` shows the service answering JSON for a
stream-enabled prediction whenever the event stream is not what is read.

Only a prediction created with ``"stream": true`` can be streamed (the
official client documents the prediction's ``stream`` as "whether the
prediction supports streaming"): ``/stream`` answers 404 for any other, the
status the service's recordings show for that route besides 401 (the old
dialect has no ``stream`` field and streams every prediction).

Every event id always carries the same data: ``init`` is the prediction as it
was when its stream was first read, ``done`` the final prediction. A failed
prediction's stream ends with ``error`` (its error), without ``done``: the
official client ends at either (its ``_TERMINAL_STREAM_EVENT_TYPES``), so the
service need not send anything after ``error``.

Faults (``Emulator.inject_stream_cut``, ``inject_stream_replay``) break a
stream after a number of events or of bytes (any offset, mid-line or
mid-event), or serve it from the start whatever ``after_id`` asks.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from aiohttp import web

from ._faults import STREAM_FAULT, Fault
from ._records import STATUSES, Model, Prediction, Version
from ._routing import WEBHOOKS_KEY, Call, RouteTable, path_int, visible_model
from ._state import Store
from ._validation import (
    ApiError,
    Check,
    Errors,
    Loc,
    check_optional_url,
    query_enum_list,
    validate_fields,
    validate_input,
)

routes = RouteTable()

_MODEL_REF = re.compile(r"^([^/\s:]+)/([^/\s:]+)(?::([0-9]+))?$")
# How often a held ``Prefer: wait`` answer (or an event stream) re-reads its
# prediction; a cancel can arrive at any time, so it cannot simply sleep until
# the next transition.
_WAIT_POLL = 0.02
#: Set when the emulator closes, so that open event streams end at once
#: instead of holding the shutdown until their handlers are cancelled.
STREAMS_CLOSING = web.AppKey("wriftai_streams_closing", asyncio.Event)


def _check_input(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, dict):
        errors.add(loc, "Input should be a valid dictionary", "dict_type")
    return value


def _check_model_ref(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, str) or not _MODEL_REF.match(value):
        errors.add(loc, "Expected 'owner/name' or 'owner/name:version'", "value_error")
    return value


def _check_webhook(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    # Newer servers: {"url": ..., "secret": ...}, the secret signing the calls.
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"url", "secret"}:
        errors.add(loc, "Input should be an object with url and secret", "dict_type")
        return value
    if check_optional_url(value.get("url"), (*loc, "url"), errors, store) is None:
        errors.add((*loc, "url"), "Field required", "missing")
    secret = value.get("secret")
    if secret is not None and not isinstance(secret, str):
        errors.add((*loc, "secret"), "Input should be a valid string", "string_type")
    return value


_FIELDS: dict[str, Check] = {
    "input": _check_input,
    "webhook_url": check_optional_url,
    "webhook": _check_webhook,
}


def _check_stream(value: Any, loc: Loc, errors: Errors, store: Store) -> Any:
    if not isinstance(value, bool):
        errors.add(loc, "Input should be a valid boolean", "bool_type")
    return value


_FIELDS_WITH_MODEL: dict[str, Check] = {**_FIELDS, "model": _check_model_ref}
# The official 0.34 client always sends "stream": true|false.
_NEW_FIELDS_WITH_MODEL: dict[str, Check] = {
    **_FIELDS_WITH_MODEL,
    "stream": _check_stream,
}


def _pick_version(model: Model, number: int | None) -> Version:
    if number is None:
        latest = model.latest_version
        if latest is None:
            raise ApiError(404, "Model has no versions")
        return latest
    version = model.versions.get(number)
    if version is None:
        raise ApiError(404, "Version not found")
    return version


def _prefer_wait(call: Call) -> float | None:
    """Seconds to hold the answer, from ``Prefer: wait`` or ``wait=N``."""
    max_wait = call.store.settings.max_prefer_wait
    for header in call.request.headers.getall("Prefer", []):
        for token in header.split(","):
            name, _, value = token.strip().partition("=")
            if name.strip().lower() != "wait":
                continue
            if not value:
                return max_wait
            try:
                return min(max(float(value.strip().strip('"')), 0.0), max_wait)
            except ValueError:
                # RFC 7240: a preference that cannot be understood is ignored.
                return None
    return None


def _create(
    call: Call,
    model: Model,
    number: int | None,
    input_: dict[str, Any],
    stream: bool = False,
) -> web.StreamResponse:
    version = _pick_version(model, number)
    if call.request.headers.get("Validate-Input", "").strip().lower() == "true":
        schema = version.schemas.get("prediction", {}).get("input", {})
        validate_input(input_, schema if isinstance(schema, dict) else {})
    webhook = call.body.get("webhook") or {}
    webhook_url = call.body.get("webhook_url") or webhook.get("url")
    prediction = call.store.create_prediction(
        owner=call.user,
        model=model,
        version=version,
        input=input_,
        webhook_url=webhook_url,
    )
    prediction.stream = stream
    if webhook_url:
        call.request.app[WEBHOOKS_KEY].watch(
            prediction.id, webhook_url, webhook.get("secret")
        )
    wait = _prefer_wait(call)
    if wait is not None:
        call.extra_headers["Preference-Applied"] = f"wait={wait:g}"
    # The service's recordings: 202 while the prediction runs, 200 once it
    # has ended (after a Prefer: wait hold) and for the event stream. Older
    # servers answered 201.
    if stream and wait is not None and _accepts_event_stream(call.request):
        status = 200 if call.new_style else 201
        return _event_stream(call, prediction.id, 0, wait, status=status)
    if wait is not None:
        call.wait = (prediction.id, wait, None if call.new_style else 201)
    return call.json(
        call.render.prediction(prediction, details=True),
        status=_created_status(call, prediction),
    )


def _created_status(call: Call, prediction: Prediction) -> int:
    if not call.new_style:
        return 201
    return 200 if prediction.terminal else 202


@routes.route("POST", "/models/{owner}/{name}/predictions", body=True)
def create_for_model(call: Call) -> web.StreamResponse:
    fields = validate_fields(call.body, _FIELDS, call.store, required=("input",))
    model = visible_model(call, **call.request.match_info)
    return _create(call, model, None, fields["input"])


@routes.route("POST", "/models/{owner}/{name}/versions/{number}/predictions", body=True)
def create_for_version(call: Call) -> web.StreamResponse:
    fields = validate_fields(call.body, _FIELDS, call.store, required=("input",))
    info = call.request.match_info
    model = visible_model(call, info["owner"], info["name"])
    return _create(call, model, path_int(call, "number"), fields["input"])


@routes.route("POST", "/predictions", body=True)
def create_prediction(call: Call) -> web.StreamResponse:
    checks = _NEW_FIELDS_WITH_MODEL if call.new_style else _FIELDS_WITH_MODEL
    fields = validate_fields(call.body, checks, call.store, required=("input", "model"))
    match = _MODEL_REF.match(fields["model"])
    assert match is not None  # validated above
    owner, name, number = match.groups()
    model = visible_model(call, owner, name)
    return _create(
        call,
        model,
        int(number) if number else None,
        fields["input"],
        stream=fields.get("stream", False),
    )


@routes.route("GET", "/predictions")
def list_predictions(call: Call) -> web.StreamResponse:
    statuses = set(query_enum_list(call.query, "statuses", STATUSES))
    found = call.store.predictions_of(call.user)
    if statuses:
        found = [p for p in found if p.status in statuses]
    # Newest first, as a "my recent predictions" list usually is.
    found.sort(key=lambda p: (p.created_at, p.seq), reverse=True)
    return call.json(call.paginate(found, call.render.prediction))


def _own_prediction(call: Call) -> Any:
    prediction = call.store.get_prediction(call.request.match_info["id"])
    if prediction is None or prediction.owner_id != call.user.id:
        raise ApiError(404, "Prediction not found")
    return prediction


@routes.route("GET", "/predictions/{id}")
def get_prediction(call: Call) -> web.StreamResponse:
    prediction = _own_prediction(call)
    return call.json(call.render.prediction(prediction, details=True))


@routes.route("POST", "/predictions/{id}/cancel")
def cancel_prediction(call: Call) -> web.StreamResponse:
    prediction = _own_prediction(call)
    if prediction.terminal:
        raise ApiError(
            call.store.settings.already_terminated_status,
            "Prediction has already terminated",
        )
    call.store.request_cancel(prediction)
    # Accepted, not done: the service's recordings answer 202.
    status = 202 if call.new_style else 200
    return call.json(call.render.prediction(prediction, details=True), status=status)


def _accepts_event_stream(request: web.Request) -> bool:
    """Whether ``Accept`` admits ``text/event-stream`` (none at all does)."""
    header = request.headers.get("Accept", "")
    if not header.strip():
        return True
    for part in header.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("text/event-stream", "text/*", "*/*"):
            return True
    return False


@routes.route("GET", "/predictions/{id}/stream")
def stream_prediction(call: Call) -> web.StreamResponse:
    prediction = _own_prediction(call)
    if call.new_style and not prediction.stream:
        raise ApiError(404, "This prediction was not created with streaming")
    raw = call.query.get("after_id")
    after = 0
    if raw is not None:
        try:
            after = int(raw)
        except ValueError:
            after = -1
        if after < 0:
            raise ApiError(
                422,
                [
                    {
                        "loc": ["query", "after_id"],
                        "msg": "Unknown event id",
                        "type": "value_error",
                    }
                ],
            )
    fault: Fault | None = call.request.get(STREAM_FAULT)
    if fault is not None and fault.kind == "replay":
        after = 0  # a server that lost track: from the start, after_id or not
    idle = _prefer_wait(call)
    return _event_stream(
        call,
        prediction.id,
        after,
        call.store.settings.max_prefer_wait if idle is None else idle,
    )


def _event_stream(
    call: Call, prediction_id: str, after: int, idle: float, status: int = 200
) -> web.StreamResponse:
    """Mark ``call`` to answer with the prediction's events after ``after``."""

    async def stream(call: Call, response: web.StreamResponse) -> web.StreamResponse:
        return await send_events(call, response, prediction_id, after, idle)

    call.stream = stream
    return web.StreamResponse(
        status=status,
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **call.extra_headers,
        },
    )


def _pending_events(
    call: Call, prediction: Prediction, after: int
) -> list[tuple[int, str, Any]]:
    """The events whose id is above ``after``, as ``(id, name, data)``.

    Called under the store lock: the data of ``init`` and ``done`` is
    rendered once, the first time it is served, and kept.
    """
    found: list[tuple[int, str, Any]] = []
    if after < 1:
        if prediction.init_data is None:
            prediction.init_data = call.render.prediction(prediction, details=True)
        found.append((1, "init", prediction.init_data))
    log = prediction.events
    for index in range(max(after - 1, 0), len(log)):
        name, data = log[index]
        if name == "done" and data is None:
            data = call.render.prediction(prediction, details=True)
            log[index] = (name, data)
        found.append((index + 2, name, data))
    return found


def _encode(event_id: int, name: str, data: Any) -> bytes:
    # json.dumps never writes a newline, so the data is a single line.
    return f"id: {event_id}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()


class _Cut:
    """Where an injected cut breaks the stream: after events, or bytes."""

    __slots__ = ("bytes", "events")

    def __init__(self, fault: Fault | None) -> None:
        self.events: int | None = None
        self.bytes: int | None = None
        if fault is not None and fault.kind == "cut":
            self.bytes = fault.cut_bytes
            if fault.cut_bytes is None:
                self.events = fault.events

    def take(
        self, events: list[tuple[int, str, Any]], ended: bool
    ) -> tuple[bytes, int | None, bool]:
        """What to write of ``events``, the last whole id in it, and whether
        the connection breaks after it."""
        if self.events is not None:
            sent = events[: self.events]
            self.events -= len(sent)
            # The last event of a finished stream is no cut: the stream ends.
            broken = self.events <= 0 and not (ended and len(sent) == len(events))
            return b"".join(_encode(*e) for e in sent), _last(sent), broken
        data = b"".join(_encode(*e) for e in events)
        if self.bytes is None or len(data) < self.bytes:
            if self.bytes is not None:
                self.bytes -= len(data)
            return data, _last(events), False
        head = data[: self.bytes]
        ends = _ends(events)
        whole = [e for e, end in zip(events, ends, strict=True) if end <= self.bytes]
        self.bytes = 0
        return head, _last(whole), True


def _last(events: list[tuple[int, str, Any]]) -> int | None:
    return events[-1][0] if events else None


def _ends(events: list[tuple[int, str, Any]]) -> list[int]:
    ends, total = [], 0
    for event in events:
        total += len(_encode(*event))
        ends.append(total)
    return ends


async def send_events(
    call: Call,
    response: web.StreamResponse,
    prediction_id: str,
    after: int,
    idle: float,
) -> web.StreamResponse:
    """Write the prediction's events after ``after`` as they happen.

    Ends after the terminal event (``done``, or ``error`` for a failed
    prediction), or once ``idle`` seconds pass without one (an idle close:
    the client resumes with ``after_id``), or where an injected cut says.
    """
    store = call.store
    closing = call.request.app[STREAMS_CLOSING]
    cut = _Cut(call.request.get(STREAM_FAULT))
    with store.lock:
        store.open_streams += 1
    try:
        await response.prepare(call.request)
        last_event = time.monotonic()
        while not closing.is_set():
            with store.lock:
                prediction = store.get_prediction(prediction_id)
                if prediction is None:  # Cannot happen: never deleted.
                    break
                events = _pending_events(call, prediction, after)
                ended = prediction.terminal
                due = prediction.next_due()
            data, last_id, broken = cut.take(events, ended)
            if data:
                await response.write(data)
                last_event = time.monotonic()
            if last_id is not None:
                after = last_id
            if broken:
                # An injected break: the connection drops mid-stream.
                if call.request.transport is not None:
                    call.request.transport.abort()
                return response
            if ended:
                break
            now = time.monotonic()
            if now - last_event >= idle:
                break  # idle close, before the prediction ended
            pause = min(_WAIT_POLL, idle - (now - last_event))
            if due is not None:
                pause = min(pause, max(due - now, 0.0))
            await asyncio.sleep(pause)
        await response.write_eof()
    except ConnectionError:
        pass  # the client hung up: nobody is left to answer
    finally:
        with store.lock:
            store.open_streams -= 1
    return response


def install(app: web.Application) -> None:
    """Add these routes to ``app``, and end open streams when it shuts down."""
    closing = asyncio.Event()

    async def on_shutdown(app: web.Application) -> None:
        closing.set()

    app[STREAMS_CLOSING] = closing
    app.on_shutdown.append(on_shutdown)
    routes.install(app, hold)


async def hold(call: Call, response: web.StreamResponse) -> web.StreamResponse:
    """Answer a ``Prefer: wait`` request once the prediction is done or time is up."""
    assert call.wait is not None
    prediction_id, seconds, status = call.wait
    deadline = time.monotonic() + seconds
    store = call.store
    while True:
        with store.lock:
            prediction = store.get_prediction(prediction_id)
            if prediction is None:
                # Cannot happen today (predictions are never deleted).
                return response
            now = time.monotonic()
            if prediction.terminal or now >= deadline:
                return call.json(
                    call.render.prediction(prediction, details=True),
                    status=status or _created_status(call, prediction),
                )
            due = prediction.next_due()
        pause = min(deadline - now, _WAIT_POLL)
        if due is not None:
            pause = min(pause, max(due - now, 0.0))
        await asyncio.sleep(pause)
