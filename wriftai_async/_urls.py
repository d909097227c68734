"""URLs: the API's base URL (read and checked once), and URLs from the network.

**The base URL** comes from the ``base_url=`` argument, the command line's
``--base-url`` or the ``WRIFTAI_API_BASE_URL`` variable; only ``None`` (or an
unset variable) means "the default". An empty one is an unset ``$STAGING_URL``
in a script: falling back to production there would send a ``models update``
meant for staging to production, so it is refused, naming where it came from.
A query or fragment would be lost when paths are appended (a misleading 404);
user info would put a password into every message: both are refused too, and
no message here ever shows the user info or the query (see ``display_url``).

**URLs from the network.** A redirect's ``Location`` and an upload part's
URL come from a server. Before the client sends anything there it checks the
URL (:func:`url_problem`: an absolute http(s) URL with a host name the
resolver can encode; no user info on a redirect), so a bad one is the
server's mistake reported as a
``WriftAIError``, never a ``UnicodeError`` from deep inside the resolver.
Messages show URLs through ``_repr.display_url`` (no query, user info or
fragment); :func:`scrub_text` does the same to every URL inside a free text
(a transport error's message).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from yarl import URL

from ._constants import DEFAULT_BASE_URL
from ._repr import display_url

__all__ = [
    "BASE_URL_VARIABLE",
    "check_base_url",
    "origin_key",
    "resolve_base_url",
    "scrub_text",
    "url_problem",
]

BASE_URL_VARIABLE = "WRIFTAI_API_BASE_URL"

# What to do instead of an empty value, by where it came from.
_INSTEAD = {
    "base_url": f"pass None to read ${BASE_URL_VARIABLE} or use {DEFAULT_BASE_URL}",
    "--base-url": f"leave the option out to read ${BASE_URL_VARIABLE} or use "
    f"{DEFAULT_BASE_URL}",
    BASE_URL_VARIABLE: f"unset it to use {DEFAULT_BASE_URL}",
}


def check_base_url(value: object, source: str = "base_url") -> str:
    """Return ``value`` as the base URL (without a trailing ``/``), or raise.

    ``source`` names where the value came from (``"base_url"``,
    ``"--base-url"``, ``"WRIFTAI_API_BASE_URL"``) in the message.

    Raises:
        TypeError: not a str.
        ValueError: empty, not an absolute ``http(s)`` URL with a host, or
            holding user info (any ``@``), a query or a fragment. The
            message never shows the user info or the query.
    """
    if not isinstance(value, str):
        raise TypeError(f"{source} must be a str or None, not {type(value).__name__}")
    if not value.strip():
        instead = _INSTEAD.get(source, "give the API's URL")
        raise ValueError(
            f"{source} is empty (an unset variable in a script?): give the "
            f"API's URL, or {instead}"
        )
    if "@" in value:
        # Not even the host is shown: where the user info ends is ambiguous
        # when a password holds "/", "?" or "#" unencoded.
        raise ValueError(
            f"{source} must not hold a user name or password (user:password@): "
            "the access token goes in $WRIFTAI_ACCESS_TOKEN, access_token= or "
            "--token"
        )
    shown = display_url(value)
    if any(not c.isprintable() or c.isspace() for c in value):
        raise ValueError(f"{source} holds whitespace or control characters: {shown!r}")
    try:
        url = URL(value)
    except ValueError:
        raise ValueError(f"{source} is not a valid URL: {shown!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"{source} must be an http:// or https:// URL with a host, "
            f"like {DEFAULT_BASE_URL}; got {shown!r}"
        )
    if "?" in value or "#" in value:
        raise ValueError(
            f"{source} must not hold a query (?...) or a fragment (#...): paths "
            f"are appended to it. Did you mean {shown!r}?"
        )
    return value.rstrip("/")


def resolve_base_url(
    base_url: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """The base URL to use: ``base_url``, else the variable, else the default.

    ``None`` reads ``WRIFTAI_API_BASE_URL``; only an unset variable gives
    :data:`DEFAULT_BASE_URL`. Whichever is used is checked by
    :func:`check_base_url`, under its own name.
    """
    if base_url is not None:
        return check_base_url(base_url, "base_url")
    value = (os.environ if environ is None else environ).get(BASE_URL_VARIABLE)
    if value is None:
        return DEFAULT_BASE_URL
    return check_base_url(value, BASE_URL_VARIABLE)


# -- URLs from the network ------------------------------------------------------

# scheme://[user[:password]@]rest: the user info of any URL in a text.
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s'\"@?#]*@")
# The query string (and fragment) of any URL in a text.
_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s'\"?#]*)[?#][^\s'\"]*")


def origin_key(url: URL) -> tuple[str, str | None, int | None]:
    """Scheme, host and port, the default port spelled out (``:443`` or not)."""
    return (url.scheme, url.host, url.port)


def url_problem(url: URL, *, user_info: bool = False) -> str | None:
    """Why the client must not send a request to ``url``, or ``None``.

    ``url`` must be absolute http(s), with a host that decodes (``xn--a``
    does not) and encodes for the resolver (no empty label, none over 63
    characters), and without user info (``user:pass@``) unless
    ``user_info``: on a redirect it would make aiohttp send its own
    ``Authorization`` beside the token's; a presigned upload URL may carry
    one for its storage host (messages never show it).
    """
    try:
        if url.scheme not in ("http", "https") or not url.raw_host:
            return "it is not an absolute http(s) URL"
        if not user_info and (url.raw_user is not None or url.raw_password is not None):
            return "it holds user info"
        host = url.host  # decodes xn-- labels: UnicodeError when invalid
        if host is None:
            return "it has no host"
        host.encode("idna")  # what the resolver does: UnicodeError if invalid
    except (UnicodeError, ValueError):
        return "its host is not a valid host name"
    return None


def scrub_text(text: str) -> str:
    """``text`` with the query, fragment and user info of every URL in it removed.

    For free text (an exception's message): only what follows a
    ``scheme://`` counts as a URL there.
    """
    if "://" not in text:
        return text
    return _QUERY.sub(r"\1", _USER_INFO.sub(r"\1", text))
