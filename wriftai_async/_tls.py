"""The ``ssl=`` option: what it accepts, and what a certificate failure says.

The client verifies every server it talks to, the API and the upload hosts
alike; ``ssl=`` changes *whom* it trusts (your own certificate authority)
and what it shows (your client certificate), never *whether* it verifies.
"""

from __future__ import annotations

import os
import ssl
from ssl import SSLContext

from ._repr import one_line

__all__ = ["certificate_failure", "check_ssl_context"]

_README = 'README, "Your own certificate authority"'
_MAX_DETAIL_CHARS = 120

# OpenSSL's reasons for a server's alert about the client's certificate. A
# TLS 1.3 server says "certificate required" after the handshake (aiohttp
# then sees the connection break while reading), TLS 1.2 only "handshake
# failure", which may also mean no common cipher.
_CLIENT_CERT_MISSING = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
_CLIENT_CERT_REFUSED = frozenset(
    {
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_REVOKED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
    }
)
_HANDSHAKE_REFUSED = "SSLV3_ALERT_HANDSHAKE_FAILURE"
# What came back was not TLS: most often a plain http:// server (or port)
# under an https:// URL.
_NOT_TLS = "WRONG_VERSION_NUMBER"


def check_ssl_context(value: object) -> SSLContext | None:
    """``value`` if it is ``None`` or a verifying client context; else raise.

    ``False`` (and a context that verifies nothing) is refused: with no
    verification, whoever sits on the path (a hotel Wi-Fi, a compromised
    router) reads the access token of every request.
    """
    if value is None:
        return None
    if value is False:
        raise TypeError(
            "ssl=False is not offered: without certificate verification anyone "
            "on the network path could read the access token. To trust your own "
            "certificate authority, pass an ssl.SSLContext that trusts it "
            f"(ssl.create_default_context(), then load_verify_locations) ({_README})"
        )
    if value is True:
        raise TypeError(
            "ssl=True is the default: pass nothing (ssl=None) for the usual "
            "verification, or an ssl.SSLContext to trust your own authority"
        )
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(
            "ssl takes an ssl.SSLContext, not a path: build one with "
            "context = ssl.create_default_context() then "
            f"context.load_verify_locations(cafile=...) ({_README})"
        )
    if not isinstance(value, SSLContext):
        raise TypeError(
            f"ssl must be an ssl.SSLContext or None, not {type(value).__name__}"
        )
    if value.verify_mode == ssl.CERT_NONE or not value.check_hostname:
        raise ValueError(
            "ssl must verify the server: this context has verify_mode "
            f"{value.verify_mode.name} and check_hostname={value.check_hostname} "
            "(a server's context, ssl.Purpose.CLIENT_AUTH? or verification "
            "turned off, which is not offered: anyone on the path could read "
            f"the access token); use ssl.create_default_context() ({_README})"
        )
    return value


def _ssl_error(exc: BaseException | None) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` behind an aiohttp error, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # aiohttp's connector errors keep it as certificate_error or
        # os_error (they are SSLErrors too, without its reason), its broken
        # connections as the cause.
        for name in ("certificate_error", "os_error"):
            found = getattr(current, name, None)
            if isinstance(found, ssl.SSLError):
                return found
        if isinstance(current, ssl.SSLError):
            return current
        if isinstance(current, TypeError) and current.__cause__ is None:
            # TLS inside TLS (an https:// proxy) on Python 3.11 and 3.12:
            # when the inner handshake fails, asyncio's transport calls the
            # outer SSLProtocol's _abort(exc), which takes no argument; the
            # TypeError raised while handling the SSLError (3.13 fixed it)
            # is what aiohttp wraps, as "Cannot initialize a TLS-in-TLS
            # connection ... [SSLProtocol._abort() takes 1 positional
            # argument but 2 were given]".
            current = current.__context__
            continue
        current = current.__cause__
    return None


def certificate_failure(
    exc: BaseException | None, proxy: str | None = None
) -> str | None:
    """What went wrong, in plain words, if ``exc`` is a certificate failure.

    ``None`` for anything else (a broken connection, a TLS failure that may
    pass, such as an EOF mid-handshake). A failure named here does not pass
    by retrying, so the retry policy gives up at once. ``proxy``: the
    ``https://`` proxy's origin (never its credentials) when the TLS that
    failed was the one to that proxy, not to the server behind it.
    """
    error = _ssl_error(exc)
    if error is None:
        return None
    who = "the server" if proxy is None else f"the proxy ({proxy})"
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = getattr(error, "verify_message", None) or error.strerror or ""
        detail = one_line(str(detail), _MAX_DETAIL_CHARS)
        if proxy is not None:
            return (
                f"the proxy's certificate was not trusted ({proxy}: {detail}): "
                "the TLS to the proxy itself failed, not the API's behind it; "
                "if a private certificate authority signed the proxy's "
                "certificate, pass ssl= a context that trusts it (the same "
                f"context checks the API: keep the public authorities) ({_README})"
            )
        return (
            f"the server's certificate was not trusted ({detail}): if a company "
            "proxy re-signs TLS or the server uses a private certificate "
            f"authority, pass ssl= a context that trusts it ({_README})"
        )
    reason = getattr(error, "reason", None)
    if reason == _CLIENT_CERT_MISSING:
        return (
            f"{who} requires a client certificate and none was sent: load "
            "yours into the ssl= context (context.load_cert_chain(certfile, "
            f"keyfile)) ({_README})"
        )
    if reason in _CLIENT_CERT_REFUSED:
        return (
            f"{who} refused the client certificate ({reason}): check the "
            "one loaded into the ssl= context (load_cert_chain)"
        )
    if reason == _HANDSHAKE_REFUSED:
        return (
            f"{who} refused the TLS handshake (SSLV3_ALERT_HANDSHAKE_FAILURE): "
            "if it requires a client certificate, load yours into the ssl= "
            f"context (load_cert_chain) ({_README})"
        )
    if reason == _NOT_TLS:
        what, url = ("server", "URL") if proxy is None else ("proxy", "proxy URL")
        return (
            f"{who} did not answer in TLS (WRONG_VERSION_NUMBER): it may be "
            f"a plain http:// {what}; check the {url}'s scheme and port"
        )
    return None
