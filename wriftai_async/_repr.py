"""Reprs and message parts of bounded length and depth, whatever the data.

What the server sends ends up in reprs (a prediction's ``output``) and in
error messages (an error's ``detail``). Python's own ``repr`` of a list nested
a thousand deep raises ``RecursionError``, of a 10 MB string returns 10 MB,
and of an int of 5,000 digits raises ``ValueError``. :func:`bounded_repr`
renders any value in at most ``max_length`` characters, descending at most
``max_depth`` containers, without recursing more than that and without
building more text than it returns.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import attrs
from yarl import URL

__all__ = [
    "bounded_repr",
    "bounded_reprs",
    "cause_text",
    "display_url",
    "install_bounded_repr",
    "one_line",
    "shorten",
]

#: The reprs of the objects the server returns: enough to read, never megabytes.
OBJECT_REPR_LENGTH = 2000
OBJECT_REPR_DEPTH = 8

_ELLIPSIS = "..."
# Ints beyond this many bits are shown by size: str() of an int over 4,300
# digits raises ValueError, and is slow well before that.
_MAX_INT_BITS = 256

C = TypeVar("C", bound=type)


class _Full(Exception):
    """The budget is spent: stop rendering."""


class _Writer:
    __slots__ = ("depth", "left", "max_depth", "parts")

    def __init__(self, max_length: int, max_depth: int) -> None:
        self.parts: list[str] = []
        self.left = max_length
        self.max_depth = max_depth
        self.depth = 0

    def put(self, text: str) -> None:
        if len(text) > self.left:
            self.parts.append(text[: self.left])
            self.left = 0
            raise _Full
        self.parts.append(text)
        self.left -= len(text)

    def value(self, value: Any) -> None:
        if isinstance(value, str) and not isinstance(value, enum.Enum):
            # Never repr() more of a long string than can be shown.
            self.put(repr(value[: self.left + 1]))
        elif isinstance(value, (bytes, bytearray)):
            self.put(repr(bytes(value[: self.left + 1])))
        elif isinstance(value, int) and not isinstance(value, (bool, enum.Enum)):
            if value.bit_length() > _MAX_INT_BITS:
                self.put(f"<int of {value.bit_length()} bits>")
            else:
                self.put(repr(value))
        elif attrs.has(type(value)):
            fields = [f for f in attrs.fields(type(value)) if f.repr]
            self.nested(
                f"{type(value).__name__}(",
                ")",
                ((f"{f.name}=", _field(value, f.name)) for f in fields),
            )
        elif isinstance(value, Mapping):
            self.mapping(value)
        elif type(value) in (list, tuple, set, frozenset):
            self.sequence(value)
        else:
            self.other(value)

    def mapping(self, value: Mapping[Any, Any]) -> None:
        if self.depth >= self.max_depth:
            self.put("{...}")
            return
        self.put("{")
        self.depth += 1
        for index, (key, item) in enumerate(value.items()):
            if index:
                self.put(", ")
            self.value(key)
            self.put(": ")
            self.value(item)
        self.depth -= 1
        self.put("}")

    def sequence(self, value: Iterable[Any]) -> None:
        if isinstance(value, list):
            opening, closing = "[", "]"
        elif isinstance(value, tuple):
            opening, closing = "(", ")"
        else:
            opening, closing = f"{type(value).__name__}({{", "})"
        self.nested(opening, closing, (("", item) for item in value))

    def nested(
        self, opening: str, closing: str, items: Iterable[tuple[str, Any]]
    ) -> None:
        if self.depth >= self.max_depth:
            self.put(f"{opening}...{closing}")
            return
        self.put(opening)
        self.depth += 1
        for index, (label, item) in enumerate(items):
            if index:
                self.put(", ")
            self.put(label)
            self.value(item)
        self.depth -= 1
        self.put(closing)

    def other(self, value: Any) -> None:
        # Scalars (float, None, bool, datetime, enum members) and anything
        # a caller put there: its own repr, cut to what is left.
        try:
            text = repr(value)
        except Exception:  # a broken __repr__ must not break ours
            text = f"<{type(value).__name__}>"
        self.put(text)


class _Malformed:
    """Stands for a field that cannot be read (a malformed one, ``_onread.py``)."""

    def __repr__(self) -> str:
        return "<malformed>"


def _field(obj: Any, name: str) -> Any:
    # A repr must work whatever a field holds: it is what logs and
    # tracebacks show.
    try:
        return getattr(obj, name)
    except Exception:
        return _Malformed()


def bounded_repr(value: Any, max_length: int = 500, max_depth: int = 6) -> str:
    """``repr(value)``, at most ``max_length`` characters and ``max_depth`` deep.

    Containers deeper than ``max_depth`` show as ``[...]``/``{...}``; text cut
    at ``max_length`` ends with ``...`` (the result is then ``max_length + 3``
    characters long at most).
    """
    writer = _Writer(max_length, max_depth)
    try:
        writer.value(value)
    except _Full:
        return "".join(writer.parts) + _ELLIPSIS
    return "".join(writer.parts)


def shorten(text: str, max_length: int = 500) -> str:
    """``text`` cut to ``max_length`` characters, marked with ``...`` when cut."""
    if len(text) <= max_length:
        return text
    return text[:max_length] + _ELLIPSIS


def quoted(text: str, max_length: int) -> str:
    """``repr(text)`` of at most ``max_length`` of its characters, then ``...``
    if cut: a caller's argument named in a message."""
    if len(text) <= max_length:
        return repr(text)
    return repr(text[:max_length]) + _ELLIPSIS


def one_line(text: str, max_length: int = 500) -> str:
    """``text`` cut as :func:`shorten` does, each unprintable character escaped.

    For text from the network in a message: a line break, a terminal escape
    sequence's ESC or a bidi override is shown as ``\\n``, ``\\x1b``,
    ``\\u202e``, so a message that an application logs or prints stays one
    line it wrote, and cannot forge another line nor drive a terminal.
    """
    head = text[: max_length + 1]  # never escape more than can be shown
    if not head.isprintable():
        head = "".join(c if c.isprintable() else repr(c)[1:-1] for c in head)
    return shorten(head, max_length)


#: The most characters of an underlying exception's text a message quotes.
CAUSE_TEXT_LENGTH = 200


def cause_text(exc: BaseException, max_length: int = CAUSE_TEXT_LENGTH) -> str:
    """``str(exc)`` cut to ``max_length``: an exception about a value the
    server sent may quote all of it (``fromisoformat`` quotes the string)."""
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not break the message
        return f"<{type(exc).__name__}>"
    return one_line(text, max_length)


def install_bounded_repr(
    cls: C,
    max_length: int = OBJECT_REPR_LENGTH,
    max_depth: int = OBJECT_REPR_DEPTH,
) -> C:
    """Give an attrs class a ``__repr__`` bounded in length and depth.

    It looks like the one attrs writes (``Name(field=value, ...)``, the
    fields with ``repr=True``), and is inherited by subclasses.
    """

    def __repr__(self: Any) -> str:
        return bounded_repr(self, max_length, max_depth)

    cls.__repr__ = __repr__  # type: ignore[assignment]
    return cls


def bounded_reprs(classes: Iterable[Any]) -> None:
    """:func:`install_bounded_repr` on every attrs class among ``classes``."""
    for cls in classes:
        if isinstance(cls, type) and attrs.has(cls):
            install_bounded_repr(cls)


#: The longest URL a message shows (a presigned URL's path can be long).
URL_DISPLAY_LENGTH = 300
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def display_url(url: str | URL, max_length: int = URL_DISPLAY_LENGTH) -> str:
    """``url`` for a human: no user info, no query, no fragment, bounded.

    What messages, reprs and logs show of any URL: the base URL, a redirect's
    ``Location``, a presigned upload URL. A password (``user:secret@``) or a
    signature in the query never reaches them. A URL that does not parse
    (a password holding ``/``, ``?`` or ``#`` unencoded, a bad port) loses
    everything from ``//`` to its last ``@``, then from its first ``?``/``#``.

    Example::

        >>> display_url("https://user:secret@host/v1/x?sig=abc#top")
        'https://host/v1/x'
    """
    text = str(url)
    try:
        parsed = url if isinstance(url, URL) else URL(text)
        if parsed.absolute:
            parsed = parsed.with_user(None).with_query(None).with_fragment(None)
        else:
            parsed = parsed.with_query(None).with_fragment(None)
        return shorten(str(parsed), max_length)
    except ValueError:
        pass  # not a URL yarl reads: cut by hand, erring on the safe side
    scheme = _SCHEME.match(text)
    start = scheme.end() if scheme else 0
    if text.startswith("//", start) and "@" in text[start:]:
        text = text[: start + 2] + text.rpartition("@")[2]
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    return shorten(text, max_length)
