"""Request recording and fault injection, as one aiohttp server middleware.

Every request is recorded before anything else happens, including requests
that a fault then answers, so tests can count retries. Faults are consumed in
the order they were added: the first one whose method and path match the
request is used and its remaining count drops by one.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from .._repr import bounded_repr, shorten
from ._routing import PREFIX, AsyncHandler
from ._state import check_times, spend

#: A query (or fragment) in a fault's path, which a request path never has.
_QUERY = re.compile(r"\?[^/]*=|#")
FaultKind = Literal["status", "disconnect", "delay", "cut", "replay"]
#: Where a "cut" or "replay" fault leaves itself for the stream writer (a
#: typed request key where aiohttp has them, 3.13+; a plain one before).
STREAM_FAULT: Any = (
    web.RequestKey("wriftai_stream_fault", object)
    if hasattr(web, "RequestKey")
    else "wriftai_stream_fault"
)


#: Headers whose values a ``RecordedRequest``'s repr never shows.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_HIDDEN = "<hidden>"
#: The most characters of one field's value in a ``RecordedRequest``'s repr
#: (its headers get more): a 5 MB upload part is not a 5 MB repr.
_FIELD_REPR = 200
_HEADERS_REPR = 1000
#: Shorter credentials are not looked for elsewhere in the repr (a token
#: "t" would hide every "t"); the header itself is hidden all the same.
_SHORTEST_SECRET = 4


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as the emulator received it.

    Its repr (and str) is bounded in length and never shows the
    ``Authorization`` header's value, nor its credential anywhere else
    (a body, the URL): it ends up in assertion messages and CI logs.
    ``headers["Authorization"]`` still holds what was sent.
    """

    method: str
    #: The path without the ``/v1`` prefix, e.g. ``"/models/alice"``.
    path: str
    query: MultiDictProxy[str]
    headers: CIMultiDictProxy[str]
    #: The raw body (``b""`` when there was none).
    body: bytes
    #: The body parsed as JSON, or ``None`` if empty or not JSON.
    json: Any
    url: str
    #: Which fault answered it: ``"status"``, ``"disconnect"``, ``"delay"``,
    #: ``"cut"``, ``"replay"``, or ``None`` when the real handler did.
    fault: FaultKind | None
    #: ``time.monotonic()`` at arrival, for measuring back-off between retries.
    received_at: float

    def __repr__(self) -> str:
        secrets = self._secrets()
        room = max(map(len, secrets), default=0)
        headers = CIMultiDict(
            (name, _HIDDEN if name.lower() in _SECRET_HEADERS else value)
            for name, value in self.headers.items()
        )
        fields = (
            ("method", self.method, _FIELD_REPR),
            ("path", self.path, _FIELD_REPR),
            ("query", self.query, _FIELD_REPR),
            ("headers", headers, _HEADERS_REPR),
            ("body", self.body, _FIELD_REPR),
            ("json", self.json, _FIELD_REPR),
            ("url", self.url, _FIELD_REPR),
            ("fault", self.fault, _FIELD_REPR),
            ("received_at", self.received_at, _FIELD_REPR),
        )
        parts = []
        for name, value, limit in fields:
            # Rendered with room for a whole credential past the cut, so it
            # is replaced whole, never left as a prefix at the end.
            text = bounded_repr(value, limit + room)
            for secret in secrets:
                text = text.replace(secret, _HIDDEN)
            parts.append(f"{name}={shorten(text, limit)}")
        return f"RecordedRequest({', '.join(parts)})"

    def _secrets(self) -> list[str]:
        """What the secret headers carry, credential alone and whole value."""
        found: set[str] = set()
        for name, value in self.headers.items():
            if name.lower() in _SECRET_HEADERS:
                found.add(value)
                found.add(value.partition(" ")[2].strip())  # "Bearer <token>"
        # Longest first: the whole value goes before the token inside it.
        return sorted((s for s in found if len(s) >= _SHORTEST_SECRET), key=len)[::-1]


@dataclass
class Fault:
    """An injected behaviour; ``remaining`` is ``None`` for "until cleared"."""

    kind: FaultKind
    remaining: int | None
    method: str | None = None
    path: str | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    seconds: float = 0.0
    #: For a "cut": how many events the stream sends before it breaks...
    events: int = 0
    #: For a 429 given no rate-limit header: ``x-ratelimit-reset`` is sent
    #: as the Unix time this many seconds after each answer.
    reset_after: float | None = None
    #: ... or, when set, how many bytes of its body (any offset: mid-line,
    #: mid-event).
    cut_bytes: int | None = None
    #: How many requests this fault has answered so far.
    hits: int = 0

    def __post_init__(self) -> None:
        # Refused: a count that would answer once all the same, and a path
        # that could never match, which left a test's fault silently unused.
        check_times(self.remaining)
        # Accept "/v1/user" as well as "/user": recorded paths drop the prefix.
        if self.path is not None:
            # "?" alone is fnmatch's one character; "?name=" is a query.
            if not self.path.startswith("/") or _QUERY.search(self.path):
                raise ValueError(
                    "path is matched against the request's path alone, with or "
                    'without /v1 ("/models/alice", "/predictions/*"), not '
                    f"{self.path!r}: check the query in emu.requests instead"
                )
            self.path = strip_prefix(self.path)
        if self.method is not None:
            self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request (its method and path)."""
        if self.method is not None and self.method != method:
            return False
        # fnmatchcase: "/models/*" matches any sub-path, a plain path is exact.
        return self.path is None or fnmatch.fnmatchcase(path, self.path)


def encode_body(
    status: int,
    body: bytes | str | dict[str, Any] | list[Any] | None,
    headers: dict[str, str],
    content_type: str | None,
    new_style: bool = False,
) -> tuple[bytes, dict[str, str]]:
    """Turn a user-facing ``inject(body=...)`` into bytes plus headers."""
    headers = dict(headers)
    has_type = any(k.lower() == "content-type" for k in headers)
    if body is None:
        message = f"Injected fault (HTTP {status})"
        if status < 400:
            body = b""
        elif new_style:  # the error shape of the dialect, see error_body
            body = {"error": message, "detail": message}
        else:
            body = {"detail": message}
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        default_type = "application/json"
    elif isinstance(body, str):
        data = body.encode()
        default_type = "text/plain; charset=utf-8"
    else:
        data = body
        default_type = "application/octet-stream"
    if content_type is not None:
        headers["Content-Type"] = content_type
    elif data and not has_type:
        headers["Content-Type"] = default_type
    return data, headers


class FaultQueue:
    """Thread-safe: tests add faults from the main thread in threaded mode."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    return spend(self._faults, fault)
        return None


def strip_prefix(path: str) -> str:
    if path == PREFIX or path.startswith(PREFIX + "/"):
        return path[len(PREFIX) :] or "/"
    return path


def _parse_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def make_middleware(
    requests: list[RecordedRequest],
    faults: FaultQueue,
    record: Callable[[], bool] | None = None,
) -> Any:  # aiohttp's middleware type is not exported in a typed form
    @web.middleware
    async def record_and_inject(
        request: web.Request, handler: AsyncHandler
    ) -> web.StreamResponse:
        received_at = time.monotonic()
        path = strip_prefix(request.path)
        too_large: web.StreamResponse | None = None
        fault: Fault | None = None
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            # The API's error shape, not aiohttp's plain-text page.
            too_large = web.json_response({"detail": exc.text}, status=exc.status)
            body = b""
        else:
            fault = faults.take(request.method, path)
        if record is None or record():
            requests.append(
                RecordedRequest(
                    method=request.method,
                    path=path,
                    query=MultiDictProxy(MultiDict(request.query)),
                    headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                    body=body,
                    json=_parse_json(body),
                    url=str(request.url),
                    fault=fault.kind if fault else None,
                    received_at=received_at,
                )
            )
        if too_large is not None:
            return too_large
        if fault is None:
            return await handler(request)
        if fault.kind in ("cut", "replay"):
            request[STREAM_FAULT] = fault  # the stream writer applies it
            return await handler(request)
        if fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
            return await handler(request)
        if fault.kind == "disconnect":
            if request.transport is not None:
                request.transport.abort()
            # Writing this to the aborted transport fails with a
            # ConnectionError, which aiohttp treats as a client disconnect
            # and handles quietly; nothing reaches the client.
            return web.Response(status=500)
        headers = fault.headers
        if fault.reset_after is not None:
            reset = f"{time.time() + fault.reset_after:.3f}"
            headers = {**headers, "x-ratelimit-reset": reset}
        return web.Response(status=fault.status, body=fault.body, headers=headers)

    return record_and_inject
