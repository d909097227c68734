"""Proxies: ``proxy=``, else the environment's ``*_PROXY`` variables, per origin.

**Which proxy.** The official client's httpx honours ``HTTPS_PROXY``,
``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (or their lowercase forms) by
default (``trust_env=True``), and so does this client, by httpx's rules:

- ``proxy=`` (or ``--proxy``) is used for every request, and the environment
  is not read at all;
- else, with ``trust_env`` (the default), a request to an ``https://`` URL
  goes through ``HTTPS_PROXY``, one to an ``http://`` URL through
  ``HTTP_PROXY``, either through ``ALL_PROXY`` when its own is unset; a
  value without a scheme (``proxy:3128``) is an ``http://`` proxy;
- ``NO_PROXY`` (comma-separated) sends a host straight: ``*`` anywhere in it
  bypasses every proxy (httpx's rule; urllib alone wants ``*`` on its own),
  a name matches itself and its subdomains (``example.com`` matches
  ``api.example.com``), a ``host:port`` that port only.

The variables are read once, when the client is created (``urllib``'s
reading: the lowercase form wins, ``HTTP_PROXY`` is ignored under CGI), and
each origin's decision is taken once and cached: the API's when the client
is created, each upload host's on its first part. Two differences from
httpx, both deliberate: only the environment is read, never the system's
proxy settings that ``urllib.request.getproxies`` also reads on macOS and
Windows (the official client would use those; set ``HTTPS_PROXY`` there);
and a ``NO_PROXY`` entry with a leading dot (``.example.com``) also matches
``example.com`` itself (urllib's and curl's reading; httpx's matches
subdomains only), as does ``*.example.com`` (Go's reading; httpx's matches
nothing), and a trailing dot is ignored on either side.

**Checked where read.** A proxy URL is ``http://[user:password@]host[:port]``
(or ``https://`` on Python 3.11+, which aiohttp can run TLS inside TLS on);
anything else raises ``ValueError`` naming ``proxy`` or the variable it came
from, without showing the password. SOCKS is refused with a clear word:
aiohttp speaks only HTTP to a proxy.

**What aiohttp is handed**, and why not aiohttp's own ways:

- ``ClientSession(trust_env=True)`` is never turned on: it would also read
  ``~/.netrc`` and send the Basic credentials it finds there as
  ``Authorization`` to any host it names: an upload's storage host (which
  refuses a presigned URL with one), the API's when no token is given. It
  also ignores ``ALL_PROXY``, and asks a thread for the variables on every
  request.
- The proxy's URL is passed *without* its user info; the credentials travel
  as a ``Proxy-Authorization`` header built here: on the ``CONNECT`` of an
  ``https://`` target (``proxy_headers=``), on the request itself for an
  ``http://`` one (the proxy reads that request whole anyway). Left in the
  URL, they would show in aiohttp's own messages: a refused ``CONNECT``
  raises ``ClientHttpProxyError`` whose text ends
  ``url='http://user:secret@proxy:3128'``, which tracebacks and spans
  record. (``proxy_auth=`` would not show, but aiohttp 3.14 deprecates it.)

For an ``https://`` target aiohttp opens a tunnel (``CONNECT host:443``)
holding only the host, our ``User-Agent`` (the API requests' own, which
corporate proxies log and filter by; aiohttp would send its own), the
``Proxy-Authorization`` and aiohttp's default ``Accept`` headers: the token
and ``headers=`` travel inside the TLS tunnel, which the proxy cannot read.
For an ``http://`` target the proxy receives the whole request, token and
``User-Agent`` included; that is what an HTTP proxy is.
"""

from __future__ import annotations

import base64
import os
import sys
import urllib.request
from typing import Any

from aiohttp import hdrs
from yarl import URL

from ._constants import USER_AGENT
from ._repr import display_url
from ._urls import origin_key

__all__ = ["Proxies", "ProxyRoute", "check_proxy_url"]

# What aiohttp cannot do, by scheme: said in the message.
_SOCKS = frozenset({"socks", "socks4", "socks4a", "socks5", "socks5h"})
# Upload hosts are a handful (one storage service); a bound all the same.
_MAX_CACHED_ORIGINS = 64


class ProxyRoute:
    """How requests to one origin go through one proxy.

    ``kwargs`` are ``session.request``'s (``proxy=``, and for a ``CONNECT``
    ``proxy_headers=``: our ``User-Agent`` and the credentials, if any);
    ``headers``, the credentials to put on an ``http://`` request itself
    (``None`` if none), which carries our ``User-Agent`` already. Neither
    shows in a repr. ``url``: the proxy's, without its credentials.
    """

    __slots__ = ("headers", "kwargs", "shown", "url")

    def __init__(self, proxy: URL, authorization: str | None, tunnel: bool) -> None:
        self.url = proxy
        self.shown = display_url(proxy)
        kwargs: dict[str, Any] = {"proxy": proxy}
        self.headers: dict[str, str] | None = None
        if tunnel:
            # What aiohttp sends on the CONNECT: without a User-Agent of
            # ours it would add its own ("Python/3.x aiohttp/3.x"), which a
            # proxy that logs or filters by agent would see instead.
            connect = {hdrs.USER_AGENT: USER_AGENT}
            if authorization is not None:
                connect[hdrs.PROXY_AUTHORIZATION] = authorization
            kwargs["proxy_headers"] = connect
        elif authorization is not None:
            self.headers = {hdrs.PROXY_AUTHORIZATION: authorization}
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"ProxyRoute({self.shown!r})"


class _Proxy:
    """A checked proxy URL: without its user info, and its credentials."""

    __slots__ = ("authorization", "url")

    def __init__(self, url: URL, authorization: str | None) -> None:
        self.url, self.authorization = url, authorization


def check_proxy_url(value: object, source: str = "proxy") -> _Proxy:
    """``value`` as a proxy, or raise naming ``source``; never shows a password.

    Raises:
        TypeError: not a str.
        ValueError: empty, SOCKS, not ``http://`` (``https://`` from Python
            3.11), no host, or holding a path, query or fragment.
    """
    if not isinstance(value, str):
        raise TypeError(f"{source} must be a str or None, not {type(value).__name__}")
    text = value.strip()
    if not text:
        instead = "leave it out (None)" if source == "proxy" else "unset it"
        raise ValueError(
            f"{source} is empty (an unset variable in a script?): give the "
            f"proxy's URL, like http://proxy:3128, or {instead} for no proxy"
        )
    if source != "proxy" and "://" not in text:
        text = f"http://{text}"  # httpx's reading of HTTPS_PROXY=proxy:3128
    if any(not c.isprintable() or c.isspace() for c in text):
        raise ValueError(f"{source} holds whitespace or control characters")
    try:
        url = URL(text)
        url.port  # noqa: B018 (a port out of range raises here)
    except (ValueError, TypeError):
        # Not shown: where its user info ends is not known.
        raise ValueError(f"{source} is not a valid URL") from None
    # An "@" beyond the one ending the user info is a password's own "/",
    # "?" or "#" unencoded, cutting it short: then the URL is not shown.
    user_info = url.raw_user is not None or url.raw_password is not None
    shown = "(not shown)" if text.count("@") > user_info else display_url(url)
    scheme = url.scheme.lower()
    if scheme in _SOCKS:
        raise ValueError(
            f"{source} names a SOCKS proxy ({shown}), which this client cannot "
            "use (aiohttp speaks only HTTP to a proxy): give an http:// proxy"
        )
    if scheme not in ("http", "https") or not url.raw_host:
        raise ValueError(
            f"{source} must be an http:// proxy URL with a host, like "
            f"http://user:password@proxy:3128; got {shown}"
        )
    if scheme == "https" and sys.version_info < (3, 11):
        raise ValueError(
            f"{source} names an https:// proxy ({shown}): TLS inside TLS needs "
            "Python 3.11 or later; give the proxy's http:// URL"
        )
    if url.raw_path not in ("", "/") or "?" in text or "#" in text:
        raise ValueError(
            f"{source} must be scheme://[user:password@]host[:port], without "
            f"a path, query or fragment; got {shown}"
        )
    authorization = None
    if user_info:
        # UTF-8, as httpx encodes them (RFC 7617); percent-escapes decoded.
        pair = f"{url.user or ''}:{url.password or ''}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return _Proxy(url.with_user(None).with_path(""), authorization)


def _no_proxy_name(entry: str) -> str:
    """A ``NO_PROXY`` entry (lowercased) as :meth:`Proxies._bypassed` matches it.

    urllib's reading: a leading dot changes nothing (``.example.com`` is
    ``example.com``), nor does Go's and many tools' ``*.example.com``; a
    trailing dot is the same host (``example.com.``, a fully qualified
    name); httpx's ``[::1]`` is the IPv6 address ``::1``.
    """
    name = entry.removeprefix("*.").lstrip(".")
    name = name.removeprefix("[").replace("]", "")
    host, colon, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
    return host.rstrip(".") + colon + port


def _variable(key: str) -> str:
    """The variable urllib took ``key``'s proxy from (the lowercase form wins)."""
    lower = f"{key}_proxy"
    return lower if os.environ.get(lower) else lower.upper()


def _from_environment(value: str, key: str) -> _Proxy:
    try:
        return check_proxy_url(value, _variable(key))
    except ValueError as exc:
        raise ValueError(
            f"{exc} (or pass trust_env=False to read no proxy variable)"
        ) from None


class Proxies:
    """The proxy of each origin, decided once per origin (see the module).

    ``proxy``: the explicit URL (``source`` names it in messages); else,
    with ``trust_env``, the environment's, read and checked here, now.
    """

    __slots__ = ("_bypass_all", "_cache", "_explicit", "_no_proxy", "_schemes")

    def __init__(
        self, proxy: str | None, trust_env: bool, source: str = "proxy"
    ) -> None:
        if not isinstance(trust_env, bool):
            raise TypeError(f"trust_env must be a bool, not {type(trust_env).__name__}")
        self._explicit = None if proxy is None else check_proxy_url(proxy, source)
        self._schemes: dict[str, _Proxy] = {}
        self._no_proxy: tuple[str, ...] = ()
        self._bypass_all = False
        self._cache: dict[tuple[str, str | None, int | None], ProxyRoute | None] = {}
        if self._explicit is None and trust_env:
            found = urllib.request.getproxies_environment()
            for scheme in ("http", "https"):
                key = scheme if found.get(scheme) else "all"
                if found.get(key):
                    self._schemes[scheme] = _from_environment(found[key], key)
            names = [n.strip().lower() for n in found.get("no", "").split(",")]
            self._bypass_all = "*" in names
            self._no_proxy = tuple(filter(None, map(_no_proxy_name, names)))

    @property
    def configured(self) -> bool:
        """Whether any request could go through a proxy."""
        return self._explicit is not None or bool(self._schemes)

    def route(self, url: URL) -> ProxyRoute | None:
        """The proxy for ``url``'s origin (``None``: straight), cached."""
        key = origin_key(url)
        try:
            return self._cache[key]
        except KeyError:
            pass
        if len(self._cache) >= _MAX_CACHED_ORIGINS:
            self._cache.clear()
        found = self._decide(url)
        route = None
        if found is not None:
            route = ProxyRoute(found.url, found.authorization, url.scheme == "https")
        self._cache[key] = route
        return route

    def _decide(self, url: URL) -> _Proxy | None:
        if self._explicit is not None:
            return self._explicit
        found = self._schemes.get(url.scheme)
        if found is None or self._bypassed(url):
            return None
        return found

    def _bypassed(self, url: URL) -> bool:
        """Whether ``NO_PROXY`` lists ``url``'s host (or host:port), as
        ``urllib.request.proxy_bypass_environment`` reads it."""
        if self._bypass_all:
            return True
        host = (url.host or "").lower().rstrip(".")  # example.com. is example.com
        with_port = f"{host}:{url.port}"
        for name in self._no_proxy:
            if name in (host, with_port):
                return True
            suffix = "." + name
            if host.endswith(suffix) or with_port.endswith(suffix):
                return True
        return False
