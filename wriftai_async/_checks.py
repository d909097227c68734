"""The checks of every number an argument takes, with one message style.

Checked before any request: a page size of 0 or "10" is a caller's mistake,
and a NaN interval or timeout reaching ``asyncio.sleep`` or a deadline breaks
the event loop's timer heap (every later sleep of that loop can hang).
``bool`` is an int to Python, never to us. A wrong type raises ``TypeError``
(``"NAME must be an int, not str"``), a value out of range ``ValueError``
(``"NAME must be ... , not nan"``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
from aiohttp import hdrs

from ._repr import quoted

__all__ = [
    "check_bool",
    "check_callback",
    "check_headers",
    "check_int",
    "check_limit",
    "check_mapping",
    "check_method",
    "check_number",
    "check_page_size",
    "check_path",
    "check_trace_configs",
    "has_control_character",
]


def check_int(value: object, name: str, minimum: int) -> int:
    """An int >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, not {value!r}")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def check_number(value: object, name: str, *, zero: bool = False) -> float:
    """A finite number > 0 (``zero=True``: >= 0), as a float."""
    number = _number(value, name)
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, not {value!r}")
    return number


def check_limit(value: object, name: str) -> float | None:
    """A limit in seconds: ``None`` or ``math.inf`` (no limit, ``None``), or > 0."""
    if value is None:
        return None
    number = _number(value, name)
    if math.isnan(number) or number <= 0:
        raise ValueError(
            f"{name} must be a number > 0, or None for no limit, not {value!r}"
        )
    return None if math.isinf(number) else number


def check_page_size(page_size: int | None) -> None:
    """``None`` (the server's default page size) or an int >= 1."""
    if page_size is not None:
        check_int(page_size, "page_size", 1)


def check_bool(value: object, name: str, *, optional: bool = False) -> None:
    """A ``bool`` (``optional=True``: or ``None``); ``"no"`` is not ``False``."""
    if not isinstance(value, bool) and not (optional and value is None):
        kind = "a bool or None" if optional else "a bool"
        raise TypeError(f"{name} must be {kind}, not {type(value).__name__}")


def check_mapping(value: object, name: str) -> Mapping[str, Any]:
    """A mapping such as a dict (a JSON object on the wire), not pairs or text."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a mapping such as a dict, not {type(value).__name__}"
        )
    return value


def check_callback(value: object, name: str) -> None:
    """A plain callable, or ``None``: the library calls it without ``await``.

    A coroutine function would only make a coroutine that is never awaited:
    the callback silently never runs (the official client's async
    ``on_progress`` is one, so code moved over would pass it).
    """
    if value is None:
        return
    if not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    # An object whose class defines ``async def __call__`` is one too.
    if inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        type(value).__call__
    ):
        raise TypeError(
            f"{name} is called without await: pass a plain function, "
            "not a coroutine function"
        )


def has_control_character(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL, which no HTTP
    header value may carry (a token read from a file with its newline)."""
    return any(ord(char) < 0x20 or ord(char) == 0x7F for char in text)


# RFC 9110's token characters: what a header name may hold.
_NAME_CHARACTERS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
# The client frames every body itself: a fixed length on a body-less GET
# would make the server wait for bytes that never come.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding"})


def _bad_value(value: str) -> bool:
    # A field value may hold a tab, never another control character.
    return any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value)


def check_headers(headers: object, *, token: bool) -> dict[str, str]:
    """``headers=``: a mapping of str to str, copied, sent as given.

    Checked once, at construction, naming the header and never showing a
    value (it may be a credential): a wrong type raises ``TypeError``; a
    name that is not an HTTP token, a value with a line break (or another
    control character but tab), the same name twice (in another case),
    ``Content-Length`` or ``Transfer-Encoding``, and ``Authorization``
    when the client has a token (the token would silently replace it)
    raise ``ValueError``. Without a token, ``Authorization`` is sent as
    given, to the API's origin only.
    """
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise TypeError(
            "headers must be a mapping of str to str such as a dict, "
            f"not {type(headers).__name__}"
        )
    checked: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in headers.items():
        if not isinstance(name, str):
            raise TypeError(
                f"headers: a header name must be a str, not {type(name).__name__}"
            )
        shown = quoted(name, 60)
        if not name or not _NAME_CHARACTERS.issuperset(name):
            raise ValueError(
                f"headers: {shown} is not a valid header name (letters, digits "
                "and !#$%&'*+-.^_`|~ only)"
            )
        if not isinstance(value, str):
            raise TypeError(
                f"headers[{shown}] must be a str, not {type(value).__name__}"
            )
        if _bad_value(value):
            raise ValueError(
                f"headers[{shown}] holds a line break or another control "
                "character (its value is not shown)"
            )
        folded = name.lower()
        if folded in seen:
            raise ValueError(f"headers: {shown} is given twice (names ignore case)")
        seen.add(folded)
        if folded in _FRAMING_HEADERS:
            raise ValueError(
                f"headers: {shown} cannot be set: the client frames each body"
            )
        if token and folded == hdrs.AUTHORIZATION.lower():
            raise ValueError(
                f"headers: {shown} would be replaced by the access token: give "
                "the token as access_token= (or $WRIFTAI_ACCESS_TOKEN), or "
                "drop it from headers="
            )
        checked[name] = value
    return checked


def check_trace_configs(value: object) -> list[aiohttp.TraceConfig]:
    """``trace_configs=``: a list (any iterable) of ``aiohttp.TraceConfig``."""
    if isinstance(value, aiohttp.TraceConfig):
        raise TypeError(
            "trace_configs must be a list of aiohttp.TraceConfig: wrap the "
            "one given in a list, trace_configs=[config]"
        )
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(
        value, Iterable
    ):
        raise TypeError(
            "trace_configs must be a list of aiohttp.TraceConfig, "
            f"not {type(value).__name__}"
        )
    configs = list(value)
    for index, config in enumerate(configs):
        if not isinstance(config, aiohttp.TraceConfig):
            raise TypeError(
                f"trace_configs[{index}] is a {type(config).__name__}, "
                "not an aiohttp.TraceConfig"
            )
    return configs


#: What ``request(method, ...)`` may send; CONNECT and TRACE are not API calls.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def check_method(method: object) -> str:
    """An HTTP method, in capitals (``"get"`` is ``"GET"``, as httpx takes it).

    Capitals matter past aiohttp: which requests are retried and which
    follow a redirect is decided on the method as given.
    """
    if type(method) is str and method in HTTP_METHODS:
        return method  # the library's own calls: one lookup
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, not {type(method).__name__}")
    upper = method.upper()
    if upper not in HTTP_METHODS:
        shown = quoted(method, 20)
        raise ValueError(
            f"method must be one of {', '.join(sorted(HTTP_METHODS))}, not {shown}"
        )
    return upper


def check_path(path: object) -> str:
    """A path under the API's base URL: a str starting with ``/``."""
    if type(path) is not str:
        if not isinstance(path, str):
            raise TypeError(
                f"path must be a str such as '/hardware', not {type(path).__name__}"
            )
        path = str(path)
    if not path.startswith("/"):
        shown = quoted(path, 60)
        raise ValueError(
            f"path must start with '/' (it is joined to base_url), got {shown}"
        )
    return path
