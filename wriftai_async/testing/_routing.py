"""Plumbing shared by the route modules: auth, locking, errors, lookups.

Route handlers are written as plain synchronous functions of a ``Call``. The
adapter here does the only awaiting (reading the body, holding a ``Prefer:
wait`` response, writing an event stream) outside the store lock, then runs the
handler under it. That keeps every state change atomic with respect to the test
code that seeds data from another thread.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiMapping

from ._paging import paginate
from ._records import Model, User
from ._render import Renderer
from ._state import Store
from ._validation import ApiError, parse_json_object

log = logging.getLogger("wriftai_async.testing")

STORE_KEY = web.AppKey("wriftai_store", Store)
#: The app's webhook sender (a ``_webhooks.WebhookSender``).
WEBHOOKS_KEY: web.AppKey[Any] = web.AppKey("wriftai_webhooks", object)
PREFIX = "/v1"
T = TypeVar("T")


@dataclass
class Call:
    """One request as a handler sees it."""

    request: web.Request
    store: Store
    render: Renderer
    user: User
    body: dict[str, Any]
    # Set by a handler that wants its answer held until a prediction is done:
    # (prediction id, seconds to wait at most, HTTP status of the answer, or
    # None for the prediction's: 200 once it ended, 202 while it runs).
    wait: tuple[str, float, int | None] | None = None
    # Set by a handler whose answer is written over time (an event stream):
    # awaited with the handler's unsent response, outside the store lock.
    stream: Holder | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    def json(self, data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status, headers=self.extra_headers)

    @property
    def new_style(self) -> bool:
        return self.store.settings.style == "new"

    def created(self, data: Any) -> web.Response:
        """The answer to a successful create (model, version, variable).

        The service's own recordings (the official ``wriftai`` 0.34.0 sdist's
        integration tests) answer creates 200; older servers answered 201.
        """
        return self.json(data, status=200 if self.new_style else 201)

    def deleted(self) -> web.Response:
        """The answer to a successful DELETE: 204, no body, in both dialects.

        The service's recordings answer 204. (The official 0.34 client
        parses every answer as JSON, a bodiless 204 included, so its
        ``delete`` methods raise ``JSONDecodeError`` after the deletion took
        effect: against the service just as here.)
        """
        return web.Response(status=204)

    def paginate(
        self, records: Sequence[T], render: Callable[[T], dict[str, Any]]
    ) -> dict[str, Any]:
        return paginate(
            self.request,
            records,
            render,
            default_page_size=self.store.settings.default_page_size,
            with_urls=self.store.settings.style == "old",
        )


SyncHandler = Callable[[Call], web.StreamResponse]
AsyncHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Holder = Callable[[Call, web.StreamResponse], Awaitable[web.StreamResponse]]


class RouteTable:
    """Collects ``(method, path, handler)`` triples via a decorator."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, SyncHandler, bool]] = []

    def route(
        self, method: str, path: str, *, body: bool = False
    ) -> Callable[[SyncHandler], SyncHandler]:
        def register(fn: SyncHandler) -> SyncHandler:
            self.entries.append((method, PREFIX + path, fn, body))
            return fn

        return register

    def install(self, app: web.Application, holder: Holder) -> None:
        for method, path, fn, body in self.entries:
            app.router.add_route(method, path, adapt(fn, body, holder))


def authenticate(request: web.Request, store: Store) -> User:
    challenge = {"WWW-Authenticate": "Bearer"}
    header = request.headers.get("Authorization")
    if not header:
        raise ApiError(401, "Not authenticated", challenge)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Invalid authorization header", challenge)
    user = store.user_for_token(token.strip())
    if user is None:
        raise ApiError(401, "Invalid access token", challenge)
    return user


def adapt(fn: SyncHandler, needs_body: bool, holder: Holder) -> AsyncHandler:
    async def handler(request: web.Request) -> web.StreamResponse:
        store = request.app[STORE_KEY]
        raw = await request.read() if needs_body else b""
        with store.lock:
            user = authenticate(request, store)
            body = parse_json_object(raw) if needs_body else {}
            call = Call(request, store, Renderer(store), user, body)
            response = fn(call)
        if call.wait is not None:
            response = await holder(call, response)
        elif call.stream is not None:
            response = await call.stream(call, response)
        return response

    handler.__name__ = fn.__name__
    return handler


@web.middleware
async def error_middleware(
    request: web.Request, handler: AsyncHandler
) -> web.StreamResponse:
    """Every error leaves as ``{"detail": ...}`` JSON, even router 404/405s."""
    new_style = request.app[STORE_KEY].settings.style == "new"
    try:
        return await handler(request)
    except ApiError as exc:
        return web.json_response(
            error_body(exc.detail, new_style), status=exc.status, headers=exc.headers
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return web.json_response(
            error_body(exc.reason, new_style), status=exc.status, headers=headers
        )
    except Exception as exc:
        # A bug in the emulator: say so loudly instead of a bare 500 page.
        log.exception("emulator handler failed")
        return web.json_response(
            error_body(f"Emulator error: {type(exc).__name__}: {exc}", new_style),
            status=500,
        )


def error_body(detail: Any, new_style: bool) -> dict[str, Any]:
    """An error's JSON body: ``{"detail": ...}``, and ``"error"`` when new.

    Our API notes document ``{"detail": "message"}`` (a list of ``{loc, msg,
    type}`` for a 422); every error in the service's own recordings (the
    official sdist's integration tests) is ``{"error": "message"}``. The new
    dialect sends both keys, so a client reading either finds its message.
    """
    if not new_style:
        return {"detail": detail}
    if isinstance(detail, str):
        message = detail
    elif isinstance(detail, list) and detail and isinstance(detail[0], dict):
        message = str(detail[0].get("msg", "Validation failed"))
    else:
        message = "Request failed"
    return {"error": message, "detail": detail}


# -- lookups shared by several route modules -----------------------------------


def visible_model(call: Call, owner: str, name: str) -> Model:
    """The model if the caller may see it; private models of others are 404."""
    model = call.store.find_model(owner, name)
    if model is None or (
        model.visibility == "private" and model.owner_id != call.user.id
    ):
        raise ApiError(404, "Model not found")
    return model


def owned_model(call: Call, owner: str, name: str) -> Model:
    model = visible_model(call, owner, name)
    if model.owner_id != call.user.id:
        raise ApiError(403, "You do not own this model")
    return model


def path_int(call: Call, name: str) -> int:
    raw = call.request.match_info[name]
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            422,
            [
                {
                    "loc": ["path", name],
                    "msg": "Input should be a valid integer",
                    "type": "int_parsing",
                }
            ],
        ) from None
