"""The ``Emulator``: lifecycle, the Python seeding API, and the thread runner.

Seeding methods are synchronous and return the object as the API would render
it (in the emulator's style), so a test can take ids from them. They may be
called before ``start()`` and, in threaded mode, from the test's own thread
while the server runs: the store lock makes each call atomic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, NoReturn

from aiohttp import web
from yarl import URL

from .._checks import check_number
from .._portal import serve_on_loop
from .._repr import bounded_repr
from .._urls import origin_key
from . import _handlers, _predictions, _uploads, _variables
from ._budget import Budget, make_budget_middleware
from ._faults import (
    Fault,
    FaultQueue,
    RecordedRequest,
    encode_body,
    make_middleware,
)
from ._records import TERMINAL_STATUSES, Transition
from ._render import Renderer
from ._routing import STORE_KEY, WEBHOOKS_KEY, error_middleware
from ._seed import seed_emulator
from ._state import Outcome, Settings, Store, Style, check_times
from ._webhooks import WebhookDelivery, WebhookSender

_HOST = "127.0.0.1"
# In-flight handlers (a held ``Prefer: wait`` answer, an injected delay) get
# this long to finish when the emulator closes; then they are cancelled.
_SHUTDOWN_TIMEOUT = 0.25
_BODY_SLACK = 64 * 1024
#: The most characters of one field in an ``Emulator``'s repr.
_REPR_FIELD = 200


def _detached(rendered: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a rendered object, for a caller to keep or change.

    The renderer shares lists and dicts with the store (a version's
    ``schemas``, a prediction's ``input`` and ``output``): handed out as they
    are, a test that changed the dict it got back changed what the server
    answered from then on.
    """
    return copy.deepcopy(rendered)


async def stop_accepting(sock: socket.socket) -> None:
    """Stop accepting on a listening socket, before its server is closed.

    asyncio accepts a connection in one loop iteration and builds its
    transport in the next. If ``Server.close()`` runs in between, the closed
    server refuses the transport (an ``AssertionError``, a ``TypeError`` on
    3.13, which asyncio swallows) and the accepted socket is never closed:
    "unclosed transport" at a later garbage collection, on every Python from
    3.10 to 3.13 (seen as a failure in whichever test came next). Unhooking
    the listening socket first, then one loop iteration, lets each connection
    already accepted join the still-open server, whose shutdown closes it.
    """
    loop = asyncio.get_running_loop()
    # Loops without readers (the proactor) have no such race.
    with contextlib.suppress(NotImplementedError, OSError, ValueError):
        loop.remove_reader(sock.fileno())
    await asyncio.sleep(0)


class Emulator:
    """A local WriftAI API server holding its state in memory.

    Use ``async with Emulator() as emu:`` in async code, or
    ``with Emulator().run_in_thread() as emu:`` anywhere.

    Args:
        style: the dialect. ``"new"`` (the default) is what the official
            ``wriftai`` 0.34 client reads and sends; ``"old"`` is the older
            servers' (``username``, ``next_url``, 204 deletes, required
            ``hardware_identifier``, ...), for compatibility tests.
        seed: start with the data set of ``_seed`` (users, models,
            predictions in every status, a variable); ``False``: empty.
        cancel_delay, prediction_duration: seconds until a cancel takes
            effect, and that a prediction created over HTTP runs (each a
            finite number >= 0, as is ``max_prefer_wait``: a wrong type is a
            ``TypeError``, a negative, NaN or infinite one a ``ValueError``).
        already_terminated_status: the answer to cancelling a finished one.
        max_prefer_wait: the longest ``Prefer: wait`` hold, and the idle
            time of event streams whose request names none.
        upload_part_size: bytes per upload part; requests may be that large.
        host, port: where to listen (port 0: a free one).
        record_requests: keep every request in ``requests`` (turn off for a
            long-running server).
        webhook_attempts, webhook_retry_delay: a webhook delivery is tried
            this many times in all, the first retry after this many seconds,
            then twice as long each time (see ``webhook_deliveries``).
        budget: N requests per second per token; past it a 429 with
            ``x-ratelimit-reset`` (the end of the one-second window), as the
            service does. ``self.budget`` counts what it accepted and refused.
            A :class:`Budget` may be given instead (a test's own clock);
            ``None`` (the default): no limit.
        ssl_context: serve over TLS with this server context (its
            certificate for ``127.0.0.1``, signed by a test CA of yours):
            ``base_url`` and the upload URLs are then ``https://``, to test
            a client built with ``ssl=`` (README, "Your own certificate
            authority"). ``None`` (the default): plain HTTP.
    """

    def __init__(
        self,
        *,
        access_token: str = "test-token",
        username: str = "alice",
        style: Style = "new",
        seed: bool = True,
        cancel_delay: float = 0.5,
        prediction_duration: float = 2.0,
        already_terminated_status: int = 409,
        default_page_size: int = 20,
        max_prefer_wait: float = 60.0,
        upload_part_size: int = 5 * 1024 * 1024,
        port: int = 0,
        host: str = _HOST,
        record_requests: bool = True,
        webhook_attempts: int = 4,
        webhook_retry_delay: float = 0.5,
        budget: int | Budget | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext (a server's)")
        # Checked here, not when first used: a NaN reached the store's clock
        # arithmetic (a prediction that never ended, a cancel never taking
        # effect) and "2" a TypeError in a request handler (a 500).
        cancel_delay = check_number(cancel_delay, "cancel_delay", zero=True)
        prediction_duration = check_number(
            prediction_duration, "prediction_duration", zero=True
        )
        max_prefer_wait = check_number(max_prefer_wait, "max_prefer_wait", zero=True)
        if style not in ("old", "new"):
            raise ValueError(f"style must be 'old' or 'new', not {style!r}")
        if not 400 <= already_terminated_status < 500:
            raise ValueError("already_terminated_status must be a 4xx status")
        if not 1 <= default_page_size <= 100:
            raise ValueError("default_page_size must be between 1 and 100")
        if upload_part_size < 1:
            raise ValueError("upload_part_size must be >= 1")
        if webhook_attempts < 1:
            raise ValueError("webhook_attempts must be >= 1")
        if webhook_retry_delay < 0:
            raise ValueError("webhook_retry_delay must be >= 0")
        self._store = Store(
            Settings(
                style=style,
                access_token=access_token,
                username=username,
                cancel_delay=cancel_delay,
                prediction_duration=prediction_duration,
                already_terminated_status=already_terminated_status,
                default_page_size=default_page_size,
                max_prefer_wait=max_prefer_wait,
                upload_part_size=upload_part_size,
            )
        )
        self._render = Renderer(self._store)
        self._webhooks = WebhookSender(
            self._store, self._render, webhook_attempts, webhook_retry_delay
        )
        self._faults = FaultQueue()
        self._port = port
        self._host = host
        self._ssl_context = ssl_context
        self.record_requests = record_requests
        #: The budget mode's counters (``None`` without a budget).
        self.budget: Budget | None = (
            budget if budget is None or isinstance(budget, Budget) else Budget(budget)
        )
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None
        self._not_served: Callable[[], None] | None = None
        self._base_url: str | None = None
        #: Every request received, oldest first (including fault-answered ones).
        self.requests: list[RecordedRequest] = []
        with self._store.lock:
            if seed:
                seed_emulator(self)
            self._store.ensure_user(username)
            self._store.tokens[access_token] = username

    def __repr__(self) -> str:
        # Never the token; the username bounded (any str a test gave).
        settings = self._store.settings
        # No lock: a repr (a debugger, a log line) must never wait for one.
        username = self._store.tokens.get(settings.access_token, settings.username)
        return (
            f"Emulator(style={settings.style!r}, "
            f"username={bounded_repr(username, _REPR_FIELD)}, "
            f"base_url={bounded_repr(self._base_url, _REPR_FIELD)}, "
            f"requests={len(self.requests)})"
        )

    # -- identity --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (``https`` with ``ssl_context``); only
        known once started."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not running")
        return self._base_url

    @property
    def access_token(self) -> str:
        return self._store.settings.access_token

    @property
    def username(self) -> str:
        """The user that ``access_token`` authenticates as (renames follow)."""
        with self._store.lock:
            return self._store.tokens.get(
                self.access_token, self._store.settings.username
            )

    @property
    def style(self) -> Style:
        return self._store.settings.style

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on this event loop (``async with`` does it)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        recorder = make_middleware(
            self.requests, self._faults, lambda: self.record_requests
        )
        middlewares = [recorder, error_middleware]
        if self.budget is not None:  # recorded first, then counted
            middlewares.insert(1, make_budget_middleware(self.budget))
        app = web.Application(
            middlewares=middlewares,
            # A whole upload part must fit in one request (aiohttp's default
            # of 1 MiB refused every part of a bigger file); the slack is for
            # JSON bodies of the same order.
            client_max_size=max(self._store.settings.upload_part_size, 1 << 20)
            + _BODY_SLACK,
        )
        app[STORE_KEY] = self._store
        app[WEBHOOKS_KEY] = self._webhooks
        _handlers.routes.install(app, _predictions.hold)
        _variables.routes.install(app, _predictions.hold)
        _predictions.install(app)
        _uploads.install(app, _predictions.hold)
        # handler_cancellation: a client that hangs up mid-``Prefer: wait``
        # should not keep a handler (and shutdown) waiting.
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if os.name == "posix":
                # Restart at once on the same port: the connections the last
                # run closed sit in TIME_WAIT for a minute, and without this
                # the bind fails with "Address already in use". (POSIX only,
                # as asyncio's create_server: on Windows it would let two
                # servers share the port.)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self._host, self._port))
            except OSError as exc:
                # The bare "[Errno 98] Address already in use" names neither
                # the address nor the usual cause (a fixed port shared by two
                # pytest-xdist workers, or a server still running).
                raise OSError(
                    exc.errno,
                    f"the emulator cannot listen on {self._host}:{self._port}: "
                    f"{exc.strerror} (port=0, the default, picks a free port: "
                    "each test process needs its own)",
                ) from exc
            await runner.setup()
            await web.SockSite(runner, sock, ssl_context=self._ssl_context).start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner, self._sock = runner, sock
        host = self._host if ":" not in self._host else f"[{self._host}]"
        scheme = "http" if self._ssl_context is None else "https"
        port = sock.getsockname()[1]
        self._base_url = f"{scheme}://{host}:{port}/v1"
        # A sync Client called on this loop's thread could never be answered:
        # it is told so at once instead of timing out (see _portal).
        self._not_served = serve_on_loop(
            asyncio.get_running_loop(), origin_key(URL(self._base_url))
        )

    async def close(self) -> None:
        """Stop serving and release the socket; safe to call twice."""
        runner, sock = self._runner, self._sock
        self._runner = self._sock = self._base_url = None
        not_served, self._not_served = self._not_served, None
        if not_served is not None:
            not_served()
        await self._webhooks.close()
        if runner is not None:
            if sock is not None:
                await stop_accepting(sock)
            await runner.cleanup()
        if sock is not None:
            sock.close()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __enter__(self) -> NoReturn:
        raise TypeError(
            "Emulator serves from an event loop: use `async with Emulator() as "
            "emu:` in async code, or `with Emulator().run_in_thread() as emu:` "
            "(its own thread) in sync code"
        )

    def __exit__(self, *exc_info: object) -> None:
        """Never reached (``__enter__`` refuses); ``with`` needs both."""

    def run_in_thread(self) -> ThreadedEmulator:
        """A context manager serving this emulator from a private loop thread."""
        return ThreadedEmulator(self)

    # -- seeding ---------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        display_name: str | None = None,
        avatar_url: str | None = None,
        bio: str | None = None,
        urls: Sequence[str] | None = None,
        location: str | None = None,
        company: str | None = None,
        created_at: datetime | str | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """Add a user; with ``token``, that bearer token authenticates as them."""
        with self._store.lock:
            user = self._store.add_user(
                username,
                display_name=display_name,
                avatar_url=avatar_url,
                bio=bio,
                urls=urls,
                location=location,
                company=company,
                created_at=created_at,
                token=token,
            )
            return _detached(self._render.user(user, details=True))

    def add_hardware(
        self,
        identifier: str,
        name: str | None = None,
        *,
        gpus: int = 0,
        cpus: int = 4,
        ram_per_gpu_gb: int = 0,
        ram_gb: int = 16,
        description: str | None = None,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a hardware option (``GET /hardware`` lists it)."""
        with self._store.lock:
            item = self._store.add_hardware(
                identifier,
                name,
                gpus=gpus,
                cpus=cpus,
                ram_per_gpu_gb=ram_per_gpu_gb,
                ram_gb=ram_gb,
                description=description,
                created_at=created_at,
            )
            return _detached(self._render.hardware(item))

    def add_category(
        self, slug: str, name: str | None = None, *, description: str | None = None
    ) -> dict[str, Any]:
        """Add a model category (``GET /model_categories`` lists it)."""
        with self._store.lock:
            category = self._store.add_category(slug, name, description)
            return _detached(self._render.category(category, details=True))

    def add_model(
        self,
        owner: str,
        name: str,
        *,
        visibility: str = "public",
        description: str | None = None,
        overview: str | None = None,
        hardware_identifier: str = "cpu",
        categories: Sequence[str] = (),
        predictions_count: int = 0,
        source_url: str | None = None,
        license_url: str | None = None,
        paper_url: str | None = None,
        cover_image_url: str | None = None,
        created_at: datetime | str | None = None,
        updated_at: datetime | str | None = None,
        versions: int = 0,
    ) -> dict[str, Any]:
        """Add a model (with ``versions`` default versions).

        A missing owner, hardware item or category is created on the fly, so
        a test can write ``add_model("zoe", "m")`` on an empty emulator.
        """
        store = self._store
        with store.lock:
            created = store.seed_time(created_at)
            model = store.add_model(
                store.ensure_user(owner),
                name,
                hardware_identifier=store.ensure_hardware(
                    hardware_identifier
                ).identifier,
                created_at=created,
                updated_at=store.seed_time(updated_at) if updated_at else None,
                visibility=visibility,
                description=description,
                overview=overview,
                category_slugs=[store.ensure_category(c).slug for c in categories],
                predictions_count=predictions_count,
                source_url=source_url,
                license_url=license_url,
                paper_url=paper_url,
                cover_image_url=cover_image_url,
            )
            for _ in range(versions):
                store.add_version(model, created_at=store.seed_time())
            return _detached(self._render.model(model, details=True))

    def add_version(
        self,
        model: str,
        *,
        release_notes: str = "",
        schemas: Mapping[str, Any] | None = None,
        container_image_digest: str | None = None,
        created_at: datetime | str | None = None,
        variable_names: Sequence[str] = (),
        compatibilities: Mapping[str, bool] | None = None,
    ) -> dict[str, Any]:
        """Add the next version of ``model`` (``"owner/name"``).

        ``variable_names`` are those of its configuration (variables of the
        model's owner; not checked here); ``compatibilities`` sets some of
        its flags (the others stay ``False``).
        """
        with self._store.lock:
            found = self._find_model(model)
            version = self._store.add_version(
                found,
                release_notes=release_notes,
                schemas=schemas,
                container_image_digest=container_image_digest,
                created_at=self._store.seed_time(created_at),
            )
            version.variable_names = list(variable_names)
            version.compatibilities.update(compatibilities or {})
            return _detached(self._render.version(found, version, details=True))

    def add_prediction(
        self,
        model: str,
        *,
        owner: str | None = None,
        version: int | None = None,
        status: str = "succeeded",
        input: Mapping[str, Any] | None = None,
        output: Any = None,
        error: Mapping[str, Any] | None = None,
        logs: Sequence[str] | None = None,
        setup_time: str | None = None,
        execution_time: str | None = None,
        finish_after: float | None = None,
        final_status: str = "succeeded",
        created_at: datetime | str | None = None,
        id: str | None = None,
        stream: bool = True,
    ) -> dict[str, Any]:
        """Add a prediction of ``model`` (``"owner/name"``) owned by ``owner``.

        A terminal ``status`` takes ``output``/``error`` as they are. A running
        one can finish by itself: ``finish_after`` seconds from now it becomes
        ``final_status`` with ``output`` (or ``error``). Without
        ``finish_after`` it runs until cancelled. Unlike a prediction created
        over HTTP, this does not change the model's ``predictions_count``.
        ``stream`` says whether it can be streamed (as if created with
        ``"stream": true``); ``GET .../stream`` answers 404 for one that
        cannot.
        """
        store = self._store
        with store.lock:
            found = self._find_model(model)
            if version is None:
                latest = found.latest_version
                version = latest.number if latest else None
            terminal = status in TERMINAL_STATUSES
            created = store.seed_time(created_at)
            prediction = store.add_prediction(
                owner=store.ensure_user(owner or self.username),
                model=found,
                version_number=version,
                status=status,
                created_at=created,
                input=input,
                output=copy.deepcopy(output) if terminal else None,
                error=error if terminal else None,
                logs=logs,
                setup_time=setup_time,
                execution_time=execution_time,
                id=id,
            )
            prediction.stream = stream
            if status == "started":
                prediction.started_at = created
            if finish_after is not None and not terminal:
                prediction.schedule(
                    Transition(
                        time.monotonic() + finish_after,
                        final_status,
                        output=copy.deepcopy(output),
                        error=dict(error) if error is not None else None,
                    )
                )
            return _detached(self._render.prediction(prediction, details=True))

    def add_many_users(
        self, n: int, *, prefix: str = "user", models_per_user: int = 0
    ) -> list[str]:
        """Add ``n`` users (``user-0000``, ...), each with some public models."""
        names = [f"{prefix}-{i:04d}" for i in range(n)]
        with self._store.lock:
            for name in names:
                self._store.add_user(name)
                self.add_many_models(name, models_per_user)
        return names

    def add_many_models(
        self, owner: str, n: int, *, prefix: str = "model", visibility: str = "public"
    ) -> list[str]:
        """Add ``n`` models to ``owner`` quickly; every fourth has no predictions."""
        store = self._store
        names = [f"{prefix}-{i:04d}" for i in range(n)]
        with store.lock:
            user = store.ensure_user(owner)
            hardware = store.ensure_hardware("cpu").identifier
            for i, name in enumerate(names):
                store.add_model(
                    user,
                    name,
                    hardware_identifier=hardware,
                    created_at=store.seed_time(),
                    visibility=visibility,
                    predictions_count=0 if i % 4 == 0 else (i * 37) % 101 + 1,
                )
        return names

    def add_variable(
        self,
        name: str,
        key: str,
        value: str,
        *,
        secret: bool = False,
        owner: str | None = None,
        created_at: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Add a variable of ``owner`` (default: the token's user)."""
        store = self._store
        with store.lock:
            variable = store.add_variable(
                store.ensure_user(owner or self.username),
                name,
                key,
                value,
                secret=secret,
                created_at=store.seed_time(created_at),
            )
            return _detached(self._render.variable(variable))

    # -- inspection ------------------------------------------------------------

    def get_model(self, owner: str, name: str) -> dict[str, Any]:
        """The model as the API renders it; ``KeyError`` if there is none."""
        with self._store.lock:
            return _detached(
                self._render.model(self._find_model(f"{owner}/{name}"), details=True)
            )

    def get_prediction(self, prediction_id: str) -> dict[str, Any]:
        """The prediction with its current (lazily advanced) status."""
        with self._store.lock:
            prediction = self._store.get_prediction(prediction_id)
            if prediction is None:
                raise KeyError(prediction_id)
            return _detached(self._render.prediction(prediction, details=True))

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook call made so far, oldest first (a snapshot).

        One per prediction created with a webhook, once it has ended and the
        call was delivered (a 2xx) or given up after ``webhook_attempts``.
        Check the signature of one with
        ``wriftai_async.webhooks.verify(d.body, d.signature, secret)``.
        """
        return self._webhooks.deliveries

    @property
    def open_streams(self) -> int:
        """How many ``/predictions/{id}/stream`` answers are being written now.

        Drops back when a client hangs up, so a test can check that breaking
        out of a stream really closed its connection.
        """
        with self._store.lock:
            return self._store.open_streams

    def _find_model(self, ref: str) -> Any:
        owner, _, name = ref.partition("/")
        model = self._store.find_model(owner, name)
        if model is None:
            raise KeyError(f"no model {ref!r}")
        return model

    # -- faults ----------------------------------------------------------------

    def inject(
        self,
        status: int = 500,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | dict[str, Any] | list[Any] | None = None,
        content_type: str | None = None,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching requests with this response.

        ``path`` is matched without the ``/v1`` prefix, exactly or as an
        ``fnmatch`` pattern (``"/predictions/*"``). ``body=None`` sends the
        dialect's JSON error body (``{"error", "detail"}``, or ``{"detail"}``
        in the old one); ``b""`` sends nothing. ``times=None`` keeps
        answering until ``clear_faults()``; a count below 1 is refused.

        A 429 carries what the service sends with one: ``x-ratelimit-reset``,
        the Unix time one second after each answer, unless ``headers`` has
        its own ``x-ratelimit-reset`` or ``Retry-After``.
        """
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if not 100 <= status <= 599:
            # aiohttp would send 600 and up all the same, which no client
            # or proxy reads as an HTTP status.
            raise ValueError(f"status must be an HTTP status 100..599, not {status!r}")
        given = dict(headers or {})
        data, all_headers = encode_body(
            status, body, given, content_type, new_style=self.style == "new"
        )
        named = {name.lower() for name in given}
        reset_after = None
        if status == 429 and not named & {"x-ratelimit-reset", "retry-after"}:
            reset_after = 1.0
        return self._faults.add(
            Fault(
                kind="status",
                remaining=times,
                method=method,
                path=path,
                status=status,
                headers=all_headers,
                body=data,
                reset_after=reset_after,
            )
        )

    def inject_disconnect(
        self,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Close the connection without answering the next matching requests."""
        return self._faults.add(
            Fault(kind="disconnect", remaining=times, method=method, path=path)
        )

    def inject_delay(
        self,
        seconds: float,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Hold the next matching requests ``seconds`` before answering normally."""
        return self._faults.add(
            Fault(
                kind="delay", remaining=times, method=method, path=path, seconds=seconds
            )
        )

    def inject_stream_cut(
        self,
        after_events: int | None = None,
        *,
        after_bytes: int | None = None,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        """Break the next matching event streams after ``after_events`` events.

        Or after ``after_bytes`` bytes of the body, wherever that falls: in
        the middle of a line or of an event. The connection is aborted, as a
        network failure would, so a test can check that a client resumes
        without losing or repeating an event. Matches the stream routes
        (``GET /predictions/*/stream``, and ``POST /predictions`` with
        ``"stream": true``); other requests it matches are answered
        normally. A stream that ends (its terminal event sent) before the
        cut is not broken.
        """
        if (after_events is None) == (after_bytes is None):
            raise ValueError("give one of after_events and after_bytes")
        if (after_events or 0) < 0 or (after_bytes or 0) < 0:
            raise ValueError("after_events and after_bytes must be >= 0")
        return self._faults.add(
            Fault(
                kind="cut",
                remaining=times,
                method=method,
                path=path,
                events=after_events or 0,
                cut_bytes=after_bytes,
            )
        )

    def inject_stream_replay(
        self,
        *,
        times: int | None = 1,
        method: str | None = "GET",
        path: str | None = "/predictions/*/stream",
    ) -> Fault:
        """Serve the next matching event streams from their first event.

        The ``after_id`` of the request is ignored, as a server that lost
        track of it would: a client must not repeat the events it has.
        """
        return self._faults.add(
            Fault(kind="replay", remaining=times, method=method, path=path)
        )

    def inject_outcome(
        self,
        status: str = "failed",
        *,
        error: Mapping[str, Any] | None = None,
        output: Any = None,
        times: int | None = 1,
        model: str | None = None,
    ) -> Outcome:
        """End the next ``times`` predictions created over HTTP with ``status``.

        Without it, every prediction created over HTTP succeeds, its
        ``output`` a copy of its ``input``; with it, a test can see its code
        handle a failed (or cancelled, or ``abandoned``) one, or a given
        output. The prediction runs as any other (``prediction_duration``,
        its input streamed word by word) and ends this way instead.
        ``error`` defaults, for ``"failed"``, to ``{"source": "internal",
        "message": "Injected failure", "detail": None}``. ``model``
        (``"owner/name"``): only predictions of that model. ``times=None``:
        until ``clear_faults()``. ``hits`` on the returned ``Outcome``
        counts the predictions it ended.
        """
        if status not in TERMINAL_STATUSES:
            raise ValueError(
                f"status must be one of {sorted(TERMINAL_STATUSES)}, not {status!r}"
            )
        check_times(times)
        path: tuple[str, str] | None = None
        if model is not None:
            owner, _, name = model.partition("/")
            if not owner or not name or "/" in name:
                raise ValueError(f"model must be 'owner/name', not {model!r}")
            path = (owner, name)
        if error is None and status == "failed":
            error = {
                "source": "internal",
                "message": "Injected failure",
                "detail": None,
            }
        outcome = Outcome(
            status=status,
            output=copy.deepcopy(output),
            error=dict(error) if error is not None else None,
            remaining=times,
            model=path,
        )
        with self._store.lock:
            self._store.outcomes.append(outcome)
        return outcome

    def clear_faults(self) -> None:
        """Remove every fault and outcome added: back to normal answers."""
        self._faults.clear()
        with self._store.lock:
            self._store.outcomes.clear()


class ThreadedEmulator:
    """Runs an ``Emulator`` on its own event loop in a daemon thread.

    ``with Emulator().run_in_thread() as emu:`` yields the ``Emulator`` itself,
    started; leaving the block closes the server and joins the thread.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None

    def start(self) -> Emulator:
        """Start the thread and the server in it; return the ``Emulator``."""
        if self._thread is not None:
            raise RuntimeError("already started")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(ready),),
            name="wriftai-emulator",
            daemon=True,
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self.emulator

    async def _serve(self, ready: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.emulator.start()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            await self._stop.wait()
        finally:
            try:
                await self.emulator.close()
            except BaseException as exc:
                self._failure = exc

    def stop(self) -> None:
        """Close the server and join the thread (``with`` does it)."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        self._thread = None
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
