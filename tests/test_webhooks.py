"""Webhook signatures: the official client's scheme, plus secret rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

import wriftai_async
from wriftai_async import WebhookVerificationError, WriftAIError
from wriftai_async.webhooks import (
    MAX_SIGNATURE_LENGTH,
    WebhookNoSignatureError,
    WebhookNoTimestampError,
    WebhookSignatureMismatchError,
    WebhookTimestampOutsideToleranceError,
    sign,
    verify,
)

# A fixed vector, written out; the digest was also accepted by the official
# ``wriftai.verify_webhook`` when this test was written.
PAYLOAD = b'{"id":"p-1","status":"succeeded","output":"caf\xc3\xa9"}'
SECRET = "whsec_s3cr3t-value"
TS = 1700000000
DIGEST = "0c0441da7ccc207289f3ab7da880228d92eea09e0ddd6c40b7f8637d4f97e435"
HEADER = f"t={TS},v1={DIGEST}"


def test_the_vector_is_hmac_sha256_of_timestamp_dot_payload():
    independent = hmac.new(
        SECRET.encode("utf-8"), f"{TS}.".encode() + PAYLOAD, hashlib.sha256
    ).hexdigest()
    assert independent == DIGEST
    assert sign(PAYLOAD, SECRET, timestamp=TS) == HEADER


def test_a_valid_signature_passes():
    assert verify(PAYLOAD, HEADER, SECRET, now=TS) is None
    # Other parts and order do not matter; within tolerance both ways.
    verify(PAYLOAD, f"v0=zz,v1={DIGEST},t={TS}", SECRET, now=TS + 300)
    verify(PAYLOAD, HEADER, SECRET, now=TS - 300)
    verify(PAYLOAD, HEADER, SECRET, now=TS + 3000, tolerance=3000)
    verify(PAYLOAD, f"t={TS},v2={DIGEST}", SECRET, now=TS, scheme="v2")
    verify(bytearray(PAYLOAD), HEADER, SECRET, now=TS)
    # Secret rotation: the sender signs with the old and the new secret; any
    # matching v1 passes (the official client checks only the first one).
    verify(PAYLOAD, f"t={TS},v1={'0' * 64},v1={DIGEST}", SECRET, now=TS)
    verify(PAYLOAD, f"t={TS},v1={DIGEST},v1={'0' * 64}", SECRET, now=TS)
    verify(PAYLOAD, f"t={TS},v1=,v1={DIGEST}", SECRET, now=TS)
    rotated = sign(PAYLOAD, "old-secret", timestamp=TS) + f",v1={DIGEST}"
    verify(PAYLOAD, rotated, SECRET, now=TS)
    verify(PAYLOAD, rotated, "old-secret", now=TS)
    # The real clock, with a signature made now.
    verify(b"{}", sign(b"{}", SECRET), SECRET)


@pytest.mark.parametrize(
    ("payload", "header", "secret"),
    [
        (PAYLOAD + b" ", HEADER, SECRET),  # body changed on the way
        (PAYLOAD.replace(b"p-1", b"p-2"), HEADER, SECRET),
        (PAYLOAD, HEADER, SECRET + "x"),  # wrong secret
        (PAYLOAD, f"t={TS},v1={DIGEST.upper()}", SECRET),  # hex is lowercase
        (PAYLOAD, f"t={TS},v1={DIGEST[:-1]}", SECRET),
        (PAYLOAD, f"t={TS},v1=\u00e9{DIGEST[1:]}", SECRET),  # not even ASCII
        # Several v1 signatures, none of them right.
        (PAYLOAD, f"t={TS},v1={'0' * 64},v1={'1' * 64}", SECRET),
        (PAYLOAD, f"t={TS},v1=\ud800,v1={DIGEST[:-1]}", SECRET),
        # The timestamp is signed: a replay with a fresh "t" does not pass.
        (PAYLOAD, f"t={TS + 1},v1={DIGEST}", SECRET),
    ],
)
def test_a_mismatch_is_rejected(payload, header, secret):
    with pytest.raises(WebhookSignatureMismatchError):
        verify(payload, header, secret, now=TS)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("", WebhookNoTimestampError),
        (f"v1={DIGEST}", WebhookNoTimestampError),
        (f"t,v1={DIGEST}", WebhookNoTimestampError),
        (f"t=soon,v1={DIGEST}", WebhookNoTimestampError),
        (f"t=,v1={DIGEST}", WebhookNoTimestampError),
        (f"t={TS}", WebhookNoSignatureError),
        (f"t={TS},v1=", WebhookNoSignatureError),
        (f"t={TS},v0={DIGEST}", WebhookNoSignatureError),
    ],
)
def test_missing_parts_are_rejected(header, error):
    with pytest.raises(error):
        verify(PAYLOAD, header, SECRET, now=TS)


@pytest.mark.parametrize("now", [TS + 301, TS - 301, TS + 10**6, 0.0])
def test_expired_and_future_timestamps_are_rejected(now):
    with pytest.raises(WebhookTimestampOutsideToleranceError):
        verify(PAYLOAD, HEADER, SECRET, now=now)
    # Checked before the signature, as in the official client.
    with pytest.raises(WebhookTimestampOutsideToleranceError):
        verify(PAYLOAD, f"t={TS},v1=00", SECRET, now=now)


def test_a_small_tolerance_applies():
    verify(PAYLOAD, HEADER, SECRET, now=TS + 5, tolerance=5)
    with pytest.raises(WebhookTimestampOutsideToleranceError):
        verify(PAYLOAD, HEADER, SECRET, now=TS + 6, tolerance=5)


def test_the_errors_form_one_family_and_never_show_the_secret():
    failures = []
    for header, secret, now in [
        ("", SECRET, TS),
        (f"t={TS}", SECRET, TS),
        (HEADER, SECRET, TS + 301),
        (HEADER, SECRET + "-wrong", TS),
        (HEADER, "x", TS),
    ]:
        with pytest.raises(WebhookVerificationError) as caught:
            verify(PAYLOAD, header, secret, now=now)
        failures.append(caught.value)
    assert len({type(e) for e in failures}) == 4
    for error in failures:
        assert isinstance(error, WriftAIError) and isinstance(error, ValueError)
        text = f"{error} {error!r}"
        assert text.strip() and SECRET not in text and "s3cr3t" not in text
        assert DIGEST not in text
    assert wriftai_async.WebhookVerificationError is WebhookVerificationError


def test_an_empty_secret_is_refused():
    # Anyone can compute a signature with an empty key: it proves nothing.
    for call in (
        lambda: verify(PAYLOAD, HEADER, "", now=TS),
        lambda: sign(PAYLOAD, ""),
    ):
        with pytest.raises(ValueError, match="secret must not be empty") as caught:
            call()
        assert not isinstance(caught.value, WebhookVerificationError)


def test_wrong_argument_types_are_type_errors():
    with pytest.raises(TypeError, match="bytes"):
        verify(PAYLOAD.decode(), HEADER, SECRET, now=TS)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="secret"):
        verify(PAYLOAD, HEADER, SECRET.encode(), now=TS)  # type: ignore[arg-type]


@pytest.mark.parametrize("header", [None, HEADER.encode(), 1700000000, ["t=1"]])
def test_a_missing_or_non_text_signature_is_a_verification_error(header):
    # What a handler gets from request.headers.get(...) when the header is
    # missing, or raw bytes from an ASGI scope: refuse the request (400),
    # never a TypeError (a 500 in a handler written like the README's).
    with pytest.raises(WebhookNoSignatureError) as caught:
        verify(PAYLOAD, header, SECRET, now=TS)  # type: ignore[arg-type]
    assert isinstance(caught.value, WebhookVerificationError)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    "timestamp",
    [
        "1_700_000_000",  # int() takes underscores
        "+1700000000",
        " 1700000000",
        "1700000000 ",
        "\u0661\u0667" + "\u0660" * 8,  # Arabic-Indic digits: int() takes them too
        "\uff11\uff17" + "\uff10" * 8,  # fullwidth digits
        "-1",
        "",
        "1" * 5000,
    ],
)
def test_only_ascii_digits_make_a_timestamp(timestamp):
    # Each is the same number to int(), so a valid signature with its t=
    # rewritten this way used to pass.
    header = f"t={timestamp},v1={DIGEST}"
    with pytest.raises(WebhookNoTimestampError) as caught:
        verify(PAYLOAD, header, SECRET, now=TS)
    assert len(str(caught.value)) < 200


def test_a_signature_header_longer_than_any_real_one_is_refused_unparsed():
    # A rotation's worth of valid parts passes; a megabyte of parts (84 MB
    # of parsing before) is refused by its length, even when it holds the
    # right signature.
    rotation = HEADER + "".join(f",v1={'0' * 64}" for _ in range(20))
    assert len(rotation) < MAX_SIGNATURE_LENGTH
    verify(PAYLOAD, rotation, SECRET, now=TS)
    flood = HEADER + ",v1=" * (1024 * 1024 // 4)
    with pytest.raises(WebhookNoSignatureError, match="characters long"):
        verify(PAYLOAD, flood, SECRET, now=TS)
