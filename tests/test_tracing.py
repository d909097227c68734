"""Traces: OpenTelemetry's aiohttp instrumentation and ``trace_configs=``.

aiohttp sends ``on_request_start``/``on_request_end`` once per
``session.request()`` call, outside the client middlewares, so retries made
by our retry middleware would be one span with the last status. The retry
middleware reports each attempt on the request's traces instead; these tests
check that every attempt is a span of its own, with its own status, trace
context header and parent.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import FAST_RETRY, make_client
from wriftai_async import AsyncClient, Client, RetryPolicy, ValidationError
from wriftai_async.testing import Emulator

SECRET = "sk-trace-secret-0123456789"


@pytest.fixture
def spans():
    """OpenTelemetry's aiohttp instrumentation on, spans kept in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider, exporter
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@pytest.fixture
def secret_emulator():
    with Emulator(access_token=SECRET).run_in_thread() as emu:
        yield emu


# The instrumentation writes the older or the stable HTTP attribute names,
# depending on OTEL_SEMCONV_STABILITY_OPT_IN: read whichever is there.
def _attribute(span, old, new):
    return span.attributes.get(new, span.attributes.get(old))


def _url(span):
    return _attribute(span, "http.url", "url.full")


def _method(span):
    return _attribute(span, "http.method", "http.request.method")


def _status(span):
    return _attribute(span, "http.status_code", "http.response.status_code")


def _http_spans(exporter, path):
    found = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.CLIENT and _url(s).endswith(path)
    ]
    return sorted(found, key=lambda s: s.start_time)


async def test_each_retry_attempt_is_its_own_span(spans, secret_emulator):
    provider, exporter = spans
    emu = secret_emulator
    emu.inject(503, times=2, path="/models/alice/text-echo")
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("nightly-job") as job:
        async with AsyncClient(SECRET, emu.base_url, retry=FAST_RETRY) as client:
            model = await client.models.get("alice/text-echo")
    assert model.name == "text-echo"

    attempts = _http_spans(exporter, "/v1/models/alice/text-echo")
    assert [_status(s) for s in attempts] == [503, 503, 200]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    for span in attempts:
        assert _method(span) == "GET"
        assert _url(span) == emu.base_url + "/models/alice/text-echo"
        # Siblings under the caller's span: attempt 2 is no child of attempt 1.
        assert span.parent.span_id == job.get_span_context().span_id
        assert span.end_time is not None
    # Each attempt went out with its own span in the traceparent header.
    sent = [r.headers["traceparent"] for r in emu.requests]
    assert [h.split("-")[2] for h in sent] == [
        format(s.context.span_id, "016x") for s in attempts
    ]
    # The token is in no span: not in the URL, not in any attribute.
    for span in exporter.get_finished_spans():
        assert SECRET not in repr(dict(span.attributes))


async def test_a_broken_connection_is_a_failed_span_then_a_good_one(
    spans, secret_emulator
):
    _, exporter = spans
    secret_emulator.inject_disconnect(times=1, path="/users/alice")
    async with AsyncClient(
        SECRET, secret_emulator.base_url, retry=FAST_RETRY
    ) as client:
        await client.users.get("alice")
    first, second = _http_spans(exporter, "/v1/users/alice")
    assert first.status.status_code is StatusCode.ERROR
    assert [e.name for e in first.events] == ["exception"]
    assert "ServerDisconnectedError" in first.events[0].attributes["exception.type"]
    assert _status(first) is None
    assert _status(second) == 200


async def test_a_request_without_retries_is_one_span(spans, secret_emulator):
    _, exporter = spans
    async with AsyncClient(
        SECRET, secret_emulator.base_url, retry=FAST_RETRY
    ) as client:
        with pytest.raises(ValidationError):
            await client.models.update("alice/text-echo", visibility="sideways")
    (span,) = _http_spans(exporter, "/v1/models/alice/text-echo")
    assert _method(span) == "PATCH" and _status(span) == 422


def test_the_sync_client_is_traced_too(spans, secret_emulator):
    _, exporter = spans
    secret_emulator.inject(500, times=1, path="/user")
    with Client(SECRET, secret_emulator.base_url, retry=FAST_RETRY) as client:
        client.user.get()
    assert [_status(s) for s in _http_spans(exporter, "/v1/user")] == [500, 200]


class Recorder:
    """A plain aiohttp ``TraceConfig`` that writes down the request signals."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.answered = asyncio.Event()
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._start)
        self.config.on_request_end.append(self._end)
        self.config.on_request_exception.append(self._exception)

    async def _start(self, session, ctx, params):
        self.events.append(("start", params.url.path))

    async def _end(self, session, ctx, params):
        self.events.append(("end", params.response.status))
        self.answered.set()

    async def _exception(self, session, ctx, params):
        self.events.append(("exception", type(params.exception).__name__))


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_trace_configs_see_every_attempt(emulator, kind):
    recorder = Recorder()
    emulator.inject(502, times=1, path="/user")
    client = make_client(kind, emulator, trace_configs=[recorder.config])
    try:
        if kind == "async":
            await client.user.get()
        else:
            await asyncio.to_thread(client.user.get)
    finally:
        await client.aclose() if kind == "async" else client.close()
    assert recorder.events == [
        ("start", "/v1/user"),
        ("end", 502),
        ("start", "/v1/user"),
        ("end", 200),
    ]


async def test_a_cancel_during_the_backoff_wait_still_pairs_every_signal(emulator):
    recorder = Recorder()
    # A 429 with Retry-After: a wait of exactly 50 s (no jitter), cut short.
    emulator.inject(429, headers={"Retry-After": "50"}, times=1, path="/user")
    async with AsyncClient(
        emulator.access_token,
        emulator.base_url,
        retry=RetryPolicy(max_rate_limit_wait=100.0),
        trace_configs=[recorder.config],
    ) as client:
        task = asyncio.ensure_future(client.user.get())
        await recorder.answered.wait()  # the 429 is in: the wait has begun
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    kinds = [kind for kind, _ in recorder.events]
    assert kinds == ["start", "end", "start", "exception"]
    assert recorder.events[-1] == ("exception", "CancelledError")


def test_trace_configs_must_be_trace_configs():
    with pytest.raises(TypeError, match="trace_configs"):
        AsyncClient("t", "http://127.0.0.1:9/v1", trace_configs=[object()])


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_upload_part_spans_hold_no_presigned_query(spans, emulator, kind):
    # The README's instrumentation records each request's URL; an upload
    # part's URL carries its signature in the query (the emulator's is
    # X-Signature, a real store's X-Amz-Signature, X-Amz-Credential, ...).
    seen: list[str] = []

    async def on_start(session, ctx, params):
        seen.append(str(params.url))

    mine = aiohttp.TraceConfig()
    mine.on_request_start.append(on_start)
    _, exporter = spans
    emulator.inject(503, times=1, method="PUT", path="/_storage/*")  # 2 PUT spans
    client = make_client(kind, emulator, trace_configs=[mine])
    try:
        if kind == "async":
            await client.files.upload(b"x" * 300, mime_type="text/plain")
        else:
            await asyncio.to_thread(client.files.upload, b"x" * 300)
    finally:
        await client.aclose() if kind == "async" else client.close()
    signatures = {
        r.query["X-Signature"] for r in emulator.requests if r.method == "PUT"
    }
    puts = [s for s in exporter.get_finished_spans() if _method(s) == "PUT"]
    assert len(puts) >= 2 and signatures
    secrets = {sig.split("/")[0] for sig in signatures}  # sent as ...%2Fsig
    for span in exporter.get_finished_spans():
        text = repr(dict(span.attributes)) + repr(span.events) + span.name
        assert not any(secret in text for secret in secrets), _url(span)
    for span in puts:
        assert "X-Signature=REDACTED" in _url(span)
    assert [_status(s) for s in puts].count(503) == 1
    # A plain TraceConfig of the caller's gets the redacted URL too.
    parts = [url for url in seen if "/_storage/" in url]
    assert len(parts) >= 2
    assert all(url.endswith("?X-Signature=REDACTED") for url in parts)
