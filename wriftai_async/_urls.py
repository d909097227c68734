"""URLs from the network: whether one can be used, and how one is shown.

A redirect's ``Location`` and an upload part's URL come from a server. Before
the client sends anything there it checks the URL here (an absolute http(s)
URL, no user info, a host name the resolver can encode), so a bad one is the
server's mistake reported as a ``WriftAIError``, never a ``UnicodeError``
from deep inside the resolver. Whatever a message shows of a URL goes
through :func:`shown_url`: no query string (a presigned URL's query is a
credential), no user info, no fragment, and a bounded length.
"""

from __future__ import annotations

import re

from yarl import URL

from ._repr import shorten

__all__ = ["MAX_SHOWN_URL", "origin_key", "scrub_text", "shown_url", "url_problem"]

#: The most characters of a URL a message shows.
MAX_SHOWN_URL = 200

# scheme://[user[:password]@]rest: the user info of any URL in a text.
_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s'\"@?#]*@")
# The query string (and fragment) of any URL in a text.
_QUERY = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s'\"?#]*)[?#][^\s'\"]*")


def origin_key(url: URL) -> tuple[str, str | None, int | None]:
    """Scheme, host and port, the default port spelled out (``:443`` or not)."""
    return (url.scheme, url.host, url.port)


def url_problem(url: URL) -> str | None:
    """Why the client must not send a request to ``url``, or ``None``.

    ``url`` must be absolute http(s), without user info (``user:pass@``),
    with a host that decodes (``xn--a`` does not) and encodes for the
    resolver (no empty label, none over 63 characters).
    """
    try:
        if url.scheme not in ("http", "https") or not url.raw_host:
            return "it is not an absolute http(s) URL"
        if url.raw_user is not None or url.raw_password is not None:
            return "it holds user info"
        host = url.host  # decodes xn-- labels: UnicodeError when invalid
        if host is None:
            return "it has no host"
        host.encode("idna")  # what the resolver does: UnicodeError if invalid
    except (UnicodeError, ValueError):
        return "its host is not a valid host name"
    return None


def shown_url(url: str | URL, limit: int = MAX_SHOWN_URL) -> str:
    """``url`` as a message may show it: no query, user info or fragment."""
    text = str(url)
    if "://" in text:
        text = scrub_text(text)
    else:  # a path, or a URL without its scheme: cut at the first ? or #
        text = text.split("?", 1)[0].split("#", 1)[0]
        head, at, rest = text.partition("@")
        if at and "/" not in head:
            text = rest  # user:password@host/...
    return shorten(text, limit)


def scrub_text(text: str) -> str:
    """``text`` with the query, fragment and user info of every URL in it removed.

    For free text (an exception's message): only what follows a
    ``scheme://`` counts as a URL there.
    """
    if "://" not in text:
        return text
    return _QUERY.sub(r"\1", _USER_INFO.sub(r"\1", text))
