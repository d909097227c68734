"""Verify that a webhook request really comes from WriftAI.

The service signs each webhook delivery with the secret you gave when
creating the prediction. The signature travels as ``t=<unix time>,v1=<hex>``:
``v1`` is the hex HMAC-SHA256, keyed with the secret (UTF-8), of the timestamp
in decimal, a dot, and the raw request body, exactly as received. This is the
scheme of the official ``wriftai`` client's ``verify_webhook``, and
:func:`verify` accepts and rejects what that function does, with three
differences: it adds clear errors where that one lets a ``ValueError`` or
``TypeError`` escape; an empty secret is refused (``ValueError``: every
signature made with it would be forgeable); and a signature with several
``v1=`` parts passes when *any* of them matches (the official client checks
only the first, which breaks secret rotation, when the sender signs with the
old and the new secret at once).

Example::

    from wriftai_async.webhooks import verify
    from wriftai_async import WebhookVerificationError

    try:
        verify(raw_body, signature_header, secret)
    except WebhookVerificationError:
        ...  # answer 400 and ignore the request
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

from ._errors import WriftAIError

__all__ = [
    "MAX_SIGNATURE_LENGTH",
    "WebhookNoSignatureError",
    "WebhookNoTimestampError",
    "WebhookSignatureMismatchError",
    "WebhookTimestampOutsideToleranceError",
    "WebhookVerificationError",
    "sign",
    "verify",
]


class WebhookVerificationError(WriftAIError, ValueError):
    """The webhook request cannot be trusted; do not act on it.

    Also a ``ValueError``, like the official client's
    ``WebhookSignatureVerificationError``. Messages never include the secret
    or the expected signature.
    """


class WebhookNoTimestampError(WebhookVerificationError):
    """The signature has no ``t=<unix time>`` part (or it is not a number)."""


class WebhookNoSignatureError(WebhookVerificationError):
    """The signature has no non-empty part for the scheme (``v1=...``)."""


class WebhookSignatureMismatchError(WebhookVerificationError):
    """The signature is not the one the secret gives for this payload."""


class WebhookTimestampOutsideToleranceError(WebhookVerificationError):
    """The signature's timestamp is too far from now (a replay, or a bad clock)."""


# ASCII digits only: int() would also take "1_700", "+1700", " 1700 " and
# digits of other scripts. Twenty digits reach far past any real clock.
_TIMESTAMP = re.compile(r"[0-9]{1,20}")


def _parse(signature: str, scheme: str) -> tuple[int, list[str]]:
    """The timestamp and every non-empty signature of ``scheme``.

    Comma-separated ``key=value`` parts, as the official client reads them;
    the first ``t=`` wins."""
    parts = [item.split("=", 1) for item in signature.split(",")]
    timestamp = next((p[1] for p in parts if len(p) == 2 and p[0] == "t"), None)
    if timestamp is None:
        raise WebhookNoTimestampError("the signature has no timestamp ('t=...')")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookNoTimestampError(
            "the signature's timestamp ('t=...') is not a whole number in ASCII digits"
        )
    when = int(timestamp)
    found = [p[1] for p in parts if len(p) == 2 and p[0] == scheme and p[1]]
    if not found:
        raise WebhookNoSignatureError(
            f"the signature has no {scheme!r} signature ('{scheme}=...')"
        )
    return when, found


def _digest(payload: bytes, secret: str, timestamp: int) -> str:
    signed = b"%d." % timestamp + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def _check_types(payload: object, secret: object) -> bytes:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise TypeError(
            "payload must be the raw request body as bytes, "
            f"not {type(payload).__name__}"
        )
    if not isinstance(secret, str):
        raise TypeError(f"secret must be a str, not {type(secret).__name__}")
    if not secret:
        raise ValueError("secret must not be empty")
    return bytes(payload)


#: The longest signature header :func:`verify` parses: ``t=`` and one
#: ``v1=`` part take about 80 characters, a rotation a few more parts.
MAX_SIGNATURE_LENGTH = 8192


def verify(
    payload: bytes,
    signature: str | None,
    secret: str,
    *,
    tolerance: int = 300,
    now: float | None = None,
    scheme: str = "v1",
) -> None:
    """Check a webhook's signature; return ``None`` or raise.

    Args:
        payload: the raw request body, byte for byte (not re-encoded JSON).
        signature: the signature header's value, ``t=<unix time>,v1=<hex>``;
            with several ``v1=`` parts (during a secret rotation), any one
            that matches is enough. ``None`` (the header is missing),
            anything but a ``str``, or a value longer than
            :data:`MAX_SIGNATURE_LENGTH` raises
            :class:`WebhookNoSignatureError`.
        secret: the webhook secret (not empty).
        tolerance: how many seconds the timestamp may be from ``now``, either
            way (inclusive); protects against replayed requests.
        now: the current Unix time; ``None`` reads the clock (for tests).
        scheme: the signature's key in ``signature``.

    Raises:
        ValueError: ``secret`` is empty (a mistake of the caller, not a
            :class:`WebhookVerificationError`).
        WebhookNoTimestampError: no ``t=`` part of ASCII digits (``1_700``,
            ``+1700``, spaces or other scripts' digits are refused).
        WebhookNoSignatureError: no signature (``None``, not a ``str``), or
            no non-empty ``v1=`` part.
        WebhookTimestampOutsideToleranceError: the timestamp is more than
            ``tolerance`` seconds before or after ``now``.
        WebhookSignatureMismatchError: the signature does not match (wrong
            secret, or a payload changed on the way).

    All four are :class:`WebhookVerificationError`. The checks run in that
    order, as in the official client.
    """
    body = _check_types(payload, secret)
    if not isinstance(signature, str):
        # The header comes from the network: missing (None) or raw bytes is
        # a request to refuse, not a bug in the handler.
        what = "missing" if signature is None else f"a {type(signature).__name__}"
        raise WebhookNoSignatureError(
            f"the signature header is {what}, not text ('t=...,v1=...')"
        )
    if len(signature) > MAX_SIGNATURE_LENGTH:
        # Parsing it would cost memory in proportion (a 1 MB header of 262k
        # parts took 84 MB): no real header comes near this.
        raise WebhookNoSignatureError(
            f"the signature header is {len(signature)} characters long, more "
            f"than the {MAX_SIGNATURE_LENGTH} a signature takes"
        )
    timestamp, candidates = _parse(signature, scheme)
    current = time.time() if now is None else now
    if timestamp < current - tolerance or timestamp > current + tolerance:
        raise WebhookTimestampOutsideToleranceError(
            f"the signature's timestamp {timestamp} is more than {tolerance} "
            "seconds from now"
        )
    expected = _digest(body, secret, timestamp).encode("ascii")
    # Every candidate is compared (no early exit: the time taken does not say
    # which one matched). Bytes, so that a non-ASCII signature is a mismatch,
    # not a TypeError (a lone surrogate is encoded too, and never matches).
    matched = False
    for given in candidates:
        encoded = given.encode("utf-8", "surrogatepass")
        matched |= hmac.compare_digest(expected, encoded)
    if not matched:
        raise WebhookSignatureMismatchError(
            "the signature does not match the payload and secret"
        )


def sign(
    payload: bytes, secret: str, *, timestamp: int | None = None, scheme: str = "v1"
) -> str:
    """The signature :func:`verify` accepts: ``t=<timestamp>,v1=<hex>``.

    For tests of your webhook handler; ``timestamp`` defaults to now.
    """
    body = _check_types(payload, secret)
    when = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={when},{scheme}={_digest(body, secret, when)}"
