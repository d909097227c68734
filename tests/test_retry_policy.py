"""The retry decision, without a network: which failures are re-sent, and when."""

import email.utils

import aiohttp
import pytest

from wriftai_async import RetryPolicy
from wriftai_async._retry import parse_rate_limit_reset

POLICY = RetryPolicy(backoff_base=1.0, backoff_max=4.0, max_rate_limit_wait=30.0)


def test_backoff_is_full_jitter_within_the_growing_ceiling():
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)]:
        delays = [POLICY.backoff(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jitter spreads over the range


def test_429_waits_for_the_reset_header():
    wait = POLICY.after_response(
        "GET", 0, 429, {"x-ratelimit-reset": "1010"}, False, now=1000.0
    )
    assert wait == pytest.approx(10.0)


def test_429_reset_beyond_the_cap_gives_up():
    assert (
        POLICY.after_response(
            "GET", 0, 429, {"x-ratelimit-reset": "2000"}, False, now=1000.0
        )
        is None
    )


def test_429_retry_after_seconds_and_date():
    assert POLICY.after_response("POST", 0, 429, {"retry-after": "3"}, False) == 3.0
    date = email.utils.formatdate(1005.0, usegmt=True)
    assert parse_rate_limit_reset({"retry-after": date}, now=1000.0) == pytest.approx(
        5.0
    )
    assert parse_rate_limit_reset({"retry-after": "soon"}, now=1000.0) is None


def test_429_without_headers_backs_off():
    wait = POLICY.after_response("GET", 1, 429, {}, False)
    assert wait is not None and 0 <= wait <= 2.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_get_retries_transient_statuses(status):
    assert POLICY.after_response("GET", 0, status, {}, False) is not None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501])
def test_client_errors_are_final(status):
    assert POLICY.after_response("GET", 0, status, {}, True) is None


def test_post_is_retried_only_when_it_cannot_duplicate_work():
    assert POLICY.after_response("POST", 0, 503, {}, True) is not None
    assert POLICY.after_response("POST", 0, 503, {}, False) is None
    assert POLICY.after_response("POST", 0, 500, {}, True) is None
    assert POLICY.after_response("POST", 0, 502, {}, True) is None


def _connector_error():
    key = aiohttp.client_reqrep.ConnectionKey(
        "127.0.0.1", 1, False, True, None, None, None
    )
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))


def test_connection_refused_is_retried_for_every_method():
    assert POLICY.after_exception("POST", 0, _connector_error()) is not None
    assert POLICY.after_exception("GET", 0, _connector_error()) is not None


def test_dropped_connection_retries_get_but_not_post():
    exc = aiohttp.ServerDisconnectedError()
    assert POLICY.after_exception("GET", 0, exc) is not None
    assert POLICY.after_exception("PATCH", 0, exc) is not None
    assert POLICY.after_exception("POST", 0, exc) is None


def test_unknown_exceptions_are_not_retried():
    assert POLICY.after_exception("GET", 0, aiohttp.InvalidURL("x")) is None
