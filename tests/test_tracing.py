"""Traces: a span per attempt through OpenTelemetry, and ``trace_configs=``.

aiohttp sends ``on_request_start``/``on_request_end`` once per
``session.request()`` call, outside the client middlewares, so a
``TraceConfig`` (OpenTelemetry's aiohttp instrumentation included) sees one
request per call, retries inside it. When the program uses OpenTelemetry, the
retry middleware makes each attempt a CLIENT span of the global tracer
provider instead, with its own status and ``traceparent``; these tests check
both, and that an upload part's presigned query reaches neither.

The global provider can be set once per process: it is set here, once, with
a sampler that records only while a test of this file asks (every other
test's spans are dropped).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode

import wriftai_async
from tests.conftest import FAST_RETRY, make_client
from wriftai_async import AsyncClient, Client, RetryPolicy, ValidationError
from wriftai_async.testing import Emulator

SECRET = "sk-trace-secret-0123456789"


class _WhileRecording(Sampler):
    on = False

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, *args
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP
        return SamplingResult(decision, attributes)

    def get_description(self) -> str:
        return "while a test records"


_SAMPLER = _WhileRecording()
_EXPORTER = InMemorySpanExporter()
_PROVIDER = TracerProvider(sampler=_SAMPLER)
_PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans():
    """The program's OpenTelemetry set-up: the global provider, spans in memory."""
    if trace.get_tracer_provider() is not _PROVIDER:
        trace.set_tracer_provider(_PROVIDER)
    assert trace.get_tracer_provider() is _PROVIDER
    _EXPORTER.clear()
    _SAMPLER.on = True
    try:
        yield _EXPORTER
    finally:
        _SAMPLER.on = False
        _EXPORTER.clear()


@pytest.fixture
def instrumented(spans):
    """OpenTelemetry's aiohttp instrumentation too: one span per call."""
    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=_PROVIDER)
    try:
        yield spans
    finally:
        instrumentor.uninstrument()


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


def _finished(exporter, path, *, ours=True):
    """The CLIENT spans to ``path``: the attempts (``ours``) or aiohttp's calls."""
    found = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is SpanKind.CLIENT
        and _url(s).split("?")[0].endswith(path)
        and (s.instrumentation_scope.name == "wriftai_async") is ours
    ]
    return sorted(found, key=lambda s: s.start_time)


async def test_each_retry_attempt_is_its_own_span(spans, secret_emulator):
    emu = secret_emulator
    emu.inject(503, times=2, path="/models/alice/text-echo")
    tracer = _PROVIDER.get_tracer("test")
    with tracer.start_as_current_span("nightly-job") as job:
        async with AsyncClient(SECRET, emu.base_url, retry=FAST_RETRY) as client:
            model = await client.models.get("alice/text-echo")
    assert model.name == "text-echo"

    attempts = _finished(spans, "/v1/models/alice/text-echo")
    assert [_status(s) for s in attempts] == [503, 503, 200]
    assert [s.status.status_code for s in attempts] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    assert [s.attributes.get("http.request.resend_count") for s in attempts] == [
        None,
        1,
        2,
    ]
    for span in attempts:
        assert span.name == "GET" and _method(span) == "GET"
        assert _url(span) == emu.base_url + "/models/alice/text-echo"
        # Siblings under the caller's span: attempt 2 is no child of attempt 1.
        assert span.parent.span_id == job.get_span_context().span_id
    # Each attempt went out with its own span in the traceparent header.
    sent = [r.headers["traceparent"] for r in emu.requests]
    assert [h.split("-")[2] for h in sent] == [
        format(s.context.span_id, "016x") for s in attempts
    ]
    # The token is in no span: not in the URL, not in any attribute.
    for span in spans.get_finished_spans():
        assert SECRET not in repr(dict(span.attributes))


async def test_with_aiohttps_instrumentation_the_attempts_are_children_of_the_call(
    instrumented, secret_emulator
):
    emu = secret_emulator
    emu.inject(502, times=1, path="/user")
    async with AsyncClient(SECRET, emu.base_url, retry=FAST_RETRY) as client:
        await client.user.get()
    (call,) = _finished(instrumented, "/v1/user", ours=False)
    attempts = _finished(instrumented, "/v1/user")
    assert _status(call) == 200  # aiohttp's one request, its last answer
    assert [_status(s) for s in attempts] == [502, 200]
    assert all(s.parent.span_id == call.context.span_id for s in attempts)
    # The server saw each attempt's own span as its parent, not the call's.
    sent = [r.headers["traceparent"].split("-")[2] for r in emu.requests]
    assert sent == [format(s.context.span_id, "016x") for s in attempts]


async def test_a_broken_connection_is_a_failed_span_then_a_good_one(
    spans, secret_emulator
):
    secret_emulator.inject_disconnect(times=1, path="/users/alice")
    async with AsyncClient(
        SECRET, secret_emulator.base_url, retry=FAST_RETRY
    ) as client:
        await client.users.get("alice")
    first, second = _finished(spans, "/v1/users/alice")
    assert first.status.status_code is StatusCode.ERROR
    assert [e.name for e in first.events] == ["exception"]
    assert "ServerDisconnectedError" in first.events[0].attributes["exception.type"]
    assert first.attributes["error.type"] == "ServerDisconnectedError"
    assert _status(first) is None
    assert _status(second) == 200


async def test_a_request_without_retries_is_one_span(spans, secret_emulator):
    async with AsyncClient(
        SECRET, secret_emulator.base_url, retry=FAST_RETRY
    ) as client:
        with pytest.raises(ValidationError):
            await client.models.update("alice/text-echo", visibility="sideways")
    (span,) = _finished(spans, "/v1/models/alice/text-echo")
    assert _method(span) == "PATCH" and _status(span) == 422
    assert span.attributes["error.type"] == "422"


def test_the_sync_client_is_traced_too(spans, secret_emulator):
    secret_emulator.inject(500, times=1, path="/user")
    with Client(SECRET, secret_emulator.base_url, retry=FAST_RETRY) as client:
        client.user.get()
    assert [_status(s) for s in _finished(spans, "/v1/user")] == [500, 200]


def test_without_opentelemetry_imported_nothing_of_it_is(emulator):
    # The spans are made only through the modules the program imported.
    program = textwrap.dedent(f"""
        import asyncio, sys
        from wriftai_async import AsyncClient

        async def main():
            token, url = "{emulator.access_token}", "{emulator.base_url}"
            async with AsyncClient(token, url) as client:
                await client.user.get()

        asyncio.run(main())
        assert not [m for m in sys.modules if m.startswith("opentelemetry")]
    """)
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "traceparent" not in emulator.requests[-1].headers


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
async def test_trace_configs_see_one_request_per_call_as_aiohttp_defines(
    emulator, kind
):
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
    assert [r.path for r in emulator.requests] == ["/user", "/user"]
    assert recorder.events == [("start", "/v1/user"), ("end", 200)]


async def test_a_cancel_during_the_backoff_wait_ends_the_call_and_its_attempt(
    spans, emulator
):
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
        for _ in range(1000):  # at most ~10 s for the 429's span to end
            if _finished(spans, "/v1/user"):
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert recorder.events == [("start", "/v1/user"), ("exception", "CancelledError")]
    (attempt,) = _finished(spans, "/v1/user")  # the wait is no attempt
    assert _status(attempt) == 429
    assert len(emulator.requests) == 1


def test_trace_configs_must_be_trace_configs():
    with pytest.raises(TypeError, match="trace_configs"):
        AsyncClient("t", "http://127.0.0.1:9/v1", trace_configs=[object()])


@pytest.mark.parametrize("kind", ["async", "sync"])
async def test_upload_part_spans_hold_no_presigned_query(instrumented, emulator, kind):
    # Spans record each request's URL; an upload part's URL carries its
    # signature in the query (the emulator's is X-Signature, a real store's
    # X-Amz-Signature, X-Amz-Credential, ...).
    seen: list[str] = []

    async def on_start(session, ctx, params):
        seen.append(str(params.url))

    mine = aiohttp.TraceConfig()
    mine.on_request_start.append(on_start)
    emulator.inject(503, times=1, method="PUT", path="/_storage/*")  # 2 attempts
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
    finished = instrumented.get_finished_spans()
    calls = _finished(instrumented, "", ours=False)
    attempts = _finished(instrumented, "")
    put_calls = [s for s in calls if _method(s) == "PUT"]
    put_attempts = [s for s in attempts if _method(s) == "PUT"]
    assert put_calls and len(put_attempts) == len(put_calls) + 1 and signatures
    assert [_status(s) for s in put_attempts].count(503) == 1
    secrets = {sig.split("/")[0] for sig in signatures}  # sent as ...%2Fsig
    for span in finished:
        text = repr(dict(span.attributes)) + repr(span.events) + span.name
        assert not any(secret in text for secret in secrets), _url(span)
    for span in put_calls + put_attempts:
        assert "X-Signature=REDACTED" in _url(span)
    # A plain TraceConfig of the caller's gets the redacted URL too.
    parts = [url for url in seen if "/_storage/" in url]
    assert len(parts) == len(put_calls)
    assert all(url.endswith("?X-Signature=REDACTED") for url in parts)


def test_the_package_uses_no_private_aiohttp_api():
    # Per-attempt signals once came from a request's private ``_traces``, and
    # exceptions were rewritten through ``client_reqrep.RequestInfo``.
    root = Path(wriftai_async.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for private in ("._traces", "client_reqrep", ".send_request_", "RequestInfo"):
            assert private not in text, (path.name, private)


async def test_api_urls_reach_trace_configs_as_sent_after_an_upload(emulator):
    # The upload session redacts its trace configs' URLs; the API session's
    # own trace configs (the same objects) must not be redacted with it.
    seen: list[str] = []

    async def on_start(session, ctx, params):
        seen.append(str(params.url))

    mine = aiohttp.TraceConfig()
    mine.on_request_start.append(on_start)
    async with make_client("async", emulator, trace_configs=[mine]) as client:
        await client.files.upload(b"x" * 10, mime_type="text/plain")
        await client.request("GET", "/models/alice", params={"page_size": "1"})
    assert any(url.endswith("?X-Signature=REDACTED") for url in seen)
    assert seen[-1] == emulator.base_url + "/models/alice?page_size=1"
