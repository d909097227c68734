"""The API's base URL: read once, checked once, never a silent fallback.

A base URL comes from the ``base_url=`` argument, the command line's
``--base-url`` or the ``WRIFTAI_API_BASE_URL`` variable; only ``None`` (or an
unset variable) means "the default". An empty one is an unset ``$STAGING_URL``
in a script: falling back to production there would send a ``models update``
meant for staging to production, so it is refused, naming where it came from.
A query or fragment would be lost when paths are appended (a misleading 404);
user info would put a password into every message: both are refused too, and
no message here ever shows the user info or the query (see ``display_url``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from yarl import URL

from ._repr import display_url

__all__ = [
    "BASE_URL_VARIABLE",
    "DEFAULT_BASE_URL",
    "check_base_url",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://api.wrift.ai/v1"
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
